"""The institution's exposure score from findings; the formula is documented in docs/scoring.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from sovscan.engine.loader import RuleSet
from sovscan.model import Finding, Policy, ResolvedAsset, Score, Severity, Status

MAX_WEIGHT = max(severity.weight for severity in Severity)
SENSITIVE_WEIGHT = 2  # a sensitive asset counts twice in the mean: its exposure matters more
OTHER_WEIGHT = 1
DIMENSIONS: tuple[str, ...] = (
    "location",
    "legal-control",
    "keys",
    "replication",
    "edge",
    "control-plane",
)
"""Score dimensions; a rule belongs to the dimensions named among its tags."""


@dataclass(frozen=True, slots=True)
class AssetRisk:
    """One asset's exposure: the weight of its worst RISK finding, and of its worst UNKNOWN one."""

    asset_id: str
    weight: int  # classification weight in the mean (2 sensitive, 1 otherwise)
    risk: int  # highest severity weight among RISK findings; 0 when none
    unknown: int  # highest severity weight among UNKNOWN findings; 0 when none


@dataclass(frozen=True, slots=True)
class ScoreDetail:
    """The score with what Score does not carry: dimensions, per-asset risks, EU-CSF levels."""

    score: Score
    upper_bound: int  # score.upper_bound: the value if every UNKNOWN finding were a RISK
    known_share: int  # score.known_share: percentage of findings that are RISK or OK
    by_dimension: Mapping[str, int]  # the same formula restricted to each dimension's rules
    assets: tuple[AssetRisk, ...]
    eu_csf: Mapping[str, str]  # objective ("SOV-2") -> "SEAL-1", "SEAL-0 to SEAL-2", ...


def classification_weight(resolved: ResolvedAsset, policy: Policy) -> int:
    """2 for an asset whose classification is sensitive under `policy`, else 1."""
    raw = resolved.asset.attributes.get("classification")
    classification = raw if isinstance(raw, str) else policy.default_classification
    return SENSITIVE_WEIGHT if policy.is_sensitive(classification) else OTHER_WEIGHT


def asset_risks(
    assets: Sequence[ResolvedAsset], findings: Sequence[Finding], policy: Policy
) -> tuple[AssetRisk, ...]:
    """Per-asset risk: the highest severity weight of its RISK findings (never a sum)."""
    risk: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for finding in findings:
        if finding.status is Status.RISK:
            risk[finding.asset_id] = max(risk.get(finding.asset_id, 0), finding.severity.weight)
        elif finding.status is Status.UNKNOWN:
            unknown[finding.asset_id] = max(
                unknown.get(finding.asset_id, 0), finding.severity.weight
            )
    return tuple(
        AssetRisk(
            r.asset.id,
            classification_weight(r, policy),
            risk.get(r.asset.id, 0),
            unknown.get(r.asset.id, 0),
        )
        for r in assets
    )


def institution_value(risks: Sequence[tuple[int, int]]) -> int:
    """0-100 from (classification weight, asset risk) pairs: the mean of worst and weighted mean.

    The worst asset alone would hide how widespread a problem is; the mean alone would let one
    critical bucket vanish among a thousand clean ones. Rounded half up.
    """
    total_weight = sum(weight for weight, _ in risks)
    if not total_weight:
        return 0
    worst = max(risk for _, risk in risks)
    mean = sum(weight * risk for weight, risk in risks) / total_weight
    return int(100 * (worst + mean) / (2 * MAX_WEIGHT) + 0.5)


def known_percentage(known: int, total: int) -> int:
    """The share of `total` findings that are RISK or OK, in percent rounded half up; 100 when
    there are no findings (nothing was left unknown)."""
    return int(100 * known / total + 0.5) if total else 100


def score(
    assets: Sequence[ResolvedAsset],
    findings: Sequence[Finding],
    gaps_count: int,
    policy: Policy,
) -> Score:
    """The institution's Score: unknowns are counted apart and never as compliant."""
    risks = asset_risks(assets, findings, policy)
    by_severity = dict.fromkeys((severity.value for severity in Severity), 0)
    by_status = dict.fromkeys((status.value for status in Status), 0)
    unknown_assets: set[str] = set()
    for finding in findings:
        by_status[finding.status.value] += 1
        if finding.status is Status.RISK:
            by_severity[finding.severity.value] += 1
        elif finding.status is Status.UNKNOWN:
            unknown_assets.add(finding.asset_id)
    return Score(
        value=institution_value([(r.weight, r.risk) for r in risks]),
        assets_total=len(assets),
        assets_at_risk=sum(1 for r in risks if r.risk > 0),
        assets_unknown=len(unknown_assets),
        by_severity=MappingProxyType(by_severity),
        by_status=MappingProxyType(by_status),
        complete=gaps_count == 0,
        upper_bound=institution_value([(r.weight, max(r.risk, r.unknown)) for r in risks]),
        known_share=known_percentage(
            len(findings) - by_status[Status.UNKNOWN.value], len(findings)
        ),
    )


@dataclass(slots=True)
class ScoreTally:
    """`score` one asset at a time, for a scan streamed in batches rather than held whole.

    Gives the same Score as `score` over the same assets and (unwaived) findings.
    """

    total_weight: int = 0
    weighted_risk: int = 0
    worst: int = 0
    weighted_bound: int = 0  # as weighted_risk, were every UNKNOWN finding a RISK
    worst_bound: int = 0
    assets_total: int = 0
    assets_at_risk: int = 0
    assets_unknown: int = 0
    by_severity: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((severity.value for severity in Severity), 0)
    )
    by_status: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((status.value for status in Status), 0)
    )

    def add(self, weight: int, findings: Sequence[tuple[Status, Severity]]) -> None:
        """One asset of classification `weight` and the (status, severity) of its findings."""
        risk = 0
        bound = 0
        unknown = False
        for status, severity in findings:
            self.by_status[status.value] += 1
            if status is Status.RISK:
                self.by_severity[severity.value] += 1
                risk = max(risk, severity.weight)
            elif status is Status.UNKNOWN:
                unknown = True
                bound = max(bound, severity.weight)
        bound = max(bound, risk)
        self.assets_total += 1
        self.total_weight += weight
        self.weighted_risk += weight * risk
        self.worst = max(self.worst, risk)
        self.weighted_bound += weight * bound
        self.worst_bound = max(self.worst_bound, bound)
        self.assets_at_risk += risk > 0
        self.assets_unknown += unknown

    def score(self, gaps_count: int) -> Score:
        findings = sum(self.by_status.values())
        return Score(
            value=self._value(self.worst, self.weighted_risk),
            assets_total=self.assets_total,
            assets_at_risk=self.assets_at_risk,
            assets_unknown=self.assets_unknown,
            by_severity=MappingProxyType(dict(self.by_severity)),
            by_status=MappingProxyType(dict(self.by_status)),
            complete=gaps_count == 0,
            upper_bound=self._value(self.worst_bound, self.weighted_bound),
            known_share=known_percentage(findings - self.by_status[Status.UNKNOWN.value], findings),
        )

    def _value(self, worst: int, weighted: int) -> int:
        """`institution_value` from the running sums."""
        if not self.total_weight:
            return 0
        mean = weighted / self.total_weight
        return int(100 * (worst + mean) / (2 * MAX_WEIGHT) + 0.5)


def score_detail(
    ruleset: RuleSet,
    assets: Sequence[ResolvedAsset],
    findings: Sequence[Finding],
    gaps_count: int,
    policy: Policy,
) -> ScoreDetail:
    """The Score plus its pessimistic bound, the share of known answers and each dimension."""
    risks = asset_risks(assets, findings, policy)
    total = score(assets, findings, gaps_count, policy)
    dimensions: dict[str, int] = {}
    for dimension in DIMENSIONS:
        rule_ids = {rule.id for rule in ruleset.rules if dimension in rule.tags}
        subset = [finding for finding in findings if finding.rule_id in rule_ids]
        part = asset_risks(assets, subset, policy)
        dimensions[dimension] = institution_value([(r.weight, r.risk) for r in part])
    return ScoreDetail(
        score=total,
        upper_bound=total.upper_bound,
        known_share=total.known_share,
        by_dimension=MappingProxyType(dimensions),
        assets=risks,
        eu_csf=eu_csf_levels(ruleset, findings),
    )


CSF_OBJECTIVES = ("SOV-2", "SOV-3")
CSF_BEST = 2  # a scan can support at most SEAL-2: higher levels need evidence it cannot see
# The level a RISK finding caps its asset at, by the rule's dimension: data outside the allowed
# places is no sovereignty (SEAL-0); foreign control or provider-held keys leave the formal,
# jurisdictional level (SEAL-1: local law applies, control is elsewhere).
_CSF_CAPS: Mapping[str, int] = MappingProxyType(
    {"location": 0, "replication": 0, "edge": 0, "keys": 1, "legal-control": 1, "control-plane": 1}
)


def eu_csf_levels(ruleset: RuleSet, findings: Sequence[Finding]) -> Mapping[str, str]:
    """An EU-CSF-style SEAL level per objective, weakest link over the assets, from the findings
    of rules citing that objective; an UNKNOWN finding widens the answer to a range."""
    caps: dict[str, int] = {}
    for rule in ruleset.rules:
        caps[rule.id] = min((_CSF_CAPS[t] for t in rule.tags if t in _CSF_CAPS), default=1)
    levels: dict[str, str] = {}
    for objective in CSF_OBJECTIVES:
        cited = {
            rule.id
            for rule in ruleset.rules
            if any(r.framework == "eu-csf" and r.control == objective for r in rule.references)
        }
        low: dict[str, int] = {}
        high: dict[str, int] = {}
        for finding in findings:
            if finding.rule_id not in cited:
                continue
            cap = caps[finding.rule_id]
            worst = CSF_BEST if finding.status is Status.OK else cap
            best = cap if finding.status is Status.RISK else CSF_BEST
            low[finding.asset_id] = min(low.get(finding.asset_id, CSF_BEST), worst)
            high[finding.asset_id] = min(high.get(finding.asset_id, CSF_BEST), best)
        if not low:
            levels[objective] = "not assessed"
            continue
        floor, ceiling = min(low.values()), min(high.values())
        levels[objective] = (
            f"SEAL-{floor}" if floor == ceiling else f"SEAL-{floor} to SEAL-{ceiling}"
        )
    return MappingProxyType(levels)
