"""The rule loader on arbitrary YAML: a RuleSet, or a RuleError of one line naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sovscan.engine import RuleSet, load_rules
from sovscan.errors import RuleError

REPO = Path(__file__).resolve().parents[2]
VALID = (REPO / "rules" / "control" / "foreign-law-reach.yaml").read_text(encoding="utf-8")
STEM = "foreign-law-reach"
SETTINGS = settings(
    max_examples=80,
    deadline=2000,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _load(folder: Path, text: str | bytes, name: str = f"{STEM}.yaml") -> RuleSet | None:
    """Write one rule file and load the folder; assert the outcome is a RuleSet or one line."""
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        return load_rules(folder)
    except RuleError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert str(folder) in message or name in message, message
        assert len(message) < 2000
        return None


scalars = st.one_of(
    st.text(max_size=20), st.integers(), st.floats(), st.booleans(), st.none(), st.dates()
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["field", "op", "value", "all", "any", "not", "config", "regex"]),
                st.text(max_size=6),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 10), st.text(max_size=8)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_rule_text(tmp_path_factory: Any, edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for position, cut, insert in edits:
        text = text[:position] + insert + text[position + cut :]
    _load(tmp_path_factory.mktemp("rules"), text)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"id": st.just(STEM), "title": scalars, "severity": st.sampled_from(["high", "x", 1])},
        optional=dict.fromkeys(
            ("applies_to", "match", "message", "rationale", "remediation", "references"), trees
        ),
    )
)
def test_arbitrary_rule_documents(tmp_path_factory: Any, document: dict[str, Any]) -> None:
    _load(tmp_path_factory.mktemp("rules"), yaml.safe_dump(document, allow_unicode=True))


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path_factory: Any, data: bytes) -> None:
    _load(tmp_path_factory.mktemp("rules"), data)


def _edited(old: str, new: str) -> str:
    """The shipped rule with `old` replaced; fails at once if the rule no longer holds `old`
    (else the hostile case would silently be the valid rule)."""
    assert old in VALID, f"foreign-law-reach.yaml no longer contains {old!r}"
    return VALID.replace(old, new)


HOSTILE_YAML = {
    "unhashable-block-key": "? [a, b]\n: 1\n",
    "unhashable-flow-key": "{[a]: 1, id: x}\n",
    "mapping-key": "? {a: 1}\n: x\n",
    "python-object-tag": "!!python/object/apply:os.system ['true']\n",
    "unknown-tag": "id: !custom x\n",
    "recursive-alias": "&a [*a]\n",
    "billion-laughs": (
        'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
            for i in range(8)
        )
    ),
    "deep-flow-nesting": "[" * 5000 + "]" * 5000 + "\n",
    "deep-block-nesting": "".join("  " * i + "- \n" for i in range(1500)),
    "deep-match": "match:\n" + "".join("  " * (i + 1) + "not:\n" for i in range(200)),
    "huge-int": "id: " + "9" * 5000 + "\n",
    "nul-byte": "id: foreign-law-reach\x00\n",
    "bom-and-bidi": "\ufeffid: foreign\u202e-law-reach\n",
    "duplicate-keys": "id: a\nid: b\n",
    "multiple-documents": "id: a\n---\nid: b\n",
    "bad-regex": _edited(
        "            op: within\n            value: {config: home_jurisdictions}",
        "            op: matches\n            value: '(a+)+$['",
    ),
    "catastrophic-regex": _edited(
        "        - not:\n            field: control.jurisdictions\n            op: within\n"
        "            value: {config: home_jurisdictions}",
        "        - field: asset.name\n          op: matches\n          value: '(a|aa)+$'",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_YAML))
def test_hostile_yaml_is_one_line_rule_error(tmp_path: Path, name: str) -> None:
    result = _load(tmp_path, HOSTILE_YAML[name])
    if name != "catastrophic-regex":
        assert result is None, f"{name} loaded as a rule set"


def test_an_oversized_rule_file_is_refused(tmp_path: Path) -> None:
    assert _load(tmp_path, VALID + "#" * (70 * 1024)) is None


def test_the_unmodified_rule_loads(tmp_path: Path) -> None:
    result = _load(tmp_path, VALID)
    assert result is not None and [r.id for r in result.rules] == [STEM]
