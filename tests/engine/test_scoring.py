"""Scores: the worked example of docs/scoring.md, and unknowns never counted as compliant."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.engine import RuleSet, load_rules, score, score_detail
from sovscan.engine.scoring import ScoreTally, classification_weight, institution_value
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    Finding,
    ResolvedAsset,
    Severity,
    Status,
)
from sovscan.report import REPORTERS
from tests.factories import POLICY, make_scan

DOC = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"


def asset(
    name: str, kind: str = "aws.s3.bucket", classification: str | None = None
) -> ResolvedAsset:
    attributes = {"classification": classification} if classification else {}
    return ResolvedAsset(
        Asset(f"id:{name}", kind, name, attributes), UNKNOWN_LOCATION, UNKNOWN_CONTROL
    )


def finding(target: ResolvedAsset, rule: str, status: Status, severity: Severity) -> Finding:
    missing = ("location.place",) if status is Status.UNKNOWN else ()
    return Finding(rule, target.asset.id, status, severity, "m", missing)


A = asset("research-data", classification="personal")
B = asset("lms", "saas.endpoint", classification="personal")
C = asset("universite.example", "dns.dmarc", classification="public")
D = asset("archive")  # no classification: the policy default, personal
ASSETS = (A, B, C, D)
FINDINGS = (
    finding(A, "foreign-law-reach", Status.RISK, Severity.HIGH),
    finding(A, "provider-held-keys-sensitive-data", Status.RISK, Severity.MEDIUM),
    finding(A, "data-outside-allowed-locations", Status.OK, Severity.HIGH),
    finding(B, "foreign-law-reach", Status.OK, Severity.HIGH),
    finding(B, "data-outside-allowed-locations", Status.OK, Severity.HIGH),
    finding(C, "dmarc-reports-abroad", Status.RISK, Severity.MEDIUM),
    finding(D, "data-outside-allowed-locations", Status.UNKNOWN, Severity.HIGH),
    finding(D, "location-unknown", Status.RISK, Severity.INFO),
)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules()


def test_the_worked_example_of_the_documentation(ruleset: RuleSet) -> None:
    result = score(ASSETS, FINDINGS, 0, POLICY)
    assert result.value == 53
    assert result.assets_total == 4
    assert result.assets_at_risk == 2
    assert result.assets_unknown == 1
    assert dict(result.by_severity) == {"info": 1, "low": 0, "medium": 2, "high": 1, "critical": 0}
    assert dict(result.by_status) == {"risk": 4, "ok": 3, "unknown": 1}
    assert result.complete is True
    assert (result.upper_bound, result.known_share) == (64, 88)
    detail = score_detail(ruleset, ASSETS, FINDINGS, 0, POLICY)
    assert detail.score == result
    assert detail.upper_bound == 64
    assert detail.known_share == 88
    assert [(r.asset_id, r.weight, r.risk, r.unknown) for r in detail.assets] == [
        ("id:research-data", 2, 7, 0),
        ("id:lms", 2, 0, 0),
        ("id:universite.example", 1, 4, 0),
        ("id:archive", 2, 0, 7),
    ]


def test_the_documentation_states_the_numbers_the_code_gives() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "= round_half_up(53.17) = 53" in text
    assert "= round_half_up(64.29) = 64" in text
    # The reports print the worked example's headline as the documentation says it.
    printed = REPORTERS["table"](replace(make_scan(), score=score(ASSETS, FINDINGS, 0, POLICY)))
    headline = (
        "exposure score 53/100 (up to 64 if the unknown finding is a risk; 88% of findings known)"
    )
    assert f"{headline}; 4 assets, 2 at risk, 1 with unknowns" in printed
    assert f"**{headline}**; 4 assets, 2 at risk, 1 with unknowns." in " ".join(text.split())
    names = re.search(r"^\| severity \|(.*)\|$", text, flags=re.MULTILINE)
    weights = re.search(r"^\| weight \|(.*)\|$", text, flags=re.MULTILINE)
    assert names is not None and weights is not None
    documented = dict(zip(names.group(1).split("|"), weights.group(1).split("|"), strict=True))
    assert {k.strip(): int(v) for k, v in documented.items()} == {
        s.value: s.weight for s in Severity
    }


def test_eu_csf_levels_are_the_weakest_link_and_ranges_when_unknown(ruleset: RuleSet) -> None:
    detail = score_detail(ruleset, ASSETS, FINDINGS, 0, POLICY)
    # SOV-2: A is under foreign control (SEAL-1), B is clean (at most SEAL-2): weakest is 1.
    # SOV-3: A has provider-held keys (1), D's location is unknown (0 to 2): 0 to 1.
    assert dict(detail.eu_csf) == {"SOV-2": "SEAL-1", "SOV-3": "SEAL-0 to SEAL-1"}
    clean = tuple(f for f in FINDINGS if f.status is Status.OK)
    assert dict(score_detail(ruleset, ASSETS, clean, 0, POLICY).eu_csf) == {
        "SOV-2": "SEAL-2",
        "SOV-3": "SEAL-2",
    }
    assert dict(score_detail(ruleset, ASSETS, (), 0, POLICY).eu_csf) == {
        "SOV-2": "not assessed",
        "SOV-3": "not assessed",
    }


def test_dimensions_follow_rule_tags(ruleset: RuleSet) -> None:
    detail = score_detail(ruleset, ASSETS, FINDINGS, 0, POLICY)
    # legal-control: only A is at risk (7); mean = 14 / 7 = 2; (7 + 2) / 18 -> 50.
    assert detail.by_dimension["legal-control"] == 50
    # keys: A at medium (4); mean = 8 / 7; (4 + 1.14) / 18 -> 29.
    assert detail.by_dimension["keys"] == 29
    assert detail.by_dimension["replication"] == 0


def test_unknowns_are_never_counted_as_compliant() -> None:
    all_unknown = tuple(
        finding(a, "data-outside-allowed-locations", Status.UNKNOWN, Severity.HIGH) for a in ASSETS
    )
    result = score(ASSETS, all_unknown, 0, POLICY)
    assert result.assets_unknown == 4
    assert result.by_status["ok"] == 0
    assert (result.value, result.upper_bound, result.known_share) == (0, 78, 0)
    detail = score_detail(load_rules(), ASSETS, all_unknown, 0, POLICY)
    assert detail.upper_bound == 78  # (7 + 7) / 18
    assert detail.known_share == 0


def test_a_gap_makes_the_score_incomplete() -> None:
    assert score(ASSETS, FINDINGS, 2, POLICY).complete is False


def test_severity_weights_are_not_summed() -> None:
    one = (finding(A, "r1", Status.RISK, Severity.HIGH),)
    many = one + tuple(finding(A, f"r{i}", Status.RISK, Severity.HIGH) for i in range(2, 6))
    assert score((A,), one, 0, POLICY).value == score((A,), many, 0, POLICY).value == 78


def test_one_critical_asset_does_not_vanish_in_a_large_clean_estate() -> None:
    risks = [(1, 9)] + [(1, 0)] * 999
    assert institution_value(risks) == 50
    assert institution_value([]) == 0
    assert institution_value([(2, 9), (1, 9)]) == 100


def test_sensitive_assets_weigh_more() -> None:
    sensitive_risky = [(2, 7), (1, 0)]
    public_risky = [(1, 7), (2, 0)]
    assert institution_value(sensitive_risky) > institution_value(public_risky)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "public", "personal", "internal"]),
            st.lists(st.tuples(st.sampled_from(list(Status)), st.sampled_from(list(Severity)))),
        ),
        max_size=12,
    ),
    st.integers(0, 2),
)
def test_the_tally_of_a_streamed_scan_is_the_score(
    estate: list[tuple[str | None, list[tuple[Status, Severity]]]], gaps: int
) -> None:
    assets = [asset(f"a{i}", classification=c) for i, (c, _) in enumerate(estate)]
    findings = [
        finding(target, f"rule-{j}", status, severity)
        for target, (_, judged) in zip(assets, estate, strict=True)
        for j, (status, severity) in enumerate(judged)
    ]
    tally = ScoreTally()
    for target, (_, judged) in zip(assets, estate, strict=True):
        tally.add(classification_weight(target, POLICY), judged)
    assert tally.score(gaps) == score(assets, findings, gaps, POLICY)
