"""Evaluation: Kleene logic, the operators, facts, messages, and one finding per rule and asset."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sovscan.engine import RuleSet, evaluate, load_rules
from sovscan.engine.evaluate import render, split_message
from sovscan.engine.facts import FACT_TYPES, facts_of
from sovscan.engine.rule import All, AnyOf, ConfigRef, Leaf, Node, Not, compile_node
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    Confidence,
    Control,
    Evidence,
    Location,
    Method,
    Policy,
    ResolvedAsset,
    Severity,
    Status,
)
from tests.factories import AWS_CONTROL, POLICY, T0, resolved_bucket

TRUTHS = (True, False, None)


def const(value: bool | None) -> Node:
    """A leaf that evaluates to `value` on the facts {"t": "y", "f": "n"} (None: field absent)."""
    field = {True: "asset.attr.t", False: "asset.attr.f", None: "asset.attr.absent"}[value]
    return Leaf(field, "equals", "y")


CONST_FACTS = {"asset.attr.t": "y", "asset.attr.f": "n"}


def run(
    node: Node, facts: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None
) -> Any:
    return compile_node(node, config or {})(facts if facts is not None else CONST_FACTS)


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def kleene_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


@pytest.mark.parametrize(("a", "b"), list(itertools.product(TRUTHS, TRUTHS)))
def test_all_and_any_follow_kleene(a: bool | None, b: bool | None) -> None:
    assert run(All((const(a), const(b)))) is kleene_and(a, b)
    assert run(AnyOf((const(a), const(b)))) is kleene_or(a, b)


@pytest.mark.parametrize("a", TRUTHS)
def test_not_swaps_true_and_false_and_keeps_unknown(a: bool | None) -> None:
    assert run(Not(const(a))) is (None if a is None else not a)


def test_a_missing_fact_is_unknown_for_every_operator_but_exists() -> None:
    cases: list[tuple[str, Any]] = [
        ("equals", "x"),
        ("in", ("x",)),
        ("intersects", ("x",)),
        ("subset_of", ("x",)),
        ("within", ("CA",)),
    ]
    for op, value in cases:
        assert run(Leaf("asset.attr.absent", op, value), {}) is None
    assert run(Leaf("asset.attr.absent", "matches", re.compile(".*")), {}) is None
    assert run(Leaf("asset.attr.absent", "exists", None), {}) is False
    assert run(Leaf("asset.attr.here", "exists", None), {"asset.attr.here": ()}) is True


@pytest.mark.parametrize(
    ("op", "actual", "value", "expected"),
    [
        ("equals", "ca-central-1", "ca-central-1", True),
        ("equals", "us-east-1", "ca-central-1", False),
        ("equals", True, True, True),
        ("equals", False, True, False),
        ("in", "aws-managed", ("aws-owned", "aws-managed"), True),
        ("in", "customer", ("aws-owned", "aws-managed"), False),
        ("in", ("aws-owned",), ("aws-owned",), None),  # a list where one value is needed
        ("intersects", ("US", "CA"), ("US",), True),
        ("intersects", ("CA",), ("US",), False),
        ("intersects", "US", ("US",), True),
        ("subset_of", ("CA", "CA-QC"), ("CA", "CA-QC", "FR"), True),
        ("subset_of", ("CA", "US"), ("CA", "CA-QC"), False),
        ("subset_of", (), ("CA",), True),
        ("within", "CA-QC", ("CA",), True),
        ("within", "US", ("CA",), False),
        ("within", "CA", ("CA-QC",), None),  # too coarse to say
        ("within", "FR", ("EU",), True),
        ("within", ("CA-QC", "CA-ON"), ("CA",), True),
        ("within", ("CA-QC", "US"), ("CA",), False),
        ("within", ("CA", "US"), ("CA-QC",), False),  # definitely outside beats maybe
        ("within", ("CA", "CA-QC"), ("CA-QC",), None),
        ("within", (), ("CA",), True),
    ],
)
def test_operators(op: str, actual: Any, value: Any, expected: bool | None) -> None:
    assert run(Leaf("asset.attr.x", op, value), {"asset.attr.x": actual}) is expected


def test_matches_is_anchored() -> None:
    leaf = Leaf("asset.name", "matches", re.compile("grant-[0-9]+"))
    assert run(leaf, {"asset.name": "grant-42"}) is True
    assert run(leaf, {"asset.name": "my-grant-42"}) is False
    assert run(leaf, {"asset.name": "grant-42-old"}) is False
    assert run(leaf, {"asset.name": ("grant-42",)}) is None


def test_config_values_are_read_from_the_policy() -> None:
    leaf = Leaf("location.place", "within", ConfigRef("allowed_locations"))
    facts = {"location.place": "CA-ON"}
    assert run(leaf, facts, POLICY.config_values()) is False
    wider = replace(POLICY, allowed_locations=("CA",))
    assert run(leaf, facts, wider.config_values()) is True


def test_facts_of_a_resolved_asset() -> None:
    facts = facts_of(resolved_bucket(), POLICY)
    assert set(FACT_TYPES) <= set(facts)
    assert facts["location.place"] == "CA-QC"
    assert facts["location.edge"] is False
    assert facts["control.jurisdictions"] == ("US",)
    assert facts["asset.classification"] == "personal"  # the policy default
    assert facts["asset.sensitive"] is True
    assert facts["asset.attr.region"] == "ca-central-1"


def test_facts_of_an_unlocated_asset_are_unknown_not_reassuring() -> None:
    asset = Asset("x", "dns.mx", "mx", {"key_manager": "unknown", "classification": "public"})
    facts = facts_of(ResolvedAsset(asset, UNKNOWN_LOCATION, UNKNOWN_CONTROL), POLICY)
    assert facts["location.place"] is None
    assert facts["location.edge"] is None  # not "False": nothing looked
    assert facts["control.jurisdictions"] is None
    assert facts["asset.attr.key_manager"] is None  # the probe's "unknown" marker
    assert facts["asset.sensitive"] is False


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (UNKNOWN_LOCATION, "not found"),
        (
            Location(
                "aws", "ca-central-1", "CA", "CA-QC", False, Method.CLOUD_API, Confidence.HIGH
            ),
            "CA-QC (aws ca-central-1)",
        ),
        (
            Location(
                "aws", "us-east-1", "US", "US-VA", False, Method.PUBLISHED_RANGES, Confidence.HIGH
            ),
            "US-VA (aws us-east-1, where it is served from)",
        ),
        (
            Location("cloudflare", None, None, None, True, Method.ASN_TABLE, Confidence.MEDIUM),
            "cloudflare global edge (no single country)",
        ),
        (
            Location("aws", "xx-new-1", None, None, False, Method.CLOUD_API, Confidence.LOW),
            "aws xx-new-1; place not known",
        ),
        (
            Location(
                "aws",
                "ca-central-1",
                "CA",
                "CA-QC",
                False,
                Method.PUBLISHED_RANGES,
                Confidence.HIGH,
                declared="CA-ON",
            ),
            (
                "CA-QC (aws ca-central-1, where it is served from); kept in CA-ON, as the "
                "institution declares"
            ),
        ),
    ],
)
def test_location_where_names_the_place_whatever_is_known(
    location: Location, expected: str
) -> None:
    asset = Asset("x", "dns.host", "www", {})
    facts = facts_of(ResolvedAsset(asset, location, UNKNOWN_CONTROL), POLICY)
    assert facts["location.where"] == expected
    assert "unknown (unknown)" not in str(facts["location.where"])


@pytest.mark.parametrize(
    ("confidence", "confirmed"),
    [
        (Confidence.HIGH, True),
        (Confidence.MEDIUM, True),
        (Confidence.LOW, None),  # only inferred: unknown, never False
        (Confidence.NONE, True),  # nothing known: the other control facts say so already
    ],
)
def test_control_confirmed_is_unknown_only_for_an_inferred_operator(
    confidence: Confidence, confirmed: bool | None
) -> None:
    control = replace(AWS_CONTROL, confidence=confidence)
    facts = facts_of(ResolvedAsset(resolved_bucket().asset, UNKNOWN_LOCATION, control), POLICY)
    assert facts["control.confirmed"] is confirmed


def test_an_operator_at_home_only_by_inference_is_unknown_not_ok(ruleset: RuleSet) -> None:
    """PlanetHoster's AS row is marked low ("verify"): a Quebec jurisdiction read from it must
    not make foreign-law-reach say ok, while a foreign one read the same way stays a risk."""
    home = Control("Hébergeur inc.", None, ("CA-QC",), (), Method.ASN_TABLE, Confidence.LOW)
    abroad = replace(home, jurisdictions=("US",), laws=("us-cloud-act",))
    host = Asset("dns:u:host:www", "dns.host", "www.u.example", {})
    statuses = {}
    for name, control in (
        ("home", home),
        ("abroad", abroad),
        ("sure", replace(home, confidence=Confidence.MEDIUM)),
    ):
        found = evaluate(ruleset, [ResolvedAsset(host, UNKNOWN_LOCATION, control)], POLICY)
        statuses[name] = next(f for f in found if f.rule_id == "foreign-law-reach")
    assert statuses["home"].status is Status.UNKNOWN
    assert "control.confirmed" in statuses["home"].missing
    assert statuses["abroad"].status is Status.RISK
    assert statuses["sure"].status is Status.OK


def test_messages_are_plain_substitution() -> None:
    parts = split_message("{asset.name} in {location.place} ({control.laws}) {config.home} {x.y}")
    facts = {"asset.name": "b", "location.place": None, "control.laws": ("a", "c")}
    text = render(parts, facts, POLICY.config_values())
    assert text == "b in unknown (a, c) CA-QC unknown"
    hostile = render(split_message("{asset.name}"), {"asset.name": "{0.__class__}"}, {})
    assert hostile == "{0.__class__}"


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules()


def by_rule(findings: Any, asset_id: str) -> dict[str, Any]:
    return {f.rule_id: f for f in findings if f.asset_id == asset_id}


def test_the_montreal_bucket_is_in_quebec_yet_reachable_by_us_law(ruleset: RuleSet) -> None:
    bucket = resolved_bucket()
    findings = by_rule(evaluate(ruleset, [bucket], POLICY), bucket.asset.id)
    assert findings["data-outside-allowed-locations"].status is Status.OK
    reach = findings["foreign-law-reach"]
    assert reach.status is Status.RISK
    assert reach.severity is Severity.HIGH
    assert "us-cloud-act, us-fisa-702" in reach.message
    assert "Amazon Web Services, Inc." in reach.message
    assert reach.rule_source == "rules/control/foreign-law-reach.yaml"
    assert any(r.framework == "gdpr" and r.control == "art-48" for r in reach.references)
    assert findings["location-unknown"].status is Status.OK


@pytest.mark.parametrize(
    ("operator", "parent", "run_by"),
    [
        (
            "Amazon Web Services, Inc.",
            "Amazon.com, Inc.",
            "Amazon Web Services, Inc. (parent Amazon.com, Inc.)",
        ),
        # Its own parent: the name once, not "Microsoft Corporation (parent Microsoft Corporation)".
        ("Microsoft Corporation", "Microsoft Corporation", "Microsoft Corporation"),
        ("Example Cloud Ltd", None, "Example Cloud Ltd (parent unknown)"),
    ],
)
def test_messages_name_the_parent_only_when_it_is_another_company(
    ruleset: RuleSet, operator: str, parent: str | None, run_by: str
) -> None:
    bucket = resolved_bucket()
    bucket = replace(bucket, control=replace(bucket.control, operator=operator, parent=parent))
    reach = by_rule(evaluate(ruleset, [bucket], POLICY), bucket.asset.id)["foreign-law-reach"]
    assert reach.status is Status.RISK
    assert reach.message.startswith(f"{bucket.asset.name} is run by {run_by}, answerable in US")
    facts = facts_of(replace(bucket, control=replace(bucket.control, operator=None)), POLICY)
    assert facts["control.run_by"] is None  # unknown, whatever the parent


def test_an_unknown_asset_is_never_ok(ruleset: RuleSet) -> None:
    asset = Asset("saas:lms.example", "saas.endpoint", "lms", {})
    resolved = ResolvedAsset(asset, UNKNOWN_LOCATION, UNKNOWN_CONTROL)
    findings = evaluate(ruleset, [resolved], POLICY)
    assert findings
    statuses = {f.rule_id: f.status for f in findings}
    assert Status.RISK not in statuses.values()
    # Only rules whose risky state needs a fact the asset does have may say ok.
    assert statuses["data-outside-allowed-locations"] is Status.UNKNOWN
    assert statuses["foreign-law-reach"] is Status.UNKNOWN
    assert "location-unknown" not in statuses  # data-outside-allowed-locations says it for SaaS
    for finding in findings:
        assert (finding.status is Status.UNKNOWN) == bool(finding.missing)


def test_missing_names_the_fields_and_unknown_messages_say_so(ruleset: RuleSet) -> None:
    asset = Asset("aws:1:s3:a", "aws.s3.bucket", "a", {})
    location = Location("aws", "ca-central-1", "CA", None, False, Method.CLOUD_API, Confidence.LOW)
    resolved = ResolvedAsset(asset, location, UNKNOWN_CONTROL)
    findings = by_rule(evaluate(ruleset, [resolved], POLICY), asset.id)
    outside = findings["data-outside-allowed-locations"]
    assert outside.status is Status.UNKNOWN  # "CA" cannot be placed inside "CA-QC"
    assert outside.missing == ("location.place",)
    assert "cannot tell" in outside.message
    # Known, but broader than the policy's CA-QC: said so, with its value, not "not known".
    assert outside.message.endswith(
        "known but not precise enough to judge: where its data is (location.place): CA"
    )
    assert "not known" not in outside.message
    assert findings["foreign-law-reach"].missing == ("control.jurisdictions",)


def test_only_rules_that_apply_to_the_kind_run(ruleset: RuleSet) -> None:
    account = Asset("aws:1:account", "aws.account", "1", {"region_guardrail": False})
    findings = evaluate(ruleset, [ResolvedAsset(account, UNKNOWN_LOCATION, AWS_CONTROL)], POLICY)
    assert {f.rule_id for f in findings} == {
        "account-without-region-guardrail",
        "sovereign-offer-foreign-parent",
    }
    unknown_kind = Asset("x", "gcp.bucket", "x", {})
    assert (
        evaluate(ruleset, [ResolvedAsset(unknown_kind, UNKNOWN_LOCATION, AWS_CONTROL)], POLICY)
        == ()
    )


def test_findings_come_in_asset_then_rule_order_and_are_deterministic(ruleset: RuleSet) -> None:
    assets = [resolved_bucket("b", "ca-central-1"), resolved_bucket("a", "us-east-1")]
    first = evaluate(ruleset, assets, POLICY)
    assert first == evaluate(ruleset, assets, POLICY)
    order = [(f.asset_id, f.rule_id) for f in first]
    expected_assets = [a.asset.id for a in assets]
    assert [a for a, _ in order] == sorted((a for a, _ in order), key=expected_assets.index)
    for asset_id in expected_assets:
        rules = [r for a, r in order if a == asset_id]
        assert rules == sorted(rules)
    assert len({f.key for f in first}) == len(first)


def test_findings_carry_the_evidence_of_the_facts_read(ruleset: RuleSet) -> None:
    seen = Evidence("aws:s3:GetBucketLocation", "ca-central-1", T0, Confidence.HIGH)
    located = Evidence("catalogue:regions", "ca-central-1 is Montreal", T0, Confidence.HIGH)
    owned = Evidence("catalogue:providers", "aws is Amazon", T0, Confidence.MEDIUM)
    bucket = resolved_bucket()
    resolved = ResolvedAsset(
        replace(bucket.asset, evidence=(seen,)),
        replace(bucket.location, evidence=(located,)),
        replace(bucket.control, evidence=(owned,)),
    )
    findings = by_rule(evaluate(ruleset, [resolved], POLICY), bucket.asset.id)
    assert findings["foreign-law-reach"].evidence == (seen, owned)
    assert findings["data-outside-allowed-locations"].evidence == (seen, located)


def test_a_policy_change_changes_the_outcome(ruleset: RuleSet) -> None:
    bucket = resolved_bucket()
    home_us = Policy("X", "US", ("US",), ("US",), "personal")
    findings = by_rule(evaluate(ruleset, [bucket], home_us), bucket.asset.id)
    assert findings["foreign-law-reach"].status is Status.OK
    assert findings["data-outside-allowed-locations"].status is Status.RISK
    assert "outside the allowed locations US" in findings["data-outside-allowed-locations"].message


def test_an_edge_location_is_judged_by_the_edge_rule(ruleset: RuleSet) -> None:
    asset = Asset("dns:u.example:host:www.u.example", "dns.host", "www.u.example", {})
    edge = Location("cloudflare", None, None, None, True, Method.PUBLISHED_RANGES, Confidence.HIGH)
    control = Control(
        "Cloudflare, Inc.",
        "Cloudflare, Inc.",
        ("US",),
        ("us-cloud-act",),
        Method.CATALOGUE,
        Confidence.MEDIUM,
    )
    findings = by_rule(evaluate(ruleset, [ResolvedAsset(asset, edge, control)], POLICY), asset.id)
    assert findings["global-edge-sensitive-data"].status is Status.RISK
    assert findings["location-unknown"].status is Status.OK


def test_an_unknown_finding_names_what_is_not_known_in_words_and_field() -> None:
    from sovscan.engine.facts import FACT_WORDS, fact_words

    assert set(FACT_WORDS) == set(FACT_TYPES)  # every documented field has its words
    assert fact_words("location.country") == "the country its data is in (location.country)"
    assert fact_words("asset.attr.region_guardrail") == (
        "its region guardrail (asset.attr.region_guardrail)"
    )


US_RULE = """\
id: sensitive-data-in-the-us
title: Sensitive data stored in the United States
severity: high
applies_to: [aws.s3.bucket]
match:
  all:
    - field: asset.sensitive
      op: equals
      value: true
    - field: location.country
      op: equals
      value: US
message: "{asset.name} is in the US"
rationale: A custom rule of an institution.
remediation: Move it.
references: []
tags: []
"""


def test_the_public_label_is_named_only_when_it_is_what_made_the_finding_ok(
    tmp_path: Path,
) -> None:
    # It was appended to every OK of a rule reading asset.sensitive: a public bucket in Montreal
    # read "ok because public" although its place alone made it ok.
    (tmp_path / "sensitive-data-in-the-us.yaml").write_text(US_RULE, encoding="utf-8")
    rules = load_rules(tmp_path)
    public = {"classification": "public"}

    def message(name: str, region: str, country: str | None, attributes: Mapping[str, str]) -> str:
        bucket = resolved_bucket(name, region)
        resolved = ResolvedAsset(
            replace(bucket.asset, attributes={**bucket.asset.attributes, **attributes}),
            replace(bucket.location, country=country, subdivision=None),
            bucket.control,
        )
        (finding,) = evaluate(rules, [resolved], POLICY)
        assert finding.status is Status.OK
        return finding.message

    prefix = "Sensitive data stored in the United States: not the case for "
    # In Montreal: the place decided; sensitive, it would be ok all the same.
    assert message("web", "ca-central-1", "CA", public) == f"{prefix}web"
    # In Virginia: only the label keeps it from being a risk.
    exempt = "Sensitive data stored in the United States: does not apply to web, classified "
    assert message("web", "us-east-1", "US", public) == f"{exempt}public (not sensitive data)"
    # Public, with its place unknown: sensitive, it would be unknown, so the label decided; it
    # must not read "not the case", as if the place were known.
    assert message("web", "us-east-1", None, public) == f"{exempt}public (not sensitive data)"
    # A sensitive bucket's OK never names a label.
    assert message("research", "ca-central-1", "CA", {}) == f"{prefix}research"
