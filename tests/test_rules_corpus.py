"""The shipped rule corpus: every test file passes, and the meta-checks hold for every rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sovscan.engine import FACT_FIELDS, RuleSet, default_rules_dir, load_profiles, load_rules
from sovscan.engine.cases import load_case_file, run_case_file, sibling_cases
from sovscan.engine.kinds import KNOWN_ASSET_KINDS, known_kinds_matching
from sovscan.engine.loader import parse_rule, rule_files, rule_label, safe_load
from sovscan.engine.profiles import check_profiles
from sovscan.engine.scoring import DIMENSIONS
from sovscan.model import DATA_KINDS, Status, holds_data

RULES_DIR = default_rules_dir()
RULE_FILES = rule_files(RULES_DIR)
README = RULES_DIR / "README.md"


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(RULES_DIR)


def _ids(paths: list[Path]) -> list[str]:
    return [path.name[: -len(".yaml")] for path in paths]


def test_the_shipped_rules_are_found_from_a_source_checkout() -> None:
    assert RULES_DIR.name in {"rules", "_rules"}
    assert (RULES_DIR / "frameworks.yaml").is_file()
    assert len(RULE_FILES) >= 11


def test_the_issue_2_rules_are_shipped(ruleset: RuleSet) -> None:
    ids = {rule.id for rule in ruleset.rules}
    assert {"data-outside-allowed-locations", "foreign-law-reach", "location-unknown"} <= ids


@pytest.mark.parametrize("rule_path", RULE_FILES, ids=_ids(RULE_FILES))
def test_rule_cases(ruleset: RuleSet, rule_path: Path) -> None:
    test_path = sibling_cases(rule_path)
    assert test_path.is_file(), f"{rule_path.name} has no {test_path.name} beside it"
    case_file = load_case_file(test_path, test_path.name)
    assert case_file.rule_id == rule_path.name[: -len(".yaml")]
    expected = {case.expect for case in case_file.cases}
    assert expected == set(Status), f"{test_path.name} needs risk, ok and unknown cases"
    assert run_case_file(ruleset, case_file) == []


def test_ids_equal_file_names_and_are_unique(ruleset: RuleSet) -> None:
    by_id = {rule.id: rule for rule in ruleset.rules}
    assert len(by_id) == len(RULE_FILES)
    for path in RULE_FILES:
        rule = by_id[path.name[: -len(".yaml")]]
        assert rule.source == rule_label(RULES_DIR, path)


def test_every_reference_exists_in_frameworks(ruleset: RuleSet) -> None:
    for rule in ruleset.rules:
        for reference in rule.references:
            assert reference.control in ruleset.frameworks[reference.framework].controls


def test_the_frameworks_of_issue_6_are_defined(ruleset: RuleSet) -> None:
    expected = {
        "qc-law25": {"a2.1-s70.1", "a2.1-s63.5", "p39.1-s17"},
        "gdpr": {f"art-{n}" for n in range(44, 50)},
        "gc-guardrails": {"gr-5"},
        "secnumcloud": {"19.2", "19.6"},
        "eu-csf": {"SOV-2", "SOV-3"},
        "finos-ccc": {"CCC.Core.CN06", "CCC.Core.CN10"},
    }
    assert {fid: set(f.controls) for fid, f in ruleset.frameworks.items()} == expected


def test_every_applies_to_matches_a_known_kind(ruleset: RuleSet) -> None:
    for rule in ruleset.rules:
        for pattern in rule.applies_to:
            assert known_kinds_matching(pattern), f"{rule.id}: {pattern} matches no asset kind"


def test_known_kinds_are_unique_and_dotted() -> None:
    assert len(set(KNOWN_ASSET_KINDS)) == len(KNOWN_ASSET_KINDS)
    assert all(re.fullmatch(r"[a-z0-9]+(\.[a-z0-9-]+)+", kind) for kind in KNOWN_ASSET_KINDS)


def test_the_kinds_that_hold_data_are_known_and_exclude_the_control_plane(
    ruleset: RuleSet,
) -> None:
    for pattern in DATA_KINDS:
        assert known_kinds_matching(pattern), f"{pattern} matches no asset kind"
    # Every store whose place the location rule judges holds data.
    (located,) = [r for r in ruleset.rules if r.id == "data-outside-allowed-locations"]
    for pattern in located.applies_to:
        assert all(holds_data(kind) for kind in known_kinds_matching(pattern)), pattern
    for kind in ("aws.account", "aws.kms.key", "dns.ns", "dns.mx", "dns.spf", "dns.txt"):
        assert not holds_data(kind), kind


def test_every_rule_feeds_a_score_dimension(ruleset: RuleSet) -> None:
    for rule in ruleset.rules:
        assert set(rule.tags) & set(DIMENSIONS), f"{rule.id} has no dimension tag"


def test_the_fact_fields_in_the_readme_are_the_fields_in_the_code() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- fact-fields")[1].split("<!-- /fact-fields -->")[0]
    documented = re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)
    assert documented
    assert sorted(documented) == sorted(FACT_FIELDS)


def test_the_readme_lists_every_rule_and_kind(ruleset: RuleSet) -> None:
    text = README.read_text(encoding="utf-8")
    for rule in ruleset.rules:
        assert f"| `{rule.id}` | {rule.severity.value} |" in text
    for kind in ("aws.account", "aws.s3.bucket", "dns.mx", "saas.endpoint"):
        assert f"`{kind}`" in text


def test_profiles_name_existing_rules(ruleset: RuleSet) -> None:
    profiles = load_profiles()
    assert set(profiles) == {"quebec-law25", "gc-protected-b", "eu-gdpr", "secnumcloud", "eu-csf"}
    assert check_profiles(profiles, ruleset) == []


def test_the_readme_examples_are_valid(ruleset: RuleSet, tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    rule_doc, cases_doc = blocks
    rule = parse_rule(
        safe_load(rule_doc, "README"), "README", "foreign-law-reach", ruleset.frameworks
    )
    assert rule.references[0].control == "art-48"
    path = tmp_path / "example.test.yaml"
    path.write_text(cases_doc, encoding="utf-8")
    case_file = load_case_file(path, "README")
    assert run_case_file(ruleset, case_file) == []
