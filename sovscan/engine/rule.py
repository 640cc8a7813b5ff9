"""Rules as typed values, and their compilation into three-valued closures over an asset's facts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sovscan.engine.facts import Facts, FactValue
from sovscan.model import AttrValue, Reference, Severity
from sovscan.places import within

Truth = bool | None
"""Kleene truth: True, False, or None for unknown."""

Predicate = Callable[[Facts], Truth]
Scalar = str | int | bool
Literal = Scalar | tuple[Scalar, ...]

OPERATORS: tuple[str, ...] = (
    "equals",
    "in",
    "intersects",
    "subset_of",
    "matches",
    "exists",
    "within",
)
LIST_OPERATORS = frozenset({"in", "intersects", "subset_of", "within"})


@dataclass(frozen=True, slots=True)
class ConfigRef:
    """A value read from the scan's policy (``{config: home_jurisdictions}``) at evaluation time."""

    name: str


@dataclass(frozen=True, slots=True)
class Leaf:
    """One test of one fact field."""

    field: str
    op: str
    value: Literal | ConfigRef | re.Pattern[str] | None  # None only for `exists`


@dataclass(frozen=True, slots=True)
class All:
    """True when every item is; false when any item is false; otherwise unknown."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when any item is; false when every item is false; otherwise unknown."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Swaps true and false; unknown stays unknown."""

    item: Node


Node = Leaf | All | AnyOf | Not


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule file, checked and ready to compile; `match` describes the risky state."""

    id: str
    title: str
    severity: Severity
    applies_to: tuple[str, ...]
    match: Node
    message: str
    rationale: str
    remediation: str
    references: tuple[Reference, ...]
    tags: tuple[str, ...]
    source: str  # the rule file, e.g. "rules/control/foreign-law-reach.yaml"
    # The fact field holding the place a finding is about (location.place, location.declared,
    # asset.attr.replica_places): controls with `transfers_outside` are cited by its value.
    # None: location.place, where the asset is.
    place: str | None = None

    def applies(self, kind: str) -> bool:
        """Whether the rule evaluates assets of `kind`."""
        return any(fnmatchcase(kind, pattern) for pattern in self.applies_to)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fact fields `match` reads, in order of first appearance."""
        return tuple(dict.fromkeys(leaf.field for leaf in leaves(self.match)))


def leaves(node: Node) -> Iterator[Leaf]:
    """Every leaf under `node`, depth first."""
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, Not):
        yield from leaves(node.item)
    else:
        for item in node.items:
            yield from leaves(item)


def compile_node(node: Node, config: Mapping[str, AttrValue]) -> Predicate:
    """A closure evaluating `node` on a facts mapping; config values are bound here, once."""
    if isinstance(node, Leaf):
        return _compile_leaf(node, config)
    if isinstance(node, Not):
        if isinstance(node.item, Leaf):
            # The most common shape ("not within the allowed places") in one call, not two.
            return _compile_leaf(node.item, config, negate=True)
        inner = compile_node(node.item, config)
        return lambda facts: _kleene_not(inner(facts))
    children = tuple(compile_node(item, config) for item in node.items)
    return _all_of(children) if isinstance(node, All) else _any_of(children)


def _kleene_not(value: Truth) -> Truth:
    return None if value is None else not value


def _all_of(children: tuple[Predicate, ...]) -> Predicate:
    def evaluate(facts: Facts) -> Truth:
        result: Truth = True
        for child in children:
            value = child(facts)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    return evaluate


def _any_of(children: tuple[Predicate, ...]) -> Predicate:
    def evaluate(facts: Facts) -> Truth:
        result: Truth = False
        for child in children:
            value = child(facts)
            if value is True:
                return True
            if value is None:
                result = None
        return result

    return evaluate


Test = Callable[[str | int | bool | tuple[str, ...]], Truth]


def _compile_leaf(
    leaf: Leaf, config: Mapping[str, AttrValue], *, negate: bool = False
) -> Predicate:
    field = leaf.field
    if leaf.op == "exists":
        if negate:
            return lambda facts: facts.get(field) is None
        return lambda facts: facts.get(field) is not None
    if isinstance(leaf.value, re.Pattern):
        test = _matches(leaf.value)
    else:
        value = config[leaf.value.name] if isinstance(leaf.value, ConfigRef) else leaf.value
        test = _TESTS[leaf.op](value)

    # A missing fact makes the leaf unknown, whatever the operator (`exists` is handled above).
    if negate:

        def negated(facts: Facts) -> Truth:
            actual = facts.get(field)
            if actual is None:
                return None
            result = test(actual)
            return None if result is None else not result

        return negated

    def evaluate(facts: Facts) -> Truth:
        actual = facts.get(field)
        return None if actual is None else test(actual)

    return evaluate


def _as_tuple(value: FactValue | Literal | AttrValue) -> tuple[Scalar, ...]:
    # A scalar counts as a one-element list for list operators; there is no implicit wildcard.
    if isinstance(value, tuple):
        return value
    return () if value is None else (value,)


def _matches(pattern: re.Pattern[str]) -> Test:
    # Anchored: the whole field must match. A list where text is needed is unknown, not false.
    return lambda actual: bool(pattern.fullmatch(actual)) if isinstance(actual, str) else None


def _equals(expected: Literal | AttrValue | None) -> Test:
    return lambda actual: actual == expected


def _in(expected: Literal | AttrValue | None) -> Test:
    allowed = frozenset(_as_tuple(expected))
    # A list where a scalar is needed is a type mismatch: unknown, never a silent false.
    return lambda actual: None if isinstance(actual, tuple) else actual in allowed


def _intersects(expected: Literal | AttrValue | None) -> Test:
    wanted = frozenset(_as_tuple(expected))
    return lambda actual: not wanted.isdisjoint(_as_tuple(actual))


def _subset_of(expected: Literal | AttrValue | None) -> Test:
    allowed = frozenset(_as_tuple(expected))
    return lambda actual: allowed.issuperset(_as_tuple(actual))


def _within(expected: Literal | AttrValue | None) -> Test:
    areas = tuple(str(area) for area in _as_tuple(expected))
    # Places repeat across thousands of assets; the answer for one code is fixed once compiled.
    # The memo lives in this closure (one compiled rule, one policy), so there is no global state.
    memo: dict[str, Truth] = {}

    def inside(place: str) -> Truth:
        known = memo.get(place, _UNSEEN)
        if known is _UNSEEN:
            known = within(place, areas)
            if len(memo) < _MEMO_LIMIT:  # attribute values are untrusted: bound the memo
                memo[place] = known
        return known  # type: ignore[return-value]

    def test(actual: str | int | bool | tuple[str, ...]) -> Truth:
        if isinstance(actual, str):
            return inside(actual)
        # For a list: false if any element is definitely outside, true if all are inside.
        result: Truth = True
        for place in _as_tuple(actual):
            verdict = inside(str(place))
            if verdict is False:
                return False
            if verdict is None:
                result = None
        return result

    return test


_UNSEEN = object()
_MEMO_LIMIT = 4096

_TESTS: Mapping[str, Callable[[Literal | AttrValue | None], Test]] = {
    "equals": _equals,
    "in": _in,
    "intersects": _intersects,
    "subset_of": _subset_of,
    "within": _within,
}


def compile_leaves(
    node: Node, config: Mapping[str, AttrValue]
) -> tuple[tuple[str, Predicate], ...]:
    """Each leaf's field with its own closure, to say which facts made a result unknown."""
    return tuple((leaf.field, _compile_leaf(leaf, config)) for leaf in leaves(node))


Explainer = Callable[[Facts], list[str]]


def compile_explainer(node: Node, config: Mapping[str, AttrValue]) -> Explainer:
    """A closure naming the fields behind `node`'s unknown result: missing facts, and leaves
    that could not decide, but only where they bear on the result. A clause decided false in an
    `all` (or true in an `any`) is followed only through the items that decided it, so a fact
    of a clause that cannot apply (a SaaS-only clause on a bucket) is not called missing."""
    if isinstance(node, Leaf):
        check = _compile_leaf(node, config)
        field = node.field

        def leaf(facts: Facts) -> list[str]:
            return [field] if facts.get(field) is None or check(facts) is None else []

        return leaf
    if isinstance(node, Not):
        return compile_explainer(node.item, config)
    items = tuple(
        (compile_node(item, config), compile_explainer(item, config)) for item in node.items
    )
    decisive = isinstance(node, AnyOf)  # the value that decides an `any`; False decides an `all`

    def group(facts: Facts) -> list[str]:
        values = [predicate(facts) for predicate, _ in items]
        deciders = [
            explain for value, (_, explain) in zip(values, items, strict=True) if value is decisive
        ]
        chosen = deciders or [explain for _, explain in items]
        return [field for explain in chosen for field in explain(facts)]

    return group
