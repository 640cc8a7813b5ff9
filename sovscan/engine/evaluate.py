"""Pure evaluation: every rule on every asset it applies to gives exactly one Finding."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sovscan.bounds import bounded
from sovscan.engine.columns import FALSE, TRUE, UNKNOWN, verdicts
from sovscan.engine.facts import (
    Facts,
    FactValue,
    asset_facts,
    control_facts,
    fact_words,
    location_facts,
)
from sovscan.engine.loader import (
    DEFAULT_PLACE,
    PLACE_COMPLETE,
    RuleSet,
    cites_transfer,
    other_sector_controls,
    transfer_controls,
)
from sovscan.engine.rule import (
    Explainer,
    Predicate,
    Rule,
    Truth,
    compile_explainer,
    compile_node,
)
from sovscan.model import (
    AttrValue,
    Control,
    Evidence,
    Finding,
    Location,
    Policy,
    Reference,
    ResolvedAsset,
    Status,
    evidence_chain,
    sensitive_label,
)

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
    explain: Explainer  # the fields behind an unknown result
    message: tuple[MessagePart, ...]
    ok_prefix: str  # "<title>: not the case for ", built once rather than per OK finding
    references: tuple[Reference, ...]  # the rule's, to the frameworks in force
    # For each of `references`, the areas whose outside it is about (`transfers_outside`), or
    # () when it is cited whatever the place; empty when none depends on the place.
    transfer_areas: tuple[tuple[str, ...], ...]
    reads_sensitive: bool  # an OK may then be the asset's public label, which the message says
    reads_location: bool
    reads_control: bool


def _public_label(resolved: ResolvedAsset, config: Mapping[str, AttrValue]) -> str:
    """ ", classified public (not sensitive data)" when the asset's label exempts it, so that an
    OK for data in the wrong place, or one nobody could locate, does not read as if it were in
    the right one."""
    raw = resolved.asset.attributes.get("classification")
    label = raw if isinstance(raw, str) else config.get("default_classification")
    sensitive, public = (
        config.get("sensitive_classifications"),
        config.get("public_classifications"),
    )
    if sensitive_label(label, sensitive, public):
        return ""
    return f", classified {label} (not sensitive data)"


class _LabelExemption:
    """For one asset, whether an OK of a rule reading ``asset.sensitive`` is owed to its public
    label: the rule's condition, asked again of the asset taken as sensitive, is then no longer
    false. When another clause decided (the data is at home, say), naming the label would credit
    it wrongly. The label is read once per asset, and the facts taken as sensitive made once."""

    __slots__ = ("_as_sensitive", "note")

    def __init__(self, resolved: ResolvedAsset, config: Mapping[str, AttrValue]) -> None:
        self.note = _public_label(resolved, config)
        self._as_sensitive: dict[str, FactValue] | None = None

    def of(self, compiled: CompiledRule, facts: Facts) -> str:
        """The note for `compiled`'s OK; `facts` must be the asset's whole facts when the
        label is public."""
        if not self.note:
            return ""
        if self._as_sensitive is None:
            self._as_sensitive = {**facts, "asset.sensitive": True}
        return "" if compiled.predicate(self._as_sensitive) is False else self.note


def compile_rule(
    rule: Rule,
    config: Mapping[str, AttrValue],
    cited: Collection[str] | None = None,
    other_sector: Collection[tuple[str, str]] = (),
    transfers: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType({}),
) -> CompiledRule:
    """Bind `rule` to the policy's values once, so evaluation does no parsing or dispatch.
    `cited`: the frameworks whose references findings carry (None: all); `other_sector`: the
    (framework, control) pairs of another sector than the institution's, never carried;
    `transfers`: the controls cited only for a place outside some areas (`transfer_controls`)."""
    fields = rule.fields
    references = rule.references
    if cited is not None or other_sector:
        references = tuple(
            r
            for r in references
            if (cited is None or r.framework in cited)
            and (r.framework, r.control) not in other_sector
        )
    return CompiledRule(
        rule=rule,
        predicate=compile_node(rule.match, config),
        explain=compile_explainer(rule.match, config),
        message=split_message(rule.message),
        ok_prefix=f"{rule.title}: not the case for ",
        references=references,
        transfer_areas=(
            areas
            if any(areas := tuple(transfers.get((r.framework, r.control), ()) for r in references))
            else ()
        ),
        reads_sensitive="asset.sensitive" in fields,
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
    cited = None if policy.frameworks is None else frozenset(policy.frameworks)
    other_sector = other_sector_controls(ruleset.frameworks, policy.sector)
    transfers = transfer_controls(ruleset.frameworks)
    compiled = tuple(
        compile_rule(rule, config, cited, other_sector, transfers) for rule in ruleset.rules
    )
    # Verdicts are decided for the whole batch at once; the per-asset loop below only writes the
    # findings, and builds an asset's facts only when a message needs them.
    rows = verdicts(ruleset.rules, assets, policy, config)
    by_kind: dict[str, tuple[tuple[CompiledRule, bytes], ...]] = {}
    facts_for = _SharedFacts(policy)
    findings: list[Finding] = []
    for position, resolved in enumerate(assets):
        kind = resolved.asset.kind
        in_scope = by_kind.get(kind)
        if in_scope is None:
            in_scope = by_kind[kind] = tuple(
                (c, row) for c, row in zip(compiled, rows, strict=True) if c.rule.applies(kind)
            )
        if not in_scope:
            continue
        facts: Facts = _NO_FACTS
        exemption: _LabelExemption | None = None  # made at the asset's first such OK, if any
        evidence = _EvidenceFor(resolved)
        for rule, row in in_scope:
            verdict = row[position]
            # An OK finding needs the facts too when what it cites depends on its place.
            if verdict != FALSE or rule.transfer_areas:
                if facts is _NO_FACTS:
                    facts = facts_for(resolved)
            elif rule.reads_sensitive:
                if exemption is None:
                    exemption = _LabelExemption(resolved, config)
                # Whether the public label decided takes the condition asked again, on the
                # whole facts: built then, and only for an asset labelled public.
                if exemption.note and facts is _NO_FACTS:
                    facts = facts_for(resolved)
            findings.append(
                decide(rule, resolved, _OUTCOME[verdict], facts, config, evidence, exemption)
            )
    return tuple(findings)


_NO_FACTS: Facts = MappingProxyType({})
_OUTCOME: dict[int, Truth] = {TRUE: True, FALSE: False, UNKNOWN: None}


def judge(
    compiled: CompiledRule,
    resolved: ResolvedAsset,
    facts: Facts,
    config: Mapping[str, AttrValue],
    evidence: _EvidenceFor | None = None,
) -> Finding:
    """The finding of one compiled rule on one asset whose facts are already built."""
    return decide(compiled, resolved, compiled.predicate(facts), facts, config, evidence)


def decide(
    compiled: CompiledRule,
    resolved: ResolvedAsset,
    outcome: Truth,
    facts: Facts,
    config: Mapping[str, AttrValue],
    evidence: _EvidenceFor | None = None,
    exemption: _LabelExemption | None = None,
) -> Finding:
    """The finding for a rule's `outcome` on one asset; `facts` may be empty when it is False,
    unless the rule reads ``asset.sensitive`` and the asset's label is public, or cites a control
    by the finding's place (`transfer_areas`)."""
    rule = compiled.rule
    missing: tuple[str, ...] = ()
    if outcome is True:
        status = Status.RISK
        message = render(compiled.message, facts, config)
    elif outcome is False:
        status = Status.OK
        note = ""
        if compiled.reads_sensitive:
            note = (exemption or _LabelExemption(resolved, config)).of(compiled, facts)
        if note:
            # Not "not the case": the facts may be unknown; the label alone settled it.
            message = f"{rule.title}: does not apply to {resolved.asset.name}{note}"
        else:
            message = compiled.ok_prefix + resolved.asset.name
    else:
        status = Status.UNKNOWN
        missing = tuple(dict.fromkeys(compiled.explain(facts))) or rule.fields
        message = f"{rule.title}: cannot tell for {resolved.asset.name}; " + _why_unknown(
            missing, facts
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
        _references_for(compiled, outcome, facts),
        rule.source,
    )


def _references_for(compiled: CompiledRule, outcome: Truth, facts: Facts) -> tuple[Reference, ...]:
    """The rule's references, less those about a transfer outside areas that the finding's place
    is inside: GDPR art. 44 is no citation for data in Frankfurt. An unknown finding keeps them:
    the place that decides may be another than the one seen (a SaaS vendor's storage)."""
    if not compiled.transfer_areas or outcome is None:
        return compiled.references
    field = compiled.rule.place or DEFAULT_PLACE
    place = facts.get(field)
    complete = PLACE_COMPLETE.get(field)
    if complete is not None and facts.get(complete) is not True:
        place = None  # some place is not known (a replica region nobody placed)
    return tuple(
        reference
        for reference, areas in zip(compiled.references, compiled.transfer_areas, strict=True)
        if not areas or cites_transfer(place, areas)
    )


def _why_unknown(missing: Sequence[str], facts: Facts) -> str:
    """ "not known: ..." for the facts nobody found; a fact that is known but that the rule could
    not judge (jurisdictions CA against a home of CA-QC: too broad) is said to be so, with its
    value, rather than called unknown."""
    absent = [fact_words(field) for field in missing if facts.get(field) is None]
    undecided = [
        f"{fact_words(field)}: {_shown_value(facts[field])}"
        for field in missing
        if facts.get(field) is not None
    ]
    parts = []
    if absent:
        parts.append("not known: " + "; ".join(absent))
    if undecided:
        parts.append("known but not precise enough to judge: " + "; ".join(undecided))
    return "; ".join(parts)


def _shown_value(value: FactValue) -> str:
    text = ", ".join(value) if isinstance(value, tuple) else str(value)
    return bounded(text or "none", 200)


class _SharedFacts:
    """`facts_of`, with the location and control facts built once per object for the batch
    (resolution shares one Location or Control among the assets it places alike)."""

    __slots__ = ("_controls", "_locations", "_policy")

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        # Keyed by identity, each entry holding its object: while it is held, no other object
        # can take its address, whatever kind of sequence the assets come in.
        self._locations: dict[int, tuple[Location, dict[str, FactValue]]] = {}
        self._controls: dict[int, tuple[Control, dict[str, FactValue]]] = {}

    def __call__(self, resolved: ResolvedAsset) -> dict[str, FactValue]:
        facts = asset_facts(resolved.asset, self._policy)
        location, control = resolved.location, resolved.control
        place = self._locations.get(id(location))
        if place is None:
            place = self._locations[id(location)] = (location, location_facts(location))
        operator = self._controls.get(id(control))
        if operator is None:
            operator = self._controls[id(control)] = (control, control_facts(control))
        facts.update(place[1])
        facts.update(operator[1])
        return facts


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
            parts = [resolved.asset.evidence]
            if location:
                parts.append(resolved.location.evidence)
            if control:
                parts.append(resolved.control.evidence)
            found = self._cache[(location, control)] = evidence_chain(*parts)
        return found
