"""SARIF output keeps what code-scanning platforms need: stable ids, fingerprints, relative URIs."""

from __future__ import annotations

import json
from typing import Any

from sovscan.model import Gap
from sovscan.report.sarif import render
from tests.factories import make_scan


def sarif(**kwargs: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(make_scan(**kwargs)))
    return document


def test_results_have_stable_rule_ids_fingerprints_and_relative_uris() -> None:
    scan = make_scan()
    log = sarif()
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "foreign-law-reach",
        "location-unknown",
    ]
    results = run["results"]
    assert len(results) == 2  # one risk, one unknown; ok findings are not results
    risk, unknown = results
    assert risk["ruleId"] == "foreign-law-reach" and risk["level"] == "error"
    assert risk["kind"] == "fail"
    assert risk["partialFingerprints"]["sovscanFindingKey/v1"] == scan.findings[0].key
    uri = risk["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "rules/control/foreign-law-reach.yaml"
    assert "://" not in uri and not uri.startswith("/")
    name = risk["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    assert name == "aws:123456789012:s3:research-data"
    # an undecided finding is neither a pass nor a failure
    assert unknown["kind"] == "review" and unknown["level"] == "none"
    assert unknown["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert run["invocations"][0]["executionSuccessful"] is True


def test_gaps_are_tool_notifications_and_mark_execution_unsuccessful() -> None:
    log = sarif(gaps=(Gap("aws:1:eu-west-3:rds", "AccessDenied"),))
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert texts == ["not seen: aws:1:eu-west-3:rds: AccessDenied"]


def test_notices_are_run_properties() -> None:
    from dataclasses import replace

    scan = replace(make_scan(), notices=("waiver for x expired on 2026-01-01",))
    run = json.loads(render(scan))["runs"][0]
    assert run["properties"]["notices"] == ["waiver for x expired on 2026-01-01"]
    assert "notices" not in json.loads(render(make_scan()))["runs"][0]["properties"]
