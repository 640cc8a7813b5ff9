"""SARIF output keeps what code-scanning platforms need: stable ids, fingerprints, relative URIs."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from sovscan.inventory_lines import AwsDeclaration, Inventory, Span
from sovscan.model import AwsScope, Gap, Scan, ScanScope
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


INVENTORY = Inventory(
    "audit/sovscan.toml",
    domains=MappingProxyType({"universite.example": Span(9, 3, 9, 23)}),
    saas=MappingProxyType({}),
    aws=MappingProxyType(
        {
            "aws:main": AwsDeclaration(Span(5, 1, 5, 18), None, None),
            "aws:org": AwsDeclaration(Span(7, 1, 7, 50), "111111111111", Span(8, 1, 8, 30)),
        }
    ),
)


def scoped(scan: Scan, *sources: AwsScope) -> Scan:
    return replace(scan, scope=ScanScope(aws=sources, domains=frozenset({"universite.example"})))


def test_without_an_inventory_results_point_at_the_rule_file_and_say_why() -> None:
    run = sarif()["runs"][0]
    location = run["results"][0]["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "rules/control/foreign-law-reach.yaml"}
    }
    assert "without an inventory file" in location["message"]["text"]
    assert "originalUriBaseIds" not in run
    # the rule's file stays in the rule's metadata
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["properties"]["ruleFile"] == "rules/control/foreign-law-reach.yaml"


def test_results_point_at_the_inventory_line_that_brought_their_asset() -> None:
    scan = scoped(make_scan(), AwsScope("aws:main", ("ca-central-1",), ("123456789012",)))
    run = json.loads(render(scan, INVENTORY))["runs"][0]
    bucket, txt = run["results"]
    physical = bucket["locations"][0]["physicalLocation"]
    assert physical == {
        "artifactLocation": {"uri": "audit/sovscan.toml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 5, "startColumn": 1, "endLine": 5, "endColumn": 18},
    }
    assert bucket["locations"][0]["message"]["text"] == (
        "[[aws]] aws:main: account 123456789012: brings aws:123456789012:s3:research-data "
        "into the scan."
    )
    assert bucket["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "aws:123456789012:s3:research-data", "kind": "resource"}
    ]
    assert txt["locations"][0]["physicalLocation"]["region"]["startLine"] == 9
    assert txt["locations"][0]["message"]["text"].startswith("dns.domains: universite.example")
    # the base is named, never given as the runner's absolute folder
    assert set(run["originalUriBaseIds"]) == {"%SRCROOT%"}
    assert "uri" not in run["originalUriBaseIds"]["%SRCROOT%"]
    assert run["columnKind"] == "utf16CodeUnits"
    # one asset line for many findings: the fingerprints keep them apart, run after run
    keys = [r["partialFingerprints"] for r in run["results"]]
    assert keys[0]["sovscanFindingKey/v1"] == scan.findings[0].key
    assert keys[0]["primaryLocationLineHash"] == f"{scan.findings[0].key[:16]}:1"
    assert keys[0]["primaryLocationLineHash"] != keys[1]["primaryLocationLineHash"]
    assert json.loads(render(scan, INVENTORY)) == json.loads(render(scan, INVENTORY))


def test_an_organization_member_points_at_member_role() -> None:
    org = AwsScope("aws:org", None, ("111111111111", "123456789012"))
    run = json.loads(render(scoped(make_scan(), org), INVENTORY))["runs"][0]
    location = run["results"][0]["locations"][0]
    assert location["physicalLocation"]["region"]["startLine"] == 8
    assert "member_role, account 123456789012" in location["message"]["text"]
    # the management account itself is the role's line
    scan = make_scan()
    own = replace(scan.findings[0], asset_id="aws:111111111111:account")
    run = json.loads(render(scoped(replace(scan, findings=(own,)), org), INVENTORY))["runs"][0]
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 7


def test_an_asset_the_inventory_does_not_declare_points_at_the_whole_file() -> None:
    # a domain of the --domains file: not on a line of the inventory
    scan = make_scan()
    other = replace(scan.findings[1], asset_id="dns:other.example:txt:acme")
    run = json.loads(render(replace(scan, findings=(other,)), INVENTORY))["runs"][0]
    location = run["results"][0]["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "audit/sovscan.toml", "uriBaseId": "%SRCROOT%"}
    }
    assert "dns:other.example:txt:acme" in location["message"]["text"]


def test_hostile_brackets_never_become_embedded_links() -> None:
    # SARIF plain text reads `[text](target)` as a link (§3.11.6), and code-scanning viewers
    # render it: an Organizations account name or a redirect a SaaS server sent became a link
    # to a page of the attacker's choosing. Literal brackets are escaped, backslashes before
    # them too, so no reading of `\\` leaves a bracket bare.
    import re

    hostile = r"[approved](https://evil.example/) \[x\](https://evil.example/)"
    base = make_scan()
    finding = replace(base.findings[0], message=f"Account {hostile} has no policy")
    scan = replace(
        base,
        findings=(finding, *base.findings[1:]),
        gaps=(Gap("https:lms.example", f"redirect to {hostile} not followed"),),
    )
    log = json.loads(render(scan))
    run = log["runs"][0]
    texts = [r["message"]["text"] for r in run["results"]]
    texts += [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    escaped = r"\[approved\](https://evil.example/) \\\[x\\\](https://evil.example/)"
    assert f"Account {escaped} has no policy" in texts
    assert f"not seen: https:lms.example: redirect to {escaped} not followed" in texts
    for text in texts:
        # A bracket is bare when an even number of backslashes (none included) precedes it.
        assert not re.search(r"(?<!\\)(?:\\\\)*[\[\]]", text), text
