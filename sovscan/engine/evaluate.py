"""Pure evaluation: every rule on every asset it applies to gives exactly one Finding."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sovscan.engine.facts import Facts, FactValue, facts_of
from sovscan.engine.loader import RuleSet
from sovscan.engine.rule import Predicate, Rule, compile_leaves, compile_node, unknown_fields
from sovscan.model import AttrValue, Evidence, Finding, Policy, ResolvedAsset, Status

_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
UNKNOWN_TEXT = "unknown"
_CONFIG_PREFIX = "config."


MessagePart = tuple[str, str | None, bool]
"""Literal text, then the placeholder's field (or config name) and whether it is a config name."""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule bound to one policy: its closure, its leaves (for `missing`) and its message parts."""

    rule: Rule
    predicate: Predicate
    checks: tuple[tuple[str, Predicate], ...]
    message: tuple[MessagePart, ...]
    ok_prefix: str  # "<title>: not the case for ", built once rather than per OK finding
    reads_location: bool
    reads_control: bool


def compile_rule(rule: Rule, config: Mapping[str, AttrValue]) -> CompiledRule:
    """Bind `rule` to the policy's values once, so evaluation does no parsing or dispatch."""
    fields = rule.fields
    return CompiledRule(
        rule=rule,
        predicate=compile_node(rule.match, config),
        checks=compile_leaves(rule.match, config),
        message=split_message(rule.message),
        ok_prefix=f"{rule.title}: not the case for ",
        reads_location=any(field.startswith("location.") for field in fields),
        reads_control=any(field.startswith("control.") for field in fields),
    )


def split_message(template: str) -> tuple[MessagePart, ...]:
    """``"{asset.name} is in {location.country}"`` -> literal text and placeholder parts."""
    parts: list[MessagePart] = []
    position = 0
    for found in _PLACEHOLDER_RE.finditer(template):
        name = found.group(1)
        from_config = name.startswith(_CONFIG_PREFIX)
        parts.append(
            (
                template[position : found.start()],
                name[len(_CONFIG_PREFIX) :] if from_config else name,
                from_config,
            )
        )
        position = found.end()
    parts.append((template[position:], None, False))
    return tuple(parts)


def render(parts: tuple[MessagePart, ...], facts: Facts, config: Mapping[str, AttrValue]) -> str:
    """Fill placeholders by plain substitution; an unknown fact reads "unknown"."""
    out: list[str] = []
    for literal, name, from_config in parts:
        out.append(literal)
        if name is not None:
            value = config.get(name) if from_config else facts.get(name)
            out.append(value if type(value) is str else show(value))
    return "".join(out)


def show(value: FactValue) -> str:
    """How a fact reads in a message."""
    if value is None:
        return UNKNOWN_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "none"
    return str(value)


def evaluate(
    ruleset: RuleSet, assets: Sequence[ResolvedAsset], policy: Policy
) -> tuple[Finding, ...]:
    """Findings for every (asset, rule) pair in scope, in asset order then rule id order."""
    config = policy.config_values()
    compiled = tuple(compile_rule(rule, config) for rule in ruleset.rules)
    by_kind: dict[str, tuple[CompiledRule, ...]] = {}
    findings: list[Finding] = []
    for resolved in assets:
        kind = resolved.asset.kind
        in_scope = by_kind.get(kind)
        if in_scope is None:
            in_scope = by_kind[kind] = tuple(c for c in compiled if c.rule.applies(kind))
        if not in_scope:
            continue
        facts = facts_of(resolved, policy)
        evidence = _EvidenceFor(resolved)
        findings.extend(judge(c, resolved, facts, config, evidence) for c in in_scope)
    return tuple(findings)


def judge(
    compiled: CompiledRule,
    resolved: ResolvedAsset,
    facts: Facts,
    config: Mapping[str, AttrValue],
    evidence: _EvidenceFor | None = None,
) -> Finding:
    """The finding of one compiled rule on one asset whose facts are already built."""
    rule = compiled.rule
    outcome = compiled.predicate(facts)
    missing: tuple[str, ...] = ()
    if outcome is True:
        status = Status.RISK
        message = render(compiled.message, facts, config)
    elif outcome is False:
        status = Status.OK
        message = compiled.ok_prefix + resolved.asset.name
    else:
        status = Status.UNKNOWN
        missing = unknown_fields(compiled.checks, facts) or rule.fields
        message = (
            f"{rule.title}: cannot tell for {resolved.asset.name}; unknown: {', '.join(missing)}"
        )
    cited = (evidence or _EvidenceFor(resolved)).get(
        compiled.reads_location, compiled.reads_control
    )
    # Positional arguments: a frozen dataclass's keyword call is measurably slower at 1M findings.
    return Finding(
        rule.id,
        resolved.asset.id,
        status,
        rule.severity,
        message,
        missing,
        cited,
        rule.references,
        rule.source,
    )


class _EvidenceFor:
    """The evidence of one asset, combined once per shape: a finding cites only what its rule read
    (the asset's own evidence, plus location and/or control evidence)."""

    __slots__ = ("_cache", "_resolved")

    def __init__(self, resolved: ResolvedAsset) -> None:
        self._resolved = resolved
        self._cache: dict[tuple[bool, bool], tuple[Evidence, ...]] = {}

    def get(self, location: bool, control: bool) -> tuple[Evidence, ...]:
        found = self._cache.get((location, control))
        if found is None:
            resolved = self._resolved
            found = resolved.asset.evidence
            if location:
                found = (*found, *resolved.location.evidence)
            if control:
                found = (*found, *resolved.control.evidence)
            self._cache[(location, control)] = found
        return found
