"""Profiles: rule selection, policy values (the inventory's own win) and severity changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sovscan.engine import apply_profile, default_rules_dir, evaluate, load_profiles, load_rules
from sovscan.errors import RuleError
from sovscan.model import Severity, Status
from tests.factories import POLICY, resolved_bucket


def test_quebec_law25_keeps_data_in_quebec_and_canada_as_home_law() -> None:
    ruleset = load_rules()
    profile = load_profiles()["quebec-law25"]
    rules, policy = apply_profile(ruleset, POLICY, profile)
    assert policy.home_jurisdictions == ("CA-QC", "CA")
    assert policy.allowed_locations == ("CA-QC",)
    assert {r.id for r in rules.rules} == set(profile.rules or ())
    assert "account-without-region-guardrail" not in {r.id for r in rules.rules}
    assert rules.digest != ruleset.digest


def test_a_profile_keeps_the_institutions_own_rules(tmp_path: Path) -> None:
    # A profile selects among the shipped rules; an own rule dropped by it would leave its
    # assets silently unchecked.
    from tests.engine.test_loader import VALID, write_rule

    write_rule(tmp_path, VALID)
    ruleset = load_rules(default_rules_dir(), tmp_path)
    own = {r.id for r in ruleset.rules} - {r.id for r in load_rules().rules}
    assert own
    profile = load_profiles()["gc-protected-b"]
    rules, _ = apply_profile(ruleset, POLICY, profile)
    assert {r.id for r in rules.rules} == set(profile.rules or ()) | own


def test_the_inventory_file_overrides_the_profile() -> None:
    profile = load_profiles()["quebec-law25"]
    own = replace(POLICY, home_jurisdictions=("CA",))
    _, policy = apply_profile(load_rules(), own, profile, keep={"home_jurisdictions"})
    assert policy.home_jurisdictions == ("CA",)
    assert policy.allowed_locations == ("CA-QC",)


@pytest.mark.parametrize(
    ("jurisdictions", "reach"),
    [
        # A Quebec company answers to Quebec and to federal law: it was "unknown" (CA is not
        # inside CA-QC), and an Ontario one a risk "outside CA-QC; laws that reach it: none".
        (("CA-QC", "CA"), Status.OK),
        (("CA-ON", "CA"), Status.OK),
        (("CA", "US"), Status.RISK),
    ],
)
def test_quebec_law25_reads_canadian_law_as_home_law(
    jurisdictions: tuple[str, ...], reach: Status
) -> None:
    rules, policy = apply_profile(load_rules(), POLICY, load_profiles()["quebec-law25"])
    bucket = resolved_bucket()
    bucket = replace(bucket, control=replace(bucket.control, jurisdictions=jurisdictions))
    found = {f.rule_id: f for f in evaluate(rules, [bucket], policy)}
    assert found["foreign-law-reach"].status is reach
    # Where the data goes is the Law 25 test: Montreal is inside, Toronto would not be.
    assert found["data-outside-allowed-locations"].status is Status.OK
    toronto = replace(bucket, location=replace(bucket.location, subdivision="CA-ON"))
    moved = {f.rule_id: f for f in evaluate(rules, [toronto], policy)}
    assert moved["data-outside-allowed-locations"].status is Status.RISK


def test_a_profile_changes_severities_and_the_report() -> None:
    ruleset = load_rules()
    bucket = resolved_bucket(region="us-east-1")
    bucket = bucket.__class__(
        bucket.asset,
        bucket.location.__class__(
            "aws",
            "us-east-1",
            "US",
            "US-VA",
            False,
            bucket.location.method,
            bucket.location.confidence,
        ),
        bucket.control,
    )
    before = {f.rule_id: f for f in evaluate(ruleset, [bucket], POLICY)}
    rules, policy = apply_profile(ruleset, POLICY, load_profiles()["gc-protected-b"])
    after = {f.rule_id: f for f in evaluate(rules, [bucket], policy)}
    assert before["data-outside-allowed-locations"].severity is Severity.HIGH
    assert after["data-outside-allowed-locations"].severity is Severity.CRITICAL
    assert after["data-outside-allowed-locations"].status is Status.RISK
    assert "foreign-law-reach" in before
    assert "foreign-law-reach" not in after
    # Protected B only: personal data is not sensitive under this profile.
    assert policy.sensitive_classifications == ("protected-b", "protected-c", "classified")


def test_secnumcloud_reads_the_eu_as_home() -> None:
    rules, policy = apply_profile(load_rules(), POLICY, load_profiles()["secnumcloud"])
    assert policy.home_jurisdictions == ("EU",)
    reach = rules.get("foreign-law-reach")
    assert reach is not None and reach.severity is Severity.CRITICAL


def test_eu_csf_keeps_every_rule() -> None:
    ruleset = load_rules()
    rules, _ = apply_profile(ruleset, POLICY, load_profiles()["eu-csf"])
    assert [r.id for r in rules.rules] == [r.id for r in ruleset.rules]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("profiles:\n  p:\n    title: T\n    colour: red\n", "profiles.p.colour: unknown key"),
        ("profiles:\n  p:\n    rules: all\n", "profiles.p.title: expected a title"),
        (
            "profiles:\n  p:\n    title: T\n    policy: {allowed_locations: [Quebec]}\n",
            "expected ISO 3166 codes",
        ),
        (
            "profiles:\n  p:\n    title: T\n    policy: {allowed_locations: [NO]}\n",
            "quote NO",
        ),
        ("profiles:\n  p:\n    title: T\n    policy: {home: CA}\n", "profiles.p.policy.home"),
        ("profiles:\n  p:\n    title: T\n    severity: {x: severe}\n", "expected a severity"),
        ("other: 1\n", "expected a single key `profiles`"),
    ],
)
def test_a_bad_profiles_file_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_profiles(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(path))
