"""Rule test files (``<id>.test.yaml``): cases that must come out risk, ok or unknown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sovscan.engine.evaluate import compile_rule, judge
from sovscan.engine.facts import facts_of
from sovscan.engine.loader import (
    MAX_RULE_BYTES,
    RuleSet,
    fail,
    read_bounded,
    rule_files,
    rule_label,
    safe_load,
)
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    AttrValue,
    Confidence,
    Control,
    Location,
    Method,
    Policy,
    ResolvedAsset,
    Status,
)
from sovscan.places import is_place

DEFAULT_POLICY = Policy("Université Exemple", "CA-QC", ("CA-QC",), ("CA-QC", "CA"), "personal")
"""The policy a test file starts from; its `config` mapping overrides fields by name."""

_POLICY_FIELDS = tuple(f.name for f in fields(Policy))
_CASE_KEYS = ("name", "asset", "location", "control", "expect", "missing")
_ASSET_KEYS = ("id", "kind", "name", "attributes")
_LOCATION_KEYS = (
    "provider",
    "region",
    "country",
    "subdivision",
    "edge",
    "method",
    "confidence",
    "declared",
)
_CONTROL_KEYS = ("operator", "parent", "jurisdictions", "laws", "method", "confidence")


@dataclass(frozen=True, slots=True)
class Case:
    """One case of a rule test file."""

    name: str
    asset: ResolvedAsset
    expect: Status
    missing: tuple[str, ...] | None  # when given, the exact `missing` expected


@dataclass(frozen=True, slots=True)
class CaseFile:
    """A parsed ``<id>.test.yaml``."""

    rule_id: str
    policy: Policy
    cases: tuple[Case, ...]
    label: str


def sibling_cases(rule_path: Path) -> Path:
    """Where the test file of a rule file sits: ``<id>.test.yaml`` beside ``<id>.yaml``."""
    return rule_path.with_name(rule_path.name[: -len(".yaml")] + ".test.yaml")


def check_folder(ruleset: RuleSet, root: Path) -> tuple[int, list[str]]:
    """Run every test file under `root` against `ruleset`: (cases run, failure lines).

    A rule file without its test file, or one lacking a risk, an ok or an unknown case, fails.
    """
    failures: list[str] = []
    count = 0
    for rule_path in rule_files(root):
        label = rule_label(root, rule_path)
        test_path = sibling_cases(rule_path)
        test_label = label[: -len(".yaml")] + ".test.yaml"
        if not test_path.is_file():
            failures.append(f"{label}: no test file {test_path.name} beside the rule")
            continue
        case_file = load_case_file(test_path, test_label)
        if case_file.rule_id != rule_path.name[: -len(".yaml")]:
            failures.append(f"{test_label}: rule: expected {rule_path.name[:-5]!r}")
            continue
        lacking = [s.value for s in Status if all(c.expect is not s for c in case_file.cases)]
        if lacking:
            failures.append(f"{test_label}: cases: no {' and no '.join(lacking)} case")
        count += len(case_file.cases)
        failures.extend(run_case_file(ruleset, case_file))
    return count, failures


def failing_cases(ruleset: RuleSet, roots: Sequence[Path]) -> list[str]:
    """The failure lines of the test files present under `roots` (an institution's own rule
    folders), for a scan about to use their rules.

    Unlike `check_folder`, a rule without a test file is not a failure here: `rules validate`
    asks for one, a scan only refuses a rule that contradicts its own cases.
    """
    failures: list[str] = []
    for root in roots:
        for rule_path in rule_files(root):
            test_path = sibling_cases(rule_path)
            if not test_path.is_file():
                continue
            label = rule_label(root, rule_path)
            case_file = load_case_file(test_path, label[: -len(".yaml")] + ".test.yaml")
            failures.extend(run_case_file(ruleset, case_file))
    return failures


def load_case_file(path: Path, label: str) -> CaseFile:
    """Parse and check one test file; errors are one line like rule errors."""
    doc = safe_load(read_bounded(path, MAX_RULE_BYTES), label)
    if not isinstance(doc, dict):
        fail(label, "", "expected a mapping with rule, config and cases")
    _only(doc, ("rule", "config", "cases"), label, "")
    rule_id = doc.get("rule")
    if not isinstance(rule_id, str):
        fail(label, "rule", "expected the rule id")
    policy = _policy(doc.get("config", {}), label)
    raw_cases = doc.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        fail(label, "cases", "expected a non-empty list of cases")
    cases = tuple(_case(item, label, f"cases[{i}]") for i, item in enumerate(raw_cases))
    return CaseFile(rule_id, policy, cases, label)


def run_case_file(ruleset: RuleSet, case_file: CaseFile) -> list[str]:
    """The failures of a test file, one line each; empty when every case comes out as expected."""
    rule = ruleset.get(case_file.rule_id)
    if rule is None:
        return [f"{case_file.label}: rule: no rule {case_file.rule_id!r}"]
    compiled = compile_rule(rule, case_file.policy.config_values())
    failures: list[str] = []
    for index, case in enumerate(case_file.cases):
        where = f"{case_file.label}: cases[{index}] ({case.name})"
        if not rule.applies(case.asset.asset.kind):
            failures.append(f"{where}: {rule.id} does not apply to {case.asset.asset.kind}")
            continue
        facts = facts_of(case.asset, case_file.policy)
        finding = judge(compiled, case.asset, facts, case_file.policy.config_values())
        if finding.status is not case.expect:
            failures.append(f"{where}: expected {case.expect.value}; got {finding.status.value}")
        elif case.missing is not None and finding.missing != case.missing:
            failures.append(f"{where}: expected missing {case.missing}; got {finding.missing}")
    return failures


def _only(doc: Mapping[str, Any], allowed: tuple[str, ...], label: str, path: str) -> None:
    for key in doc:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            fail(label, where, f"unknown key; expected one of {', '.join(allowed)}")


def _policy(raw: Any, label: str) -> Policy:
    if not isinstance(raw, dict):
        fail(label, "config", "expected a mapping of policy values")
    _only(raw, _POLICY_FIELDS, label, "config")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        expected = type(getattr(DEFAULT_POLICY, name))
        if isinstance(value, list) and expected is tuple:
            value = tuple(value)
        if not isinstance(value, expected) or (
            expected is tuple and not all(isinstance(item, str) for item in value)
        ):
            fail(
                label,
                f"config.{name}",
                f"expected {'a list of text' if expected is tuple else 'text'}",
            )
        values[name] = value
    base = {f: getattr(DEFAULT_POLICY, f) for f in _POLICY_FIELDS}
    return Policy(**{**base, **values})


def _case(raw: Any, label: str, path: str) -> Case:
    if not isinstance(raw, dict):
        fail(label, path, "expected a mapping")
    _only(raw, _CASE_KEYS, label, path)
    name = raw.get("name")
    if not isinstance(name, str):
        fail(label, f"{path}.name", "expected a case name")
    try:
        expect = Status(str(raw.get("expect")))
    except ValueError:
        fail(label, f"{path}.expect", f"expected risk, ok or unknown; got {raw.get('expect')!r}")
    missing = raw.get("missing")
    asset = _asset(raw.get("asset"), label, f"{path}.asset")
    try:
        location = _location(raw.get("location"), label, f"{path}.location")
        control = _control(raw.get("control"), label, f"{path}.control")
    except ValueError as exc:  # an unknown method or confidence name
        fail(label, path, str(exc))
    return Case(
        name,
        ResolvedAsset(asset, location, control),
        expect,
        tuple(missing) if isinstance(missing, list) else None,
    )


def _asset(raw: Any, label: str, path: str) -> Asset:
    if not isinstance(raw, dict) or "kind" not in raw:
        fail(label, path, "expected a mapping with at least kind")
    _only(raw, _ASSET_KEYS, label, path)
    name = str(raw.get("name", "asset"))
    attributes: dict[str, AttrValue] = {}
    for key, value in (raw.get("attributes") or {}).items():
        attributes[str(key)] = tuple(map(str, value)) if isinstance(value, list) else value
    return Asset(str(raw.get("id", f"test:{name}")), str(raw["kind"]), name, attributes)


def _location(raw: Any, label: str, path: str) -> Location:
    if raw is None:
        return UNKNOWN_LOCATION
    if not isinstance(raw, dict):
        fail(label, path, "expected a mapping")
    _only(raw, _LOCATION_KEYS, label, path)
    # Without a method, a case that locates nothing is read as a scan reads it: method unknown,
    # so `edge: false` copied from a report stays unknown, as it does in the scan.
    located = any(raw.get(key) for key in ("provider", "region", "country", "subdivision", "edge"))
    declared = raw.get("declared")
    if declared is not None and not (isinstance(declared, str) and is_place(declared)):
        fail(label, f"{path}.declared", f"expected an ISO 3166 code; got {declared!r}")
    default = Method.CATALOGUE if located else Method.UNKNOWN
    return Location(
        raw.get("provider"),
        raw.get("region"),
        raw.get("country"),
        raw.get("subdivision"),
        bool(raw.get("edge", False)),
        Method(raw.get("method", default.value)),
        Confidence(raw.get("confidence", Confidence.MEDIUM.value)),
        declared=declared,
    )


def _control(raw: Any, label: str, path: str) -> Control:
    if raw is None:
        return UNKNOWN_CONTROL
    if not isinstance(raw, dict):
        fail(label, path, "expected a mapping")
    _only(raw, _CONTROL_KEYS, label, path)
    jurisdictions = raw.get("jurisdictions")
    laws = raw.get("laws")
    return Control(
        raw.get("operator"),
        raw.get("parent"),
        tuple(jurisdictions) if isinstance(jurisdictions, list) else None,
        tuple(laws) if isinstance(laws, list) else None,
        Method(raw.get("method", Method.CATALOGUE.value)),
        Confidence(raw.get("confidence", Confidence.MEDIUM.value)),
    )
