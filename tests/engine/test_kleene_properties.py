"""Three-valued evaluation of the shipped rules: learning an unknown fact never flips a verdict."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.engine import load_rules
from sovscan.engine.evaluate import compile_rule
from sovscan.engine.facts import fact_type
from sovscan.engine.rule import leaves
from tests.factories import POLICY

RULESET = load_rules()
CONFIG = POLICY.config_values()
COMPILED = [compile_rule(rule, CONFIG) for rule in RULESET.rules]
PLACES = ["CA", "CA-QC", "CA-ON", "US", "US-VA", "FR", "EU", "DE"]
TEXTS = ["aws", "aws-eusc", "aws-managed", "aws-owned", "customer", "none", "kms", "x"]


def value_for(field: str) -> st.SearchStrategy[Any]:
    kind = fact_type(field)
    if kind == "bool":
        return st.booleans()
    if kind == "list":
        return st.lists(st.sampled_from([*PLACES, "us-cloud-act"]), max_size=3).map(tuple)
    if kind == "str":
        return st.sampled_from(PLACES + TEXTS)
    return st.one_of(
        st.booleans(),
        st.sampled_from(PLACES + TEXTS),
        st.lists(st.sampled_from(PLACES), max_size=3).map(tuple),
    )


@st.composite
def partial_and_full(draw: st.DrawFn, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts with some fields unknown, and the same facts with every unknown field learnt."""
    rule = COMPILED[index].rule
    # `exists` is the one operator that reads "unknown" as false, so learning its field may
    # change the verdict by design; those fields stay as drawn in both mappings.
    exists_fields = {leaf.field for leaf in leaves(rule.match) if leaf.op == "exists"}
    full: dict[str, Any] = {}
    partial: dict[str, Any] = {}
    for field in rule.fields:
        value = draw(value_for(field))
        known = draw(st.booleans())
        if field in exists_fields:
            if known:
                full[field] = partial[field] = value
            continue
        full[field] = value
        if known:
            partial[field] = value
    return partial, full


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_known_verdict_survives_learning_the_unknown_facts(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(COMPILED) - 1))
    partial, full = data.draw(partial_and_full(index))
    predicate = COMPILED[index].predicate
    before = predicate(partial)
    if before is not None:
        assert predicate(full) is before, COMPILED[index].rule.id


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_unknown_verdict_always_names_a_field(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(COMPILED) - 1))
    partial, _ = data.draw(partial_and_full(index))
    compiled = COMPILED[index]
    if compiled.predicate(partial) is None:
        assert compiled.explain(partial)
