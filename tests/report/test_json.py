"""The JSON report follows its published schema and the sovscan.scan/1 contract."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from sovscan.model import Gap
from sovscan.report import REPORTERS
from sovscan.report.json import SCHEMA, indented_json
from tests.conftest import REPO
from tests.factories import make_scan

SCHEMA_FILE = REPO / "sovscan" / "schemas" / "scan-1.json"


def validate(document: Any) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())


def test_document_validates_and_keeps_the_contract() -> None:
    document = json.loads(REPORTERS["json"](make_scan()))
    validate(document)
    assert document["schema"] == SCHEMA == "sovscan.scan/1"
    bucket = document["assets"][0]
    assert bucket["location"]["subdivision"] == "CA-QC"
    assert "us-cloud-act" in bucket["control"]["laws"]
    assert document["findings"][0]["references"] == [
        {"framework": "qc-law25", "control": "p39.1-s17"}
    ]
    # unknown stays null, never an empty string or a guess
    unknown = document["assets"][1]
    assert unknown["location"]["country"] is None
    assert unknown["control"]["jurisdictions"] is None
    assert document["complete"] is True


def test_gaps_make_the_document_partial() -> None:
    document = json.loads(REPORTERS["json"](make_scan(gaps=(Gap("aws:1:us-east-1:rds", "x"),))))
    validate(document)
    assert document["complete"] is False
    assert document["gaps"] == [{"scope": "aws:1:us-east-1:rds", "reason": "x"}]


def test_schema_rejects_a_broken_document() -> None:
    document = json.loads(REPORTERS["json"](make_scan()))
    document["findings"][1]["missing"] = []  # unknown without the missing facts
    try:
        validate(document)
    except jsonschema.ValidationError:
        return
    raise AssertionError("an unknown finding without missing facts must not validate")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_JSON)
def test_the_pieced_encoder_writes_exactly_what_json_dumps_writes(value: object) -> None:
    assert "".join(indented_json(value)) == json.dumps(value, indent=2, ensure_ascii=False)
