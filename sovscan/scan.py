"""The pipeline in one place: probes -> resolve -> evaluate -> Scan."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import boto3
import dns.resolver

from sovscan import __version__
from sovscan.bounds import bounded
from sovscan.config import AwsSource, ScanConfig
from sovscan.engine import Rule, RuleSet, evaluate, score
from sovscan.errors import ProbeError
from sovscan.model import Asset, Gap, Policy, RuleInfo, Scan
from sovscan.probes import Clock, Probe, utc_now
from sovscan.probes.aws import AwsProbe, session_for
from sovscan.probes.dns import DnsProbe
from sovscan.probes.saas import SaasProbe
from sovscan.resolve import KnowledgeBase, RdapClient, law_summaries, resolve_all

logger = logging.getLogger(__name__)

SessionFactory = Callable[[AwsSource], boto3.Session]


def build_probes(
    config: ScanConfig,
    *,
    resolver: dns.resolver.Resolver | None,
    session_factory: SessionFactory = session_for,
    clock: Clock = utc_now,
) -> tuple[list[Probe], list[Gap]]:
    """The probes for every source the inventory names, and a Gap for each that cannot start."""
    probes: list[Probe] = []
    gaps: list[Gap] = []
    for index, source in enumerate(config.aws):
        scope = f"aws:{source.label or source.profile or source.role_arn or f'source-{index}'}"
        try:
            session = session_factory(source)
        except ProbeError as exc:
            gaps.append(Gap(scope, bounded(str(exc))))
            continue
        probes.append(AwsProbe(source, session, clock=clock))
    if (config.domains or config.saas) and resolver is None:
        resolver = dns.resolver.Resolver()
    if config.domains and resolver is not None:
        probes.append(DnsProbe(config.domains, config.dns_names, resolver, clock=clock))
    if config.saas and resolver is not None:
        probes.append(SaasProbe(config.saas, resolver, clock=clock))
    return probes, gaps


def collect(probes: Iterable[Probe]) -> tuple[tuple[Asset, ...], tuple[Gap, ...]]:
    """Run every probe; a probe that fails outright becomes a Gap and the others still run."""
    assets: dict[str, Asset] = {}
    gaps: list[Gap] = []
    for probe in probes:
        try:
            for item in probe.collect():
                if isinstance(item, Gap):
                    gaps.append(item)
                elif item.id not in assets:
                    assets[item.id] = item
        except ProbeError as exc:
            gaps.append(Gap(f"probe:{probe.name}", bounded(str(exc))))
        except Exception as exc:  # a probe bug must not hide the rest of the estate
            logger.debug("probe %s failed", probe.name, exc_info=True)
            gaps.append(
                Gap(f"probe:{probe.name}", f"{type(exc).__name__}: the probe stopped early")
            )
    return tuple(sorted(assets.values(), key=lambda a: a.id)), tuple(gaps)


def run_scan(
    config: ScanConfig,
    probes: Sequence[Probe],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    *,
    clock: Clock = utc_now,
    rdap: RdapClient | None = None,
    extra_gaps: Sequence[Gap] = (),
) -> Scan:
    """Probe, resolve, evaluate and score; never raises for what a probe could not see."""
    started = clock()
    assets, probe_gaps = collect(probes)
    return assess(
        config.policy,
        assets,
        (*extra_gaps, *probe_gaps),
        knowledge,
        ruleset,
        started=started,
        finished=clock(),
        rdap=rdap,
    )


def assess(
    policy: Policy,
    assets: Sequence[Asset],
    gaps: Sequence[Gap],
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    *,
    started: datetime,
    finished: datetime,
    rdap: RdapClient | None = None,
) -> Scan:
    """Resolve and evaluate observations already made: a live scan, or a replayed bundle."""
    resolved = resolve_all(assets, knowledge, rdap)
    findings = evaluate(ruleset, resolved, policy)
    return Scan(
        id=_scan_id(policy, started.isoformat(), ruleset.digest, knowledge.digest),
        started_at=started,
        finished_at=finished,
        tool_version=__version__,
        rules_digest=ruleset.digest,
        data_digest=knowledge.digest,
        policy=policy,
        assets=resolved,
        gaps=tuple(gaps),
        findings=findings,
        score=score(resolved, findings, len(gaps), policy),
        laws=law_summaries(knowledge),
        rules={rule.id: _rule_info(rule) for rule in ruleset.rules},
    )


def _rule_info(rule: Rule) -> RuleInfo:
    return RuleInfo(
        rule.id, rule.title, rule.severity, rule.source, rule.rationale, rule.remediation
    )


def _scan_id(policy: Policy, started: str, rules_digest: str, data_digest: str) -> str:
    # Derived, not random, so a replay with a fixed clock reproduces the same report byte for byte.
    seed = f"{policy.institution}\0{started}\0{rules_digest}\0{data_digest}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]
