"""Rule verdicts for many assets at once.

Thousands of assets share a handful of kinds, places, operators and attribute values, so a leaf is
decided once per distinct value of the column it reads, by its closure from `rule.compile_leaves`
(the code behind the per-asset predicates), and the rule trees are then combined over arrays in
Kleene order (false < unknown < true: "all of" is the minimum, "any of" the maximum, "not" the
mirror).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import repeat
from operator import attrgetter, methodcaller
from typing import Any

import numpy as np
import numpy.typing as npt

from sovscan.engine.facts import (
    ATTR_PREFIX,
    FactValue,
    attribute_fact,
    classification_of,
    control_facts,
    facts_of,
    location_facts,
)
from sovscan.engine.rule import All, Leaf, Node, Not, Rule, compile_leaves, compile_node
from sovscan.model import AttrValue, Policy, ResolvedAsset

FALSE, UNKNOWN, TRUE, OUT_OF_SCOPE = 0, 1, 2, 3
"""A verdict byte; the first three are in Kleene order."""

Codes = npt.NDArray[np.intp]
Truths = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class _Column:
    """One source of facts, encoded: each asset's index into `values` (its distinct values)."""

    codes: Codes
    values: Sequence[Any]


def verdicts(
    rules: Sequence[Rule],
    assets: Sequence[ResolvedAsset],
    policy: Policy,
    config: Mapping[str, AttrValue],
) -> tuple[bytes, ...]:
    """For each rule, one byte per asset: FALSE, UNKNOWN, TRUE, or OUT_OF_SCOPE for its kind.

    The verdicts equal those of the rule's compiled predicate on `facts_of` each asset (the
    property tests compare the two). Attribute values outside `AttrValue` (a float, a list, a
    tuple of numbers: an inventory never gives them, a caller might) may compare equal to values
    a test tells apart, so such a batch is decided asset by asset instead.
    """
    try:
        return _by_columns(rules, assets, policy, config)
    except _Irregular:
        return _one_by_one(rules, assets, policy, config)


class _Irregular(Exception):
    """A column holds a value outside `AttrValue`: distinct values may not encode apart."""


def _one_by_one(
    rules: Sequence[Rule],
    assets: Sequence[ResolvedAsset],
    policy: Policy,
    config: Mapping[str, AttrValue],
) -> tuple[bytes, ...]:
    predicates = [compile_node(rule.match, config) for rule in rules]
    rows = [bytearray([OUT_OF_SCOPE]) * len(assets) for _ in rules]
    for position, resolved in enumerate(assets):
        facts = facts_of(resolved, policy)
        for rule, predicate, row in zip(rules, predicates, rows, strict=True):
            if rule.applies(resolved.asset.kind):
                row[position] = _TRUTH[predicate(facts)]
    return tuple(bytes(row) for row in rows)


def _by_columns(
    rules: Sequence[Rule],
    assets: Sequence[ResolvedAsset],
    policy: Policy,
    config: Mapping[str, AttrValue],
) -> tuple[bytes, ...]:
    kind_codes, kinds = _encode_values(list(map(attrgetter("asset.kind"), assets)))
    scopes = [np.array([rule.applies(kind) for kind in kinds], dtype=bool) for rule in rules]
    # An attribute is read only on the kinds of the rules that read it (an account's guardrail).
    reach: dict[str, npt.NDArray[np.bool_]] = {}
    for rule, scope in zip(rules, scopes, strict=True):
        for field in rule.fields:
            source = _source_of(field)
            reach[source] = reach[source] | scope if source in reach else scope
    columns = _Columns(assets, policy, kind_codes, reach)
    out: list[bytes] = []
    for rule, scope in zip(rules, scopes, strict=True):
        where = np.flatnonzero(scope[kind_codes]) if kinds else np.empty(0, np.intp)
        row = np.full(len(assets), OUT_OF_SCOPE, dtype=np.int8)
        if len(where):
            row[where] = _rule_truths(rule, where, columns, config)
        out.append(row.tobytes())
    return tuple(out)


def _rule_truths(
    rule: Rule, where: Codes, columns: _Columns, config: Mapping[str, AttrValue]
) -> Truths:
    """The rule's verdict on the assets at `where`."""
    checks = dict(zip(_leaf_ids(rule.match), compile_leaves(rule.match, config), strict=True))

    def leaf_truth(leaf: Leaf) -> Truths:
        field, check = checks[id(leaf)]
        table = np.array([_TRUTH[check({field: fact})] for fact in columns.facts(field)], np.int8)
        return table[columns.get(field).codes[where]]

    return _combine(rule.match, leaf_truth, len(where))


_TRUTH = {False: FALSE, None: UNKNOWN, True: TRUE}


def _leaf_ids(node: Node) -> list[int]:
    """The identities of the leaves under `node`, in `compile_leaves` order (depth first)."""
    if isinstance(node, Leaf):
        return [id(node)]
    if isinstance(node, Not):
        return _leaf_ids(node.item)
    return [leaf for item in node.items for leaf in _leaf_ids(item)]


def _combine(node: Node, leaf_truth: Callable[[Leaf], Truths], size: int) -> Truths:
    if isinstance(node, Leaf):
        return leaf_truth(node)
    if isinstance(node, Not):
        return (TRUE - _combine(node.item, leaf_truth, size)).astype(np.int8)
    is_all = isinstance(node, All)
    parts = [_combine(item, leaf_truth, size) for item in node.items]
    if not parts:  # as in the closures: an empty "all of" is true, an empty "any of" false
        return np.full(size, TRUE if is_all else FALSE, dtype=np.int8)
    joined: Truths = reduce(np.minimum if is_all else np.maximum, parts)
    return joined


class _Columns:
    """The columns of one batch of assets, each encoded on first use."""

    def __init__(
        self,
        assets: Sequence[ResolvedAsset],
        policy: Policy,
        kind_codes: Codes,
        reach: Mapping[str, npt.NDArray[np.bool_]],
    ) -> None:
        self._assets = assets
        self._policy = policy
        self._kind_codes = kind_codes
        self._reach = reach
        self._columns: dict[str, _Column] = {}
        self._facts: dict[str, tuple[FactValue, ...]] = {}
        self._attributes: tuple[list[Mapping[str, AttrValue]], bool] | None = None

    def get(self, field: str) -> _Column:
        """The column that `field`'s facts are read from (location fields share one, etc.)."""
        source = _source_of(field)
        column = self._columns.get(source)
        if column is None:
            column = self._columns[source] = self._encode(source)
        return column

    def facts(self, field: str) -> tuple[FactValue, ...]:
        """`field`'s fact for each distinct value of its column, in code order."""
        found = self._facts.get(field)
        if found is None:
            values = self.get(field).values
            derive = self._derivation(field)
            found = self._facts[field] = tuple(derive(value) for value in values)
        return found

    def _derivation(self, field: str) -> Callable[[Any], FactValue]:
        policy = self._policy
        if field.startswith("location."):
            return lambda location: location_facts(location)[field]
        if field.startswith("control."):
            return lambda control: control_facts(control)[field]
        if field == "asset.classification":
            return lambda raw: classification_of(raw, policy)
        if field == "asset.sensitive":
            return lambda raw: policy.is_sensitive(classification_of(raw, policy))
        if field.startswith(ATTR_PREFIX):
            return attribute_fact
        return lambda value: value  # asset.id, asset.kind, asset.name: the value itself

    def _encode(self, source: str) -> _Column:
        # map() with operator getters keeps the per-asset work in C, and the assets are read in
        # their own order, mostly the order they sit in memory: this runs on every asset.
        if source in ("location", "control"):
            # Resolution shares one Location or Control among the assets it places alike; they
            # are told apart by identity, since hashing a frozen dataclass hashes its evidence.
            objects = list(map(attrgetter(source), self._assets))
            identities = list(map(id, objects))
            codes, _ = _encode(identities)
            by_identity = dict(zip(identities, objects, strict=True))  # in order of first sight
            return _Column(codes, tuple(by_identity.values()))
        if source.startswith("attr:"):
            return self._attribute_column(source)
        return _Column(*_encode_values(list(map(attrgetter("asset." + source), self._assets))))

    def _attribute_column(self, source: str) -> _Column:
        """An attribute, read only on the assets of the kinds whose rules read it."""
        if self._attributes is None:
            every = list(map(attrgetter("asset.attributes"), self._assets))
            self._attributes = (every, set(map(type, every)) <= {dict})
        attributes, plain = self._attributes
        positions = None
        reach = self._reach.get(source)
        if reach is not None and not reach.all():
            positions = np.flatnonzero(reach[self._kind_codes])
            attributes = list(map(attributes.__getitem__, positions.tolist()))
        name = source[len("attr:") :]
        values: list[Hashable] = (
            # dict.get unbound takes half the time of a method call on each mapping.
            list(map(dict.get, attributes, repeat(name, len(attributes))))  # type: ignore[arg-type]
            if plain
            else list(map(methodcaller("get", name), attributes))
        )
        codes, distinct = _encode_values(values)
        if positions is not None:
            # Assets outside the reach read code 0: no rule that reads this column sees them.
            spread = np.zeros(len(self._assets), dtype=np.intp)
            spread[positions] = codes
            codes = spread
        return _Column(codes, tuple(distinct))


def _encode_values(values: list[Any]) -> tuple[Codes, list[Any]]:
    """`_encode` for fact values; raises _Irregular for a value outside `AttrValue`."""
    try:
        codes, distinct = _encode(values)
    except TypeError:  # unhashable, e.g. a list
        raise _Irregular from None
    numbers = False
    for value in distinct:
        kind = type(value)
        if isinstance(value, tuple) and kind is tuple:
            # Text equals only text, so a tuple of text hides no other tuple behind it.
            if not all(type(item) is str for item in value):
                raise _Irregular
        elif kind is int or kind is bool:
            numbers = True
        elif kind is not str and value is not None:
            raise _Irregular
    # A number hidden behind an equal one is a number too, so columns without one need no check.
    if numbers and {int, bool} <= set(map(type, values)):
        # True == 1 as dictionary keys, yet a test may tell them apart: keep the types apart.
        codes, typed = _encode([(type(value), value) for value in values])
        distinct = [pair[1] for pair in typed if isinstance(pair, tuple)]
    return codes, distinct


def _source_of(field: str) -> str:
    if field.startswith("location."):
        return "location"
    if field.startswith("control."):
        return "control"
    if field in ("asset.classification", "asset.sensitive"):
        return "attr:classification"
    if field.startswith(ATTR_PREFIX):
        return "attr:" + field[len(ATTR_PREFIX) :]
    return field[len("asset.") :]  # id, kind, name


def _encode(values: Sequence[Hashable]) -> tuple[Codes, list[Hashable]]:
    """Each value's index among the distinct values, in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    index = {value: code for code, value in enumerate(distinct)}
    return np.fromiter(map(index.__getitem__, values), dtype=np.intp, count=len(values)), distinct
