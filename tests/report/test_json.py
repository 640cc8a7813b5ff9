"""The JSON report follows its published schema and the sovscan.scan/1 contract."""

from __future__ import annotations

import collections
import enum
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.model import Gap
from sovscan.report import REPORTERS
from sovscan.report.json import SCHEMA, dumps_indented, indented_json
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


class _Colour(enum.Enum):
    RED = 1


class _Level(enum.IntEnum):
    HIGH = 3


class _Kind(enum.StrEnum):
    DNS = "dns"


_Pair = collections.namedtuple("_Pair", "left right")

# Everything orjson writes otherwise than json.dumps, or encodes where json.dumps refuses: floats
# (tiny, huge, NaN, infinite), integers beyond 64 bits, lone surrogates, keys that are not
# strings, enums, UUIDs, dataclasses, datetimes, subclasses of the containers.
_ODD_LEAVES = (
    st.floats()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(alphabet=st.characters(codec=None))
    | st.sampled_from(
        [
            _Colour.RED,
            _Level.HIGH,
            _Kind.DNS,
            uuid.UUID(int=7),
            datetime(2026, 11, 24, tzinfo=UTC),
            Gap("dns:x", "why"),
            b"bytes",
        ]
    )
)
_ODD_KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.sampled_from([_Kind.DNS])
_ODD_JSON = st.recursive(
    st.none() | st.booleans() | _ODD_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_ODD_KEYS, inner, max_size=4)
        | st.dictionaries(st.text(), inner, max_size=3).map(collections.OrderedDict)
        | st.tuples(inner, inner).map(lambda pair: _Pair(*pair))
    ),
    max_leaves=20,
)


def _written(encode: Callable[[object], str], value: object) -> str | tuple[str, str]:
    try:
        return encode(value)
    except (TypeError, ValueError) as exc:
        return ("refused", type(exc).__name__)


@settings(max_examples=400)
@given(_ODD_JSON)
def test_dumps_indented_writes_or_refuses_exactly_as_json_dumps(value: object) -> None:
    # orjson writes most values; every value where it would differ must go to json.dumps.
    def stdlib(v: object) -> str:
        return json.dumps(v, indent=2, ensure_ascii=False)

    assert _written(dumps_indented, value) == _written(stdlib, value)


@given(_JSON)
def test_dumps_indented_matches_json_dumps_on_plain_values(value: object) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_dumps_indented_writes_floats_and_refuses_enums_as_json_dumps_does() -> None:
    # Cases orjson alone gets wrong, each checked by name so a regression says which.
    assert dumps_indented({"a": [1e-05]}) == '{\n  "a": [\n    1e-05\n  ]\n}'
    assert dumps_indented([float("nan")]) == "[\n  NaN\n]"
    assert dumps_indented({1: "x"}) == '{\n  "1": "x"\n}'
    assert dumps_indented([2**64]) == "[\n  18446744073709551616\n]"
    with pytest.raises(TypeError):
        dumps_indented({"colour": _Colour.RED})


def test_dumps_indented_follows_json_dumps_on_deep_and_circular_values() -> None:
    deep: list[Any] = []
    for _ in range(600):  # deeper than the float walk recurses, within json.dumps's reach
        deep = [deep]
    assert dumps_indented(deep) == json.dumps(deep, indent=2, ensure_ascii=False)
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indented(circular)


def test_a_large_plain_value_is_written_by_orjson_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # A report of many assets is one large plain value: it must not fall to json.dumps.
    large = [
        {"id": f"asset-{i}", "evidence": [{"n": i, "seen": [True, None]}]} for i in range(60_000)
    ]
    expected = json.dumps(large, indent=2, ensure_ascii=False)

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("json.dumps was called")

    monkeypatch.setattr(json, "dumps", refuse)
    assert dumps_indented(large) == expected


def _in_a_thread(work: Callable[[], object]) -> tuple[bool, BaseException | None]:
    """Whether `work` ended within 60 s (a generous bound: it takes milliseconds), and what it
    raised. A walk that revisits shared lists would take years on these values."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            raised[0] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    return not thread.is_alive(), raised[0]


def test_shared_and_self_holding_lists_are_walked_once_each() -> None:
    shared: list[Any] = ["leaf"]
    for _ in range(40):  # 2**40 paths, 41 distinct lists
        shared = [shared, shared]
    circular: list[Any] = []
    circular.append(circular)
    wide: list[Any] = []
    wide.extend([wide] * 10_000)
    for value, error in (
        ([circular, shared], ValueError),  # json.dumps: "Circular reference detected"
        ([[object()], shared], TypeError),  # json.dumps: not JSON serializable
        (wide, ValueError),
    ):
        ended, raised = _in_a_thread(lambda value=value: dumps_indented(value))
        assert ended and isinstance(raised, error)
    small: list[Any] = ["leaf"]
    for _ in range(6):
        small = [small, small]
    assert dumps_indented(small) == json.dumps(small, indent=2, ensure_ascii=False)
