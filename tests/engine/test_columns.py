"""Columnar verdicts equal the per-asset compiled predicates, on random rules and random assets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, overload

from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.engine import RuleSet, evaluate, load_rules
from sovscan.engine.columns import FALSE, OUT_OF_SCOPE, TRUE, UNKNOWN, verdicts
from sovscan.engine.evaluate import compile_rule, judge
from sovscan.engine.facts import FACT_TYPES, facts_of
from sovscan.engine.rule import All, AnyOf, ConfigRef, Leaf, Node, Not, Rule
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    AttrValue,
    Confidence,
    Control,
    Evidence,
    Finding,
    Location,
    Method,
    ResolvedAsset,
    Severity,
)
from tests.factories import POLICY

CONFIG = POLICY.config_values()
WHEN = datetime(2026, 11, 24, tzinfo=UTC)
KINDS = ("aws.s3.bucket", "aws.account", "dns.mx", "saas.endpoint")
PLACES = ("CA", "CA-QC", "CA-ON", "US", "FR", "EU", "True", "1")
TEXTS = ("aws", "customer", "none", "unknown", "public", "personal")
ATTR_KEYS = ("classification", "flag", "places", "manager")
SHIPPED = load_rules()

scalars = st.one_of(
    st.sampled_from(PLACES + TEXTS),
    st.booleans(),
    st.integers(-1, 2),
)
attr_values: st.SearchStrategy[AttrValue] = st.one_of(
    scalars, st.lists(st.sampled_from(PLACES), max_size=3).map(tuple)
)


def _location(draw: st.DrawFn) -> Location:
    if draw(st.booleans()):
        return UNKNOWN_LOCATION
    subdivision = draw(st.sampled_from((None, "CA-QC", "US-VA")))
    country = None if subdivision is None and draw(st.booleans()) else "CA"
    evidence = (Evidence("test", "drawn", WHEN, Confidence.HIGH),)
    return Location(
        draw(st.sampled_from(("aws", "ovh", None))),
        draw(st.sampled_from(("ca-central-1", None))),
        country,
        subdivision,
        draw(st.booleans()),
        draw(st.sampled_from((Method.PUBLISHED_RANGES, Method.CATALOGUE))),
        Confidence.HIGH,
        evidence,
    )


def _control(draw: st.DrawFn) -> Control:
    if draw(st.booleans()):
        return UNKNOWN_CONTROL
    jurisdictions = draw(st.one_of(st.none(), st.lists(st.sampled_from(PLACES), max_size=2)))
    laws = draw(st.one_of(st.none(), st.just(("us-cloud-act",)), st.just(())))
    return Control(
        draw(st.sampled_from(("Amazon Web Services, Inc.", "OVH", None, ""))),
        draw(st.sampled_from(("Amazon.com, Inc.", None))),
        None if jurisdictions is None else tuple(jurisdictions),
        laws,
        Method.CATALOGUE,
        Confidence.MEDIUM,
    )


@st.composite
def batches(draw: st.DrawFn) -> list[ResolvedAsset]:
    """Assets sharing a few Location and Control objects, some equal but distinct objects."""
    locations = [_location(draw) for _ in range(draw(st.integers(1, 4)))]
    controls = [_control(draw) for _ in range(draw(st.integers(1, 4)))]
    out = []
    for i in range(draw(st.integers(0, 30))):
        keys = draw(st.lists(st.sampled_from(ATTR_KEYS), max_size=4, unique=True))
        attributes = {key: draw(attr_values) for key in keys}
        asset = Asset(f"t:{i}", draw(st.sampled_from(KINDS)), f"asset-{i}", attributes, ())
        location = draw(st.sampled_from(locations))
        if draw(st.integers(0, 4)) == 0:  # an equal Location, but another object
            location = Location(*(getattr(location, f) for f in location.__slots__))
        out.append(ResolvedAsset(asset, location, draw(st.sampled_from(controls))))
    return out


FIELDS = (*FACT_TYPES, *(f"asset.attr.{key}" for key in ATTR_KEYS))


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(("equals", "in", "intersects", "subset_of", "matches", "exists")))
    op = draw(st.sampled_from((op, "within")))
    value: Any
    if op == "exists":
        value = None
    elif op == "matches":
        value = re.compile(draw(st.sampled_from(("CA.*", ".+", "aws", "True|1"))))
    elif op == "equals":
        value = draw(scalars)
    elif draw(st.integers(0, 3)) == 0:
        value = ConfigRef(draw(st.sampled_from(("allowed_locations", "home_jurisdictions"))))
    else:
        value = tuple(draw(st.lists(scalars if op != "within" else st.sampled_from(PLACES))))
    return Leaf(field, op, value)


def trees() -> st.SearchStrategy[Node]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda items: All(tuple(items))),
            st.lists(inner, max_size=3).map(lambda items: AnyOf(tuple(items))),
            inner.map(Not),
        ),
        max_leaves=6,
    )


def rule_of(match: Node, applies_to: tuple[str, ...], number: int = 0) -> Rule:
    return Rule(
        f"drawn-{number}",
        "Drawn",
        Severity.MEDIUM,
        applies_to,
        match,
        "{asset.name}",
        "",
        "",
        (),
        (),
        "rules/drawn.yaml",
    )


def expected(rules: list[Rule], assets: list[ResolvedAsset]) -> list[list[int]]:
    """What the per-asset path says: the compiled predicate on each asset's facts."""
    code = {True: TRUE, False: FALSE, None: UNKNOWN}
    out = []
    for rule in rules:
        predicate = compile_rule(rule, CONFIG).predicate
        out.append(
            [
                code[predicate(facts_of(resolved, POLICY))]
                if rule.applies(resolved.asset.kind)
                else OUT_OF_SCOPE
                for resolved in assets
            ]
        )
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(trees(), st.lists(st.sampled_from((*KINDS, "aws.*", "*")), min_size=1)),
        min_size=1,
        max_size=4,
    ),
    batches(),
)
def test_columnar_verdicts_equal_the_compiled_predicates(
    drawn: list[tuple[Node, list[str]]], assets: list[ResolvedAsset]
) -> None:
    rules = [rule_of(match, tuple(kinds), i) for i, (match, kinds) in enumerate(drawn)]
    got = [list(row) for row in verdicts(rules, assets, POLICY, CONFIG)]
    assert got == expected(rules, assets)


@settings(max_examples=100, deadline=None)
@given(batches())
def test_the_shipped_rules_agree_on_both_paths(assets: list[ResolvedAsset]) -> None:
    got = [list(row) for row in verdicts(SHIPPED.rules, assets, POLICY, CONFIG)]
    assert got == expected(list(SHIPPED.rules), assets)


def asset(i: int, kind: str, **attributes: AttrValue) -> ResolvedAsset:
    return ResolvedAsset(
        Asset(f"t:{i}", kind, f"a{i}", attributes, ()), UNKNOWN_LOCATION, UNKNOWN_CONTROL
    )


def test_true_and_one_are_told_apart_where_a_test_can_tell() -> None:
    # True == 1 as a dictionary key; `within` reads the text of a value, so "True" is inside
    # ("True",) and "1" is not.
    rule = rule_of(Leaf("asset.attr.flag", "within", ("True",)), ("*",))
    assets = [asset(0, "dns.mx", flag=True), asset(1, "dns.mx", flag=1), asset(2, "dns.mx")]
    (row,) = verdicts([rule], assets, POLICY, CONFIG)
    assert list(row) == [TRUE, FALSE, UNKNOWN]
    (row,) = verdicts([rule], assets[::-1], POLICY, CONFIG)
    assert list(row) == [UNKNOWN, FALSE, TRUE]


def test_an_attribute_is_read_only_on_the_kinds_whose_rules_read_it() -> None:
    guardrail = rule_of(Leaf("asset.attr.guard", "equals", False), ("aws.account",), 1)
    everyone = rule_of(Leaf("asset.attr.guard", "exists", None), ("*",), 2)
    assets = [
        asset(0, "dns.mx", guard=False),
        asset(1, "aws.account", guard=False),
        asset(2, "dns.mx", guard=True),
        asset(3, "aws.account", guard="unknown"),
        asset(4, "aws.account", guard=True),
        asset(5, "dns.mx"),
    ]
    rows = verdicts([guardrail, everyone], assets, POLICY, CONFIG)
    assert list(rows[0]) == [OUT_OF_SCOPE, TRUE, OUT_OF_SCOPE, UNKNOWN, FALSE, OUT_OF_SCOPE]
    assert list(rows[1]) == [TRUE, TRUE, TRUE, FALSE, TRUE, FALSE]
    only_accounts = verdicts([guardrail], assets, POLICY, CONFIG)
    assert only_accounts[0] == rows[0]


def test_attributes_in_any_mapping_are_read() -> None:
    rule = rule_of(Leaf("asset.attr.guard", "equals", False), ("*",))
    plain = [asset(0, "dns.mx", guard=False), asset(1, "dns.mx", guard=True)]
    proxied = [
        replace(r, asset=replace(r.asset, attributes=MappingProxyType(dict(r.asset.attributes))))
        for r in plain
    ]
    assert list(verdicts([rule], proxied, POLICY, CONFIG)[0]) == [TRUE, FALSE]
    mixed = [plain[0], proxied[1]]
    assert list(verdicts([rule], mixed, POLICY, CONFIG)[0]) == [TRUE, FALSE]


def test_values_outside_attrvalue_are_decided_asset_by_asset() -> None:
    # Equal as keys, told apart by `within`, which reads their text: the batch falls back to the
    # per-asset closures rather than merging them.
    within = rule_of(Leaf("asset.attr.x", "within", ("True", "0.0")), ("*",))
    exists = rule_of(Leaf("asset.attr.x", "exists", None), ("*",), 1)
    for values in (
        [(True,), (1,)],  # tuples of numbers
        [-0.0, 0.0],  # floats
        [["CA"], "CA"],  # a list: unhashable
    ):
        assets = [asset(i, "dns.mx", x=value) for i, value in enumerate(values)]  # type: ignore[arg-type]
        got = [list(row) for row in verdicts([within, exists], assets, POLICY, CONFIG)]
        assert got == expected([within, exists], assets), values


def test_no_assets_and_no_rules() -> None:
    rule = rule_of(Leaf("asset.kind", "exists", None), ("*",))
    assert verdicts([rule], [], POLICY, CONFIG) == (b"",)
    assert verdicts([], [asset(0, "dns.mx")], POLICY, CONFIG) == ()


def one_by_one(rules: list[Rule], assets: list[ResolvedAsset]) -> list[Finding]:
    """The findings as evaluate() wrote them before the columns: facts and judge, per asset."""
    compiled = [compile_rule(rule, CONFIG) for rule in rules]
    out = []
    for resolved in assets:
        in_scope = [c for c in compiled if c.rule.applies(resolved.asset.kind)]
        if in_scope:
            facts = facts_of(resolved, POLICY)
            out += [judge(c, resolved, facts, CONFIG) for c in in_scope]
    return out


MESSAGES = (
    "{asset.name} is in {location.place} under {control.jurisdictions}",
    "{asset.attr.flag} / {asset.attr.places} / {asset.sensitive} ({config.home})",
    "no placeholder",
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            trees(), st.sampled_from(("*", "dns.*", "aws.s3.bucket")), st.sampled_from(MESSAGES)
        ),
        min_size=1,
        max_size=4,
    ),
    batches(),
)
def test_evaluate_writes_what_the_per_asset_path_wrote(
    drawn: list[tuple[Node, str, str]], assets: list[ResolvedAsset]
) -> None:
    rules = [
        replace(rule_of(match, (kinds,), i), message=message)
        for i, (match, kinds, message) in enumerate(drawn)
    ]
    assert list(evaluate(RuleSet(tuple(rules), {}, ""), assets, POLICY)) == one_by_one(
        rules, assets
    )


class Lazy(Sequence[ResolvedAsset]):
    """Builds each asset when it is read, so nothing keeps an earlier one's Location alive."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> ResolvedAsset: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ResolvedAsset]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not 0 <= index < self.size:
            raise IndexError(index)
        country = ("CA", "US", "FR")[index % 3]
        location = Location("aws", None, country, None, False, Method.CATALOGUE, Confidence.HIGH)
        return ResolvedAsset(
            Asset(f"t:{index}", "dns.mx", f"n{index}", {}, ()), location, UNKNOWN_CONTROL
        )


def test_findings_of_assets_made_on_the_fly_keep_their_own_place() -> None:
    # A freed Location's address is reused by the next one: facts must not be shared by address.
    rule = replace(
        rule_of(Leaf("location.country", "exists", None), ("*",)),
        message="{asset.name} in {location.country}",
    )
    assets = Lazy(200)
    found = evaluate(RuleSet((rule,), {}, ""), assets, POLICY)
    assert [f.message for f in found] == [
        f"n{i} in {('CA', 'US', 'FR')[i % 3]}" for i in range(200)
    ]
