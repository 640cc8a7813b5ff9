"""The pipeline in one place: probes -> resolve -> evaluate -> Scan."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime

import boto3
import dns.resolver

from sovscan import __version__
from sovscan.bounds import bounded
from sovscan.config import AwsSource, ScanConfig, aws_source_name
from sovscan.engine import (
    Framework,
    Rule,
    RuleSet,
    Waiver,
    apply_profile,
    apply_waivers,
    beyond_review,
    evaluate,
    frameworks_in_force,
    load_profiles,
    other_sector_controls,
    score,
    transfer_condition,
)
from sovscan.errors import ConfigError, ProbeError
from sovscan.model import (
    Asset,
    AwsScope,
    CitedControl,
    DeclaredNetwork,
    DnsResolver,
    Finding,
    Gap,
    Policy,
    ReplayOf,
    ResolverSource,
    RuleInfo,
    Scan,
    ScanScope,
    WaiverMark,
)
from sovscan.places import country_of, with_union_law
from sovscan.probes import Clock, Probe, utc_now
from sovscan.probes.aws import AwsOrganizationProbe, AwsProbe, client_config, session_for
from sovscan.probes.dns import DnsProbe
from sovscan.probes.dns_prefetch import bulk_settings
from sovscan.probes.dnslookup import server_text
from sovscan.probes.https import HttpsOptions
from sovscan.probes.saas import SaasProbe
from sovscan.probes.tenant import M365TenantProbe
from sovscan.resolve import (
    KnowledgeBase,
    RdapClient,
    cloud_ranges_within,
    declared_table,
    law_summaries,
    resolve_all,
)
from sovscan.scope import scope_unit

logger = logging.getLogger(__name__)

SessionFactory = Callable[[AwsSource], boto3.Session]


def build_probes(
    config: ScanConfig,
    *,
    resolver: dns.resolver.Resolver | None,
    session_factory: SessionFactory = session_for,
    clock: Clock = utc_now,
    dns_workers: int | None = None,
) -> tuple[list[Probe], list[Gap]]:
    """The probes for every source the inventory names, and a Gap for each that cannot start."""
    probes: list[Probe] = []
    gaps: list[Gap] = []
    for index, source in enumerate(config.aws):
        # The source's name: a probe that cannot start is the Gap "probe:aws:<source>", whether
        # its session could not be made or its credentials were refused.
        name = aws_source_name(source, index)
        try:
            session = session_factory(source)
        except ProbeError as exc:
            gaps.append(Gap(f"probe:{name}", bounded(str(exc))))
            continue
        limits = config.limits
        aws_config = client_config(
            max_attempts=limits.aws_max_attempts,
            connect_timeout=limits.aws_connect_timeout,
            read_timeout=limits.aws_read_timeout,
        )
        if source.member_role:
            probes.append(
                AwsOrganizationProbe(
                    source,
                    session,
                    name=name,
                    role_name=source.member_role,
                    external_id=source.member_external_id,
                    clock=clock,
                    max_workers=limits.aws_workers,
                    classification_tag=source.classification_tag,
                    client_config=aws_config,
                )
            )
        else:
            probes.append(
                AwsProbe(
                    source,
                    session,
                    name=name,
                    clock=clock,
                    max_workers=limits.aws_workers,
                    classification_tag=source.classification_tag,
                    client_config=aws_config,
                )
            )
    if resolver is None:
        resolver = system_resolver(config)
    if config.domains and resolver is not None:
        probes.append(
            DnsProbe(
                config.domains,
                config.dns_names,
                resolver,
                clock=clock,
                workers=dns_workers or config.limits.dns_concurrency,
                bulk=bulk_settings(resolver, config.limits.dns_in_flight),
            )
        )
    https = config.https
    options = HttpsOptions(
        https.timeout, https.max_redirects, https.allow_private_redirects, https.ca_file
    )
    if config.saas and resolver is not None:
        probes.append(
            SaasProbe(config.saas, resolver, clock=clock, https=options if https.saas else None)
        )
    if https.m365_tenant and config.domains and resolver is not None:
        probes.append(
            M365TenantProbe(config.domains, resolver, options, https.openid_url, clock=clock)
        )
    return probes, gaps


def system_resolver(config: ScanConfig) -> dns.resolver.Resolver | None:
    """The system's resolver (``/etc/resolv.conf``) with the inventory's DNS limits, which
    `build_probes` uses when it is given none; None when the inventory needs no DNS."""
    if not (config.domains or config.saas):
        return None
    resolver = dns.resolver.Resolver()
    resolver.timeout = config.limits.dns_timeout
    resolver.lifetime = config.limits.dns_lifetime
    return resolver


def resolver_record(
    resolver: dns.resolver.Resolver, source: ResolverSource, given_by: str | None = None
) -> DnsResolver:
    """What a scan records of the DNS servers `resolver` asks: each as ``address:port``, in
    order (the bulk path asks the first), and where they came from; nothing else of the
    system's configuration."""
    servers = []
    for nameserver in resolver.nameservers:
        if isinstance(nameserver, str):
            port = resolver.nameserver_ports.get(nameserver, resolver.port)
            servers.append(server_text(nameserver, int(port)))
        else:  # a dns.nameserver.Nameserver (DNS over HTTPS, TLS...): its own text
            servers.append(bounded(str(nameserver), 255))
    return DnsResolver(tuple(servers), source, given_by if source == "given" else None)


Progress = Callable[[str], None]
"""Told what the scan is doing ("probing dns: 120 assets"); the CLI shows it on a terminal."""


def silent(_message: str) -> None:
    """A Progress that shows nothing."""


def configured_scope(config: ScanConfig) -> ScanScope:
    """What the inventory (any --domains file merged in) asks a scan to look at. Which accounts
    each AWS source reaches is learnt as it is scanned (`AccountsSeen.scope`)."""
    return ScanScope(
        aws=tuple(
            AwsScope(aws_source_name(source, index), source.regions, None)
            for index, source in enumerate(config.aws)
        ),
        domains=frozenset(config.domains),
        saas=frozenset(endpoint.asset_host for endpoint in config.saas),
        tenants=config.https.m365_tenant and bool(config.domains),
        names=tuple(sorted(dict(config.domain_names).items())),
    )


class AccountsSeen:
    """The AWS accounts each probe's assets and gaps name, as they pass (`observe`): which
    accounts an AWS source scanned, its own or its Organization's members."""

    def __init__(self) -> None:
        self._by_probe: dict[str, set[str]] = {}

    def note(self, probe: str, item: Asset | Gap) -> None:
        named = item.id if isinstance(item, Asset) else item.scope
        parts = named.split(":", 2)
        if parts[0] == "aws" and len(parts) > 1 and parts[1]:
            self._by_probe.setdefault(probe, set()).add(parts[1])

    def scope(self, configured: ScanScope) -> ScanScope:
        """`configured` with each AWS source's accounts; unknown (None) for a source whose
        probe named none: it could not start."""
        aws = tuple(
            dataclasses.replace(
                source,
                accounts=tuple(sorted(self._by_probe[source.source]))
                if source.source in self._by_probe
                else None,
            )
            for source in configured.aws
        )
        return dataclasses.replace(configured, aws=aws)


def observe(
    probes: Iterable[Probe], progress: Progress = silent, seen: AccountsSeen | None = None
) -> Iterator[Asset | Gap]:
    """Every probe's assets and gaps as they come; a probe that fails outright becomes a Gap and
    the others still run. `seen` notes the accounts each probe's items name."""
    for probe in probes:
        progress(f"probing {probe.name}")
        # -vv: each account, region, domain or endpoint when the probe reaches it, each gap
        # as it comes, and the counts at the end, so a long scan's log says where it is.
        units = _UnitLog(probe.name) if logger.isEnabledFor(logging.DEBUG) else None
        try:
            for count, item in enumerate(probe.collect(), 1):
                if count % 50 == 0:
                    progress(f"probing {probe.name}: {count} answers")
                if seen is not None:
                    seen.note(probe.name, item)
                if units is not None:
                    units.note(item)
                yield item
        except ProbeError as exc:
            yield Gap(f"probe:{probe.name}", bounded(str(exc)))
        except Exception as exc:  # a probe bug must not hide the rest of the estate
            logger.debug("probe %s failed", probe.name, exc_info=True)
            yield Gap(f"probe:{probe.name}", f"{type(exc).__name__}: the probe stopped early")
        finally:
            if units is not None:
                units.done()


class _UnitLog:
    """Debug lines of one probe's progress: each scope unit (an AWS account or region, a domain,
    an endpoint) when the probe first reaches it, each gap when it comes, and at the end the
    number of assets each unit gave."""

    def __init__(self, probe: str) -> None:
        self.probe = probe
        self.assets: dict[str, int] = {}

    def note(self, item: Asset | Gap) -> None:
        from sovscan.report.safe import terminal_safe

        if isinstance(item, Gap):
            logger.debug(
                "probe %s: could not see %s: %s",
                self.probe,
                terminal_safe(item.scope, 200),
                terminal_safe(item.reason, 300),
            )
            return
        unit = scope_unit(item.id, item.attributes) or "(no scope unit)"
        if unit not in self.assets:
            self.assets[unit] = 0
            logger.debug("probe %s: at %s", self.probe, terminal_safe(unit, 200))
        self.assets[unit] += 1

    def done(self) -> None:
        from sovscan.report.safe import terminal_safe

        for unit, count in self.assets.items():
            assets = f"{count} asset" + ("" if count == 1 else "s")
            logger.debug("probe %s: %s: %s", self.probe, terminal_safe(unit, 200), assets)
        self.assets = {}


def collect(
    probes: Iterable[Probe], progress: Progress = silent, seen: AccountsSeen | None = None
) -> tuple[tuple[Asset, ...], tuple[Gap, ...]]:
    """Run every probe: its assets (the first of repeated ids, sorted by id) and gaps."""
    assets: dict[str, Asset] = {}
    gaps: list[Gap] = []
    for item in observe(probes, progress, seen):
        if isinstance(item, Gap):
            gaps.append(item)
        elif item.id not in assets:
            assets[item.id] = item
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
    policy: Policy | None = None,
    profile: str | None = None,
    progress: Progress = silent,
    dns_resolver: DnsResolver | None = None,
) -> Scan:
    """Probe, resolve, evaluate and score; never raises for what a probe could not see.

    `policy` replaces the inventory's own (after a profile was applied to it); `dns_resolver`
    is what the scan records of the DNS servers its probes ask (`resolver_record`).
    """
    started = clock()
    seen = AccountsSeen()
    assets, probe_gaps = collect(probes, progress, seen)
    progress(f"resolving and evaluating {len(assets)} assets")
    return assess(
        policy or config.policy,
        assets,
        (*extra_gaps, *probe_gaps),
        knowledge,
        ruleset,
        started=started,
        finished=clock(),
        rdap=rdap,
        waivers=config.waivers,
        profile=profile,
        scope=seen.scope(configured_scope(config)),
        networks=config.networks,
        dns_resolver=dns_resolver,
    )


def apply_profile_name(
    config: ScanConfig, ruleset: RuleSet, override: str | None
) -> tuple[RuleSet, Policy]:
    """The rules and policy under `override` (a --profile flag) or the inventory's profile; the
    inventory's own policy values win over the profile's."""
    name = override or config.profile
    if name is None:
        return ruleset, settle_frameworks(ruleset, config.policy, config.source)
    profiles = load_profiles()
    if name not in profiles:
        where = "--profile" if override else f"{config.source}: institution.profile"
        known = ", ".join(sorted(profiles))
        raise ConfigError(f"{where}: expected one of {known}; got {name!r}")
    rules, policy = apply_profile(
        ruleset, config.policy, profiles[name], keep=config.policy_overrides
    )
    return rules, settle_frameworks(rules, policy, config.source)


def settle_frameworks(ruleset: RuleSet, policy: Policy, source: str) -> Policy:
    """`policy` with the frameworks its findings cite: those binding its home, and those chosen
    (each must be one of the ruleset's frameworks)."""
    for index, framework in enumerate(policy.frameworks or ()):
        if framework not in ruleset.frameworks:
            known = ", ".join(sorted(ruleset.frameworks))
            raise ConfigError(
                f"{source}: institution.frameworks[{index}]: expected one of {known}; "
                f"got {framework!r}"
            )
    return dataclasses.replace(
        policy,
        frameworks=frameworks_in_force(ruleset.frameworks, policy),
        home_jurisdictions=with_union_law(policy.home, policy.home_jurisdictions),
    )


def union_law_notices(config: ScanConfig, override: str | None) -> tuple[str, ...]:
    """A notice when `settle_frameworks` added the EU to home_jurisdictions that omitted it."""
    given = config.policy.home_jurisdictions
    name = override or config.profile
    if name is not None and "home_jurisdictions" not in config.policy_overrides:
        given = tuple(load_profiles()[name].policy.get("home_jurisdictions", given))
    home = config.policy.home
    if with_union_law(home, given) == given:
        return ()
    notice = (
        f"institution.home_jurisdictions ({', '.join(given)}) omits EU: EU law is part of the "
        f"legal order of {country_of(home)}, a member state, so EU counts as home too; add "
        "EU to home_jurisdictions to say so yourself"
    )
    return (notice,)


def profile_notices(
    config: ScanConfig, override: str | None, settled: Policy | None = None
) -> tuple[str, ...]:
    """What the report must say when the inventory's own policy values win over its profile's:
    `--profile eu-gdpr` on an inventory allowing only CA-QC still allows only CA-QC."""
    name = override or config.profile
    if name is None:
        return ()
    profile = load_profiles()[name]  # apply_profile_name has refused an unknown one
    notices = []
    for field, value in profile.policy.items():
        own = tuple(getattr(config.policy, field) or ())
        if field in config.policy_overrides and own != tuple(value):
            binding = ""
            if field == "frameworks" and settled is not None:
                # Frameworks that bind the home are cited whatever the list says: no notice when
                # the profile's are cited all the same.
                if set(value) <= set(settled.frameworks or ()):
                    continue
                binding = " (and those binding its home)"
            notices.append(
                f"profile {name} sets {field} to {', '.join(value)}, but the inventory's own "
                f"{field} ({', '.join(own) or 'none'}){binding} is used: an institution's values "
                f"win over its profile; remove {field} from the inventory to use the profile's"
            )
    return tuple(notices)


def sector_notices(ruleset: RuleSet, policy: Policy) -> tuple[str, ...]:
    """A notice when the frameworks in force split controls by sector and the inventory does not
    say which the institution is in: its findings then cite both, and only one binds it."""
    if policy.sector is not None:
        return ()
    split = sorted(
        fid
        for fid in policy.frameworks or ruleset.frameworks
        if fid in ruleset.frameworks
        and any(c.sector is not None for c in ruleset.frameworks[fid].controls.values())
    )
    if not split:
        return ()
    notice = (
        f"institution.sector is not set: findings cite the controls of {', '.join(split)} for "
        "both public bodies and the private sector, and only one binds the institution; set "
        'sector = "public" or "private" in [institution]'
    )
    return (notice,)


def network_notices(
    networks: Sequence[DeclaredNetwork], knowledge: KnowledgeBase
) -> tuple[str, ...]:
    """A notice for each declared prefix that shares addresses with a provider's published range:
    there the provider's range decides (resolution records the declaration as a conflict), so a
    declaration that meant otherwise is a mistake the institution should see without hunting for
    the one asset it touched."""
    notices = []
    for index, entry in enumerate(networks):
        for i, prefix in enumerate(entry.prefixes):
            ranges = cloud_ranges_within(knowledge.index, prefix)
            if not ranges:
                continue
            named = ", ".join(f"{r.provider} {r.prefix} ({r.service})" for r in ranges)
            notices.append(
                f"networks[{index}].prefixes[{i}] {prefix} ({bounded(entry.name, 60)}) shares "
                f"addresses with published cloud ranges: {named}; there the provider's range is "
                "used, not the declaration (a range the cloud runs for the institution, or a "
                "mistake in the declaration)"
            )
    return tuple(notices)


DNS_TIMEOUT_REASON = "timeout: no answer within"  # as the bulk and live DNS paths word it


def dns_timeout_notices(gaps: Sequence[Gap], in_flight: int) -> tuple[str, ...]:
    """One notice when DNS questions timed out, saying what to try: a name server that drops
    questions under load leaves different gaps each run, and they churn the diffs."""
    count = sum(g.scope.startswith("dns:") and DNS_TIMEOUT_REASON in g.reason for g in gaps)
    if not count:
        return ()
    lower = f"a lower limits.dns_in_flight (now {in_flight}) or " if in_flight > 0 else ""
    notice = (
        f"{count} DNS gap(s) had no answer in time. If these domains answer when asked alone, "
        f"the name server was likely overloaded and dropped questions: try {lower}--nameserver "
        "a resolver that can take the load, and scan again."
    )
    return (notice,)


def label_notices(config: ScanConfig, policy: Policy) -> tuple[str, ...]:
    """A notice for each classification the inventory uses that is neither a sensitive nor a
    public label of `policy`: it is judged sensitive (a typo must never relax a check), and the
    report says so, so that `pubic` is caught rather than silently judged."""
    known = {*policy.sensitive_classifications, *policy.public_classifications}
    uses: dict[str, list[str]] = {}
    if policy.default_classification not in known:
        uses.setdefault(policy.default_classification, []).append("the default classification")
    for endpoint in config.saas:
        if endpoint.classification not in known:
            uses.setdefault(endpoint.classification, []).append(
                f"saas {bounded(endpoint.name, 60)}"
            )
    return tuple(
        f"classification {label} ({', '.join(where[:3])}{', ...' if len(where) > 3 else ''}) is "
        "neither a sensitive nor a public label: judged sensitive; list it in "
        "institution.sensitive_classifications or public_classifications"
        for label, where in sorted(uses.items())
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
    waivers: Sequence[Waiver] = (),
    profile: str | None = None,
    replay_of: ReplayOf | None = None,
    scope: ScanScope | None = None,
    networks: Sequence[DeclaredNetwork] = (),
    dns_resolver: DnsResolver | None = None,
) -> Scan:
    """Resolve and evaluate observations already made: a live scan, or a replayed bundle.

    `started` and `finished` are this evaluation's times; a replay gives `replay_of`, the scan
    that observed; `scope`, what the observing run was configured to look at, when known;
    `networks`, the address space the inventory declared ([[networks]]), as it was then;
    `dns_resolver`, the DNS servers that answered the observing run, when known.
    Findings an active waiver accepts stay in the scan, marked, but count neither in the score
    nor for exit codes; expired and unused waivers become notices.
    """
    # A waiver is judged on the day the estate was observed: a replay of old evidence gives the
    # verdicts the original scan gave, unless other rules or data change them. A declaration's
    # evidence is dated that day too, so a replay's evidence is the scan's.
    observed = replay_of.started_at if replay_of is not None else started
    resolved = resolve_all(assets, knowledge, rdap, declared_table(networks, observed))
    waived = apply_waivers(evaluate(ruleset, resolved, policy), waivers, observed.date())
    findings = tuple(mark_waived(f, waived.waived.get(f.key)) for f in waived.findings)
    return Scan(
        id=scan_id(
            policy,
            started.isoformat(),
            ruleset.digest,
            knowledge.digest,
            replay_of=replay_of.scan_id if replay_of is not None else None,
        ),
        started_at=started,
        finished_at=finished,
        tool_version=__version__,
        rules_digest=ruleset.digest,
        data_digest=knowledge.digest,
        policy=policy,
        assets=resolved,
        gaps=tuple(gaps),
        findings=findings,
        score=score(resolved, waived.unwaived, len(gaps), policy),
        laws=law_summaries(knowledge),
        rules=rule_infos(ruleset, policy),
        profile=profile,
        notices=waiver_notices(
            waived.expired,
            waived.unused,
            waived.not_risks,
            waived.shadowed,
            beyond_review(waivers, observed.date()),
        ),
        replay_of=replay_of,
        scope=scope,
        dns_resolver=dns_resolver,
    )


def replay_profile(ruleset: RuleSet, policy: Policy, name: str) -> RuleSet:
    """The rules a stored scan ran under its profile; its stored policy is kept as it was."""
    profiles = load_profiles()
    if name not in profiles:
        raise ConfigError(f"profile {name!r} of the bundle is not known to this sovscan")
    keep = {field.name for field in dataclasses.fields(policy)}
    rules, _policy = apply_profile(ruleset, policy, profiles[name], keep=keep)
    return rules


def mark_waived(finding: Finding, waiver: Waiver | None) -> Finding:
    """`finding`, carrying the waiver that accepts it, if any."""
    if waiver is None:
        return finding
    mark = WaiverMark(waiver.reason, waiver.owner, waiver.expires.isoformat())
    return dataclasses.replace(finding, waiver=mark)


def waiver_notices(
    expired: Iterable[Waiver],
    unused: Iterable[Waiver],
    not_risks: Iterable[Waiver] = (),
    shadowed: Iterable[Waiver] = (),
    far_off: Iterable[Waiver] = (),
) -> tuple[str, ...]:
    """What the reader must know of waivers past their date, waiving nothing or running beyond
    a yearly review (`far_off`). Of the `unused` waivers, `not_risks` name only findings that
    are not risks (OK) and `shadowed` (asset waivers) only findings that their own finding
    waivers took; the others match nothing."""
    ok_ids, shadowed_ids = {id(w) for w in not_risks}, {id(w) for w in shadowed}
    return tuple(
        [f"waiver expired on {w.expires}: {_waiver_target(w)} ({w.owner})" for w in expired]
        + [_unused_notice(w, id(w) in ok_ids, id(w) in shadowed_ids) for w in unused]
        + [
            f"waiver for {_waiver_target(w)} ({w.owner}) runs until {w.expires}, more than a "
            "year after this scan: set its expires to the date of its next review"
            for w in far_off
        ]
    )


def _unused_notice(waiver: Waiver, not_risk: bool, shadowed: bool) -> str:
    target = f"{_waiver_target(waiver)} ({waiver.owner})"
    if shadowed:
        return (
            f"waiver for {target} waives nothing: each risk or unknown finding of the asset "
            "has its own finding waiver"
        )
    if not_risk and waiver.finding is not None:
        return f"waiver for {target} applies to a finding that is not a risk (ok) in this scan"
    if not_risk:
        return (
            f"waiver for {target} applies to an asset none of whose findings is a risk or "
            "unknown in this scan"
        )
    return f"waiver matched nothing: {target}"


def _waiver_target(waiver: Waiver) -> str:
    return f"finding {waiver.finding}" if waiver.finding else f"asset {waiver.asset}"


def rule_infos(ruleset: RuleSet, policy: Policy | None = None) -> Mapping[str, RuleInfo]:
    """What reports keep of each rule of `ruleset`, by id: its words and the controls it cites
    of the frameworks in force under `policy`, as the ruleset's frameworks word them."""
    cited = None if policy is None or policy.frameworks is None else set(policy.frameworks)
    other_sector = other_sector_controls(
        ruleset.frameworks, None if policy is None else policy.sector
    )
    return {
        rule.id: rule_info(rule, ruleset.frameworks, cited, other_sector) for rule in ruleset.rules
    }


def rule_info(
    rule: Rule,
    frameworks: Mapping[str, Framework],
    in_force: Collection[str] | None = None,
    other_sector: Collection[tuple[str, str]] = (),
) -> RuleInfo:
    """What reports keep of `rule`; its references were checked against `frameworks` on load.
    Only those to `in_force` frameworks are kept, when given, and not those to `other_sector`
    controls (`other_sector_controls`: the findings' own references leave out the same)."""
    cited = []
    for reference in rule.references:
        if in_force is not None and reference.framework not in in_force:
            continue
        if (reference.framework, reference.control) in other_sector:
            continue
        framework = frameworks[reference.framework]
        control = framework.controls[reference.control]
        cited.append(
            CitedControl(
                framework.id,
                control.id,
                framework.title,
                control.citation,
                control.title,
                transfer_condition(rule, control),
            )
        )
    return RuleInfo(
        rule.id,
        rule.title,
        rule.severity,
        rule.source,
        rule.rationale,
        rule.remediation,
        tuple(cited),
    )


def scan_id(
    policy: Policy,
    started: str,
    rules_digest: str,
    data_digest: str,
    *,
    replay_of: str | None = None,
) -> str:
    """The scan's id, derived from what it ran on (and, for a replay, the scan it replays)."""
    # Derived, not random, so a run with a fixed clock reproduces the same report byte for byte.
    seed = f"{policy.institution}\0{started}\0{rules_digest}\0{data_digest}"
    if replay_of is not None:
        # Never the id of the scan replayed, even at the same clock: the store keys scans by id.
        seed += f"\0replay-of\0{replay_of}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]
