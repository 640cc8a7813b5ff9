"""The `lookup`, `explain` and `data` commands: the knowledge base answering people directly."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from tabulate import tabulate

from sovscan.config import load_config
from sovscan.engine.profiles import Profile
from sovscan.model import Asset, Method, ResolvedAsset
from sovscan.report.json import control_document, location_document
from sovscan.report.safe import terminal_safe
from sovscan.resolve import KnowledgeBase, declared_table, load_knowledge, resolve_all
from sovscan.resolve.catalog import Law, Provider
from sovscan.resolve.rdap import IpwhoisRdapClient
from sovscan.suggest import closest, either, related

MAX_TARGETS = 1000
_HOST_RE = re.compile(
    r"^(?=.{1,253}\.?$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]+\.?$"
)
_ASN_ATTRIBUTION = (
    "IP to ASN data: RouteViews (routeviews.org), NRO (nro.net) and IP to ASN Lite by DB-IP "
    "(https://db-ip.com), CC BY 4.0."
)
_PROVIDER_ALIASES = {"azure": "microsoft", "gcp": "google", "oci": "oracle"}


_TARGET_FORMS = (
    "expected an IP address, a host name with a dot (mail.example.com) or a region "
    "(ca-central-1, canadaeast, PROVIDER:REGION)"
)


def target_asset(target: str, kb: KnowledgeBase) -> Asset:
    """The asset a look-up target stands for: an IP, a region (`ca-central-1`, `azure:canadaeast`)
    or a host name (matched offline against host patterns only; no DNS query is made).

    An address or host name no table knows is a valid target, answered unknown. A region the
    catalogue does not hold is bad input (click.BadParameter), with the closest names it holds.
    """
    text = target.strip()
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return Asset(f"lookup:ip:{address}", "lookup.ip", text, {"addresses": (str(address),)})
    provider, sep, region = text.partition(":")
    if sep:
        return _provider_region_asset(target, provider, region, kb)
    if ("aws", text) in kb.regions:
        place = kb.regions[("aws", text)]
        attrs = {"provider": "aws", "region": text, "partition": place.partition}
        return Asset(f"lookup:region:aws:{text}", "lookup.region", text, attrs)
    owners = _bare_region_owners(text, kb)
    if len(owners) == 1:  # `canadaeast` can only be azure:canadaeast
        return Asset(
            f"lookup:region:{owners[0]}:{text}",
            "lookup.region",
            text,
            {"provider": owners[0], "region": text},
        )
    if owners:
        choices = ", ".join(f"{p}:{text}" for p in owners)
        raise click.BadParameter(f"{target!r} is a region of several providers: write {choices}")
    host = text.lower()
    # An all-numeric last label is never a host name (RFC 3696, 2): 999.1.1.1 is a bad address.
    if not _HOST_RE.match(host) or host.rstrip(".").rpartition(".")[2].isdigit():
        raise click.BadParameter(f"{target[:80]!r} is not an IP address, region or host name")
    if "." not in host.strip("."):
        # Every host pattern has a dot, so a lone word could only ever be answered `?`: it was
        # meant as a region, and one the catalogue lacks is a typo to point out. Answering it
        # unknown with exit 0 would tell a script that nobody knows where ca-centrl-1 is.
        raise click.BadParameter(_no_such_region(target, kb))
    return Asset(f"lookup:host:{host}", "lookup.host", host, {"hostname": host.rstrip(".")})


def _bare_region_owners(text: str, kb: KnowledgeBase) -> list[str]:
    """The providers (AWS aside: its bare names come first) with a region named `text`. Only
    names of six characters or more: `ca` or `uk` read as countries, not as Mimecast's regions;
    and only regions, not edges (`global`)."""
    if len(text) < 6:
        return []
    return sorted(
        provider
        for (provider, region), place in kb.regions.items()
        if region == text and provider != "aws" and place.kind != "edge"
    )


def _provider_region_asset(target: str, typed: str, region: str, kb: KnowledgeBase) -> Asset:
    """The asset of `PROVIDER:REGION`, or click.BadParameter naming what the catalogue holds."""
    provider = _PROVIDER_ALIASES.get(typed.lower(), typed.lower())
    if (provider, region) in kb.regions:
        attrs = {"provider": provider, "region": region}
        return Asset(f"lookup:region:{provider}:{region}", "lookup.region", target.strip(), attrs)
    shown = repr(target[:80])
    with_regions = {p for p, _ in kb.regions}
    if provider not in with_regions:
        names = sorted(
            {*with_regions, *(a for a, p in _PROVIDER_ALIASES.items() if p in with_regions)}
        )
        close = closest(typed, names, cutoff=0.6)
        expected = f"expected one of {', '.join(names)}"
        raise click.BadParameter(
            f"{shown}: no provider {typed[:40]!r} has regions in the catalogue; "
            + (f"did you mean {either(close)}? ({expected})" if close else expected)
        )
    regions = sorted(
        r for (p, r), place in kb.regions.items() if p == provider and place.kind != "edge"
    )
    close = closest(region, regions)
    if close:
        hint = f"did you mean {either(close)}?"
    else:
        more = f", ... {len(regions) - 6} more" if len(regions) > 6 else ""
        hint = f"expected one of its {len(regions)} regions ({', '.join(regions[:6])}{more})"
    raise click.BadParameter(f"{shown}: {provider} has no region {region[:80]!r}; {hint}")


def _no_such_region(target: str, kb: KnowledgeBase) -> str:
    """The error for a lone word that is no region, with the closest ones as they are typed:
    bare for AWS and for a name only one provider uses, else PROVIDER:REGION (`mimecast:ca`)."""
    spellings: dict[str, set[str]] = {}
    for (provider, region), place in kb.regions.items():
        if place.kind == "edge":
            continue
        bare = provider == "aws" or _bare_region_owners(region, kb) == [provider]
        spellings.setdefault(region.lower(), set()).add(region if bare else f"{provider}:{region}")
    close = closest(target.strip(), list(spellings))
    suggested = [name for word in close for name in sorted(spellings[word])][:3]
    hint = f"; did you mean {either(suggested)}? (" if suggested else " ("
    return f"{target[:80]!r}: no such region{hint}{_TARGET_FORMS})"


def render_json(results: Sequence[ResolvedAsset], kb: KnowledgeBase) -> str:
    """The look-up results as a JSON document (schema `sovscan.lookup/1`)."""
    doc = {
        "schema": "sovscan.lookup/1",
        "data_digest": kb.digest,
        "results": [
            {
                "target": r.asset.name,
                "location": location_document(r.location),
                "control": control_document(r.control),
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_table(results: Sequence[ResolvedAsset]) -> str:
    """The look-up results as a terminal table, then each target's evidence chain."""

    def cell(value: object) -> str:
        if value is None:
            return "?"
        if isinstance(value, tuple):
            return ", ".join(value) if value else "(none)"
        return terminal_safe(str(value), 60)

    rows = []
    for r in results:
        loc, ctl = r.location, r.control
        rows.append(
            [
                cell(r.asset.name),
                cell(loc.provider),
                cell(loc.region),
                "global edge" if loc.edge else cell(loc.place),
                cell(ctl.operator),
                cell(ctl.parent),
                cell(ctl.jurisdictions),
                cell(ctl.laws),
                f"{loc.method.value}/{loc.confidence.value}",
                f"{ctl.method.value}/{ctl.confidence.value}",
            ]
        )
    headers = [
        "target", "provider", "region", "place", "operator", "parent",
        "jurisdictions", "laws", "location by", "control by",
    ]  # fmt: skip
    lines = [tabulate(rows, headers=headers, tablefmt="simple")]
    for r in results:
        lines.append("")
        lines.append(f"{terminal_safe(r.asset.name, 200)}:")
        for label, evidence in (("where", r.location.evidence), ("who", r.control.evidence)):
            lines.extend(
                f"  {label:5} [{e.confidence.value}] {terminal_safe(e.source)}: "
                f"{terminal_safe(e.detail)}"
                for e in evidence
            )
    if any("AS" in e.detail for r in results for e in r.control.evidence):
        lines += ["", _ASN_ATTRIBUTION]
    return "\n".join(lines) + "\n"


@click.command("lookup")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--rdap",
    is_flag=True,
    help="Ask the registries (RDAP) about addresses no offline table knows. Off by default.",
)
@click.option(
    "--rdap-url",
    default="https://rdap.arin.net/registry",
    show_default=True,
    help="RDAP bootstrap service (redirects to the right registry).",
)
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An inventory file whose [[networks]] declarations to answer from, as a scan would.",
)
def lookup(
    targets: tuple[str, ...], fmt: str, rdap: bool, rdap_url: str, config_path: Path | None
) -> None:
    """Where is TARGET and who controls it: an IP, a host name (offline patterns only) or a region.

    Regions are AWS names (ca-central-1), another provider's name when only it uses the name
    (canadaeast), or PROVIDER:REGION (azure:canadaeast, gcp:northamerica-northeast1).

    With -c, addresses are answered as a scan of that inventory answers them: its [[networks]]
    declarations come before the ASN table and RDAP (published cloud ranges still win).

    An IP address or host name (it has a dot) that no table knows is answered unknown (`?`,
    exit 0): that is what the data says. A word without a dot is read as a region, and a
    region or provider the catalogue does not hold is an error (exit 2) suggesting the closest
    names; nothing is printed for the other targets then.
    """
    if len(targets) > MAX_TARGETS:
        raise click.BadParameter(f"at most {MAX_TARGETS} targets per call")
    # The inventory first: a bad one is an error before anything is looked up.
    networks = load_config(config_path).networks if config_path is not None else ()
    kb = load_knowledge()
    assets = [target_asset(t, kb) for t in targets]
    declared = declared_table(networks, datetime.now(UTC)) if networks else None
    client = _rdap_client(rdap_url) if rdap else None
    try:
        found = resolve_all(assets, kb, client, declared)
        results = tuple(_as_catalogue(r) for r in found)
    finally:
        if client is not None:
            client.close()
    click.echo(render_json(results, kb) if fmt == "json" else render_table(results), nl=False)


def _as_catalogue(result: ResolvedAsset) -> ResolvedAsset:
    # A region typed by a person is answered from the region table, not by any cloud API: say so.
    if result.asset.kind != "lookup.region":
        return result
    return dataclasses.replace(
        result,
        location=dataclasses.replace(result.location, method=Method.CATALOGUE),
        control=dataclasses.replace(result.control, method=Method.CATALOGUE),
    )


def _rdap_client(url: str) -> IpwhoisRdapClient:
    """An RDAP client caching by network in the user's cache directory."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    try:
        return IpwhoisRdapClient(Path(base) / "sovscan" / "rdap.sqlite", base_url=url)
    except (ValueError, OSError, sqlite3.Error) as exc:
        raise click.BadParameter(f"RDAP: {exc}") from None


def explain_law(law: Law, kb: KnowledgeBase) -> str:
    """A law explained for students, with the catalogue providers it reaches."""
    reaches = sorted(p.name for p in kb.providers.values() if law.id in p.laws)
    lines = [
        f"{law.name} ({law.id})",
        f"Jurisdiction: {law.jurisdiction}",
        f"Citation: {law.citation}",
        "",
        f"What it reaches: {law.reach}",
        "",
        f"Why it matters: {law.summary}",
        "",
        f"Text: {law.source}",
    ]
    if reaches:
        lines += ["", "Catalogue providers it reaches: " + ", ".join(reaches)]
    return "\n".join(lines) + "\n"


def explain_provider(provider: Provider, kb: KnowledgeBase) -> str:
    """A provider explained for students: who runs it, who controls it, which laws reach it."""
    kind = provider.kind + (", global edge" if provider.edge else "")
    lines = [
        f"{provider.name} ({provider.id}, {kind})",
        f"Operator: {provider.operator}",
        f"Ultimate parent: {provider.parent}",
        f"Jurisdictions: {', '.join(provider.jurisdictions)}",
    ]
    if provider.licensor:
        lines.append(f"Technology licensed from: {kb.providers[provider.licensor].name}")
    lines.extend(
        f"Runs on: {kb.providers[host].name} ({', '.join(kb.providers[host].jurisdictions)})"
        for host in provider.hosted_on
    )
    if provider.laws:
        lines.append("Laws that can compel it:")
        lines += [f"  - {kb.laws[law].name} ({kb.laws[law].citation})" for law in provider.laws]
    else:
        lines.append("Laws that can compel it: none with extraterritorial reach in the catalogue")
    operated = sorted(
        {kb.providers[v].name for v in (*provider.partitions.values(), *provider.regions.values())}
    )
    if operated:
        lines.append("Partner-operated variants: " + "; ".join(operated))
    if provider.asns:
        lines.append("Networks: " + ", ".join(f"AS{a}" for a in provider.asns))
    if provider.note:
        lines += ["", provider.note]
    lines += ["", "Sources:"] + [f"  - {s}" for s in provider.sources]
    return "\n".join(lines) + "\n"


def explain_profile(profile: Profile) -> str:
    """A profile: the rules it runs, the policy values it sets and the severities it changes."""
    rules = (
        ", ".join(profile.rules) + " (and the institution's own rules)"
        if profile.rules is not None
        else "every rule"
    )
    lines = [f"{profile.title} ({profile.id}, a profile: `--profile {profile.id}`)"]
    lines.append(f"Rules: {rules}")
    lines += [f"Sets {key}: {', '.join(values)}" for key, values in profile.policy.items()]
    lines += [
        f"Severity of {rule}: {severity.value}" for rule, severity in profile.severity.items()
    ]
    lines.append(
        "Values the inventory sets itself win over the profile's (a profile is a default)."
    )
    return "\n".join(lines) + "\n"


@click.command("explain")
@click.argument("subject", required=False)
@click.option(
    "--list",
    "list_all",
    is_flag=True,
    help="List every law, provider, rule, framework and profile id.",
)
def explain(subject: str | None, list_all: bool) -> None:
    """Explain a law (us-cloud-act), a provider (aws, d2l), a rule (foreign-law-reach), a
    framework (qc-law25) or a profile (quebec-law25)."""
    from sovscan.commands.rules import describe, framework_view
    from sovscan.engine import default_rules_dir, load_rules
    from sovscan.engine.profiles import load_profiles

    kb = load_knowledge()
    ruleset = load_rules(default_rules_dir())
    profiles = load_profiles()
    if list_all or subject is None:
        click.echo("laws: " + ", ".join(sorted(kb.laws)))
        click.echo("providers: " + ", ".join(sorted(kb.providers)))
        click.echo("rules: " + ", ".join(sorted(rule.id for rule in ruleset.rules)))
        click.echo("frameworks: " + ", ".join(sorted(ruleset.frameworks)))
        click.echo("profiles: " + ", ".join(sorted(profiles)))
        return
    key = subject.strip().lower()
    key = _PROVIDER_ALIASES.get(key, key)
    rules = {rule.id: rule for rule in ruleset.rules}
    if key in kb.laws:
        click.echo(explain_law(kb.laws[key], kb), nl=False)
    elif key in kb.providers:
        click.echo(explain_provider(kb.providers[key], kb), nl=False)
    elif key in rules:
        click.echo(describe(ruleset, rules[key]))
    elif key in ruleset.frameworks or key in profiles:
        # eu-csf and secnumcloud name both a framework and the profile that applies it.
        parts = [framework_view(ruleset, key)] if key in ruleset.frameworks else []
        parts += [explain_profile(profiles[key]).rstrip("\n")] if key in profiles else []
        click.echo("\n\n".join(parts))
    elif _FINDING_KEY_RE.fullmatch(key):
        # A report's finding key (the one waivers take): explain knows rules, not findings.
        raise click.BadParameter(
            f"{subject.strip()!r} is a finding key; explain takes a rule, law, provider, "
            "framework or profile id, and cannot know a finding without its report: the "
            "finding's rule id is in the report's rule_id field (the table's rule column), "
            "then sovscan explain RULE_ID"
        )
    else:
        ids = list(dict.fromkeys([*kb.laws, *kb.providers, *rules, *ruleset.frameworks, *profiles]))
        close = related(key[:80], ids)
        hint = f"did you mean {either(close)}? " if close else ""
        raise click.BadParameter(
            f"{subject[:80]!r} is not a law, provider, rule, framework or profile id; "
            f"{hint}`sovscan explain --list` lists them"
        )


_FINDING_KEY_RE = re.compile(r"[0-9a-f]{32}")


@click.group("data")
def data() -> None:
    """The offline knowledge base: where each dataset comes from."""


@data.command("info")
def data_info() -> None:
    """Each dataset's source, date and licence, and the digest reports record."""
    kb = load_knowledge()
    rows = [[d.id, d.date, d.source, d.licence] for d in kb.datasets.values()]
    click.echo(f"data directory: {kb.data_dir}")
    click.echo(f"data digest: {kb.digest}")
    click.echo(f"IP index: {kb.index.size} intervals")
    click.echo(
        tabulate(
            rows, headers=["dataset", "date", "source", "licence"], maxcolwidths=[None, 24, 50, 40]
        )
    )


@data.command("update")
@click.option(
    "--dir",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Install here instead of $SOVSCAN_DATA_DIR or ~/.local/share/sovscan/data.",
)
def data_update(target: Path | None) -> None:
    """Download the official feeds, validate them, and atomically install a new IP index."""
    from sovscan.resolve import update

    result = update.update_data(target, sources=update.OFFICIAL_SOURCES)
    counts = ", ".join(f"{feed} {n}" for feed, n in result.prefixes.items())
    click.echo(f"installed {result.data_dir}: {counts} prefixes, {result.asn_ranges} ASN ranges")
    click.echo(f"data digest: {result.digest}")
