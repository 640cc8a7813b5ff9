"""Where is an asset's data and who can compel it: signals gathered and ranked, conflicts kept.

Every signal becomes a candidate Location or Control with its method and confidence:

- cloud-api (HIGH): the asset's `provider` and `region` came from the provider's API; the place is
  the region table's, the operator the catalogue entry for that partition or region (AWS China is
  operated by Sinnet/NWCD, the European Sovereign Cloud by an EU entity with a US parent).
- published-ranges (HIGH): an address inside a provider-published prefix (AWS with its network
  border group, Azure, Google Cloud, Cloudflare); edge prefixes (CloudFront, Global Accelerator,
  Cloudflare, GCP "global") are a global edge with no country. LOW when the region has no place.
- hostname-region (at most MEDIUM: an inference from naming): a region inside a host name of the
  CNAME chain (`*.ca-central-1.elb.amazonaws.com`, `*.canadaeast.cloudapp.azure.com`, Mimecast
  `ca-smtp-inbound-*`), checked against the region table.
- catalogue (at most MEDIUM): a host-name fingerprint (MX, NS, CNAME, SPF include) or a TXT
  verification token naming the vendor; control only, except CDN names, which are global edges.
- declared (MEDIUM): an address inside a prefix the institution declares in its inventory
  ([[networks]]): the operator, parent and jurisdictions it states (laws from those homes, as for
  a catalogue operator), and the place of those servers when it states one. The most specific
  declared prefix wins. A provider-published range holding the address beats it: the declaration
  is then recorded as a `resolve:conflict` (a range the cloud runs under BYOIP, or a mistake).
  Curated by the institution, so it beats the inferences below, which stay as evidence.
- asn-table: the origin AS of an address. A catalogue provider's AS gives its control (MEDIUM); a
  curated operator row gives operator, parent and home (MEDIUM, or LOW for unconfirmed rows); an
  AS organisation name alone gives only the operator (LOW). No location is claimed from an ASN,
  except that a CDN's whole AS is a global edge (Fastly, Akamai, Cloudflare).
- rdap (LOW): the registry's registrant, only when nothing offline knew the control answer; the
  registrant's country is not the parent's home, so jurisdictions stay unknown.

Some kinds are answered their own way: a `dns.mailbox` by its deciding mail signal (the MX when
it is a mailbox provider, else the strongest look-through signal past a gateway; see `mail.py`;
with no signal at all, the MX host's own operator, as an inference),
a `dns.dmarc` by its report processors (all must be known; reports to the domain itself go to its
mailbox), a `dns.spf` by the probe's expanded pass includes. Assets with `replica_regions` come
back copied with the regions' places (`replica_places`, `replica_places_complete`).

A candidate naming a place (or an edge) beats one naming only a region; then the stronger method,
then the higher confidence. Agreeing signals are kept as evidence; disagreeing ones are recorded as
`resolve:conflict` evidence. With no candidate the answer is unknown, with what was tried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sovscan.bounds import bounded
from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    AttrValue,
    Confidence,
    Control,
    Evidence,
    Location,
    Method,
    ResolvedAsset,
    run_by,
)
from sovscan.resolve.catalog import HostPattern, Provider, RegionPlace, Vendor
from sovscan.resolve.declared import DeclaredTable
from sovscan.resolve.ipindex import IpMatch
from sovscan.resolve.knowledge import KnowledgeBase
from sovscan.resolve.mail import MailAttribution, MailSignal, attribute_mailbox
from sovscan.resolve.rdap import RdapClient, RdapNetwork
from sovscan.resolve.saas_vendor import VENDOR_ATTRIBUTES, endpoint_control, operator_kinds
from sovscan.resolve.special_addresses import special_use

MAX_ADDRESSES = 16
"""Addresses examined per asset: enough to see disagreement, bounded against hostile input."""
MAX_NAMES = 12
"""Names (hostname + CNAME chain) examined per asset."""

_READS = (
    "provider",
    "data_location",
    "partition",
    "region",
    "addresses",
    "hostname",
    "cname_chain",
    "text",
    "spf_includes",
    "report_domains",
    "tenant",
    "mx_hosts",
    "dkim_targets",
    "dkim_selectors",
    "autodiscover_chain",
    "verification_tokens",
    "https_headers",
    "tenant_region_scope",
    "tenant_region_sub_scope",
    *VENDOR_ATTRIBUTES,
)
"""The asset attributes resolution reads; assets equal on these (and on the kind, for the kinds
resolved their own way) get the same answer."""
_OWN_WAY = frozenset(
    {"dns.mailbox", "dns.spf", "dns.dmarc", "dns.dkim", "saas.tenant", "saas.endpoint"}
)
_NAME_RECORDS = frozenset({"MX", "NS", "CNAME"})
_RANK = {m: i for i, m in enumerate(Method)}  # Method is declared strongest first
_CONF_RANK = {Confidence.NONE: 0, Confidence.LOW: 1, Confidence.MEDIUM: 2, Confidence.HIGH: 3}


class _Signals:
    """What the look-ups found for one asset, before ranking (mutable, one per asset)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.locations: list[Location] = []
        self.controls: list[Control] = []
        self.tried: list[Evidence] = []
        self.conflicts: list[
            Evidence
        ] = []  # signals set aside before ranking, told in both answers

    def where(
        self,
        provider: str | None,
        region: str | None,
        place: RegionPlace | None,
        method: Method,
        confidence: Confidence,
        source: str,
        detail: str,
        dataset: str,
        *,
        edge: bool = False,
    ) -> None:
        """A location candidate; the place (when given) supplies country and subdivision."""
        country = None if edge or place is None else place.country
        subdivision = None if edge or place is None else place.subdivision
        evidence = (_ev(self.kb, source, detail, confidence, dataset),)
        self.locations.append(
            Location(provider, region, country, subdivision, edge, method, confidence, evidence)
        )

    def edge(
        self,
        provider: str | None,
        method: Method,
        confidence: Confidence,
        source: str,
        detail: str,
        dataset: str,
    ) -> None:
        """A global-edge candidate: the data is served from everywhere, no country."""
        self.where(provider, None, None, method, confidence, source, detail, dataset, edge=True)

    def who(self, control: Control) -> None:
        self.controls.append(control)

    def nothing(self, source: str, detail: str, dataset: str | None = None) -> None:
        """Something tried that gave no answer, kept for the unknown result's evidence."""
        self.tried.append(_ev(self.kb, source, detail, Confidence.NONE, dataset))


def resolve(
    asset: Asset,
    kb: KnowledgeBase,
    rdap: RdapClient | None = None,
    declared: DeclaredTable | None = None,
) -> ResolvedAsset:
    """Resolve one asset (offline unless an RDAP client is given)."""
    return resolve_all((asset,), kb, rdap, declared)[0]


class _Run:
    """One resolve_all call's shared state: IP matches, RDAP answers, memoised answers, and the
    mailbox answers by domain (DMARC reports sent to the domain itself land in its mailbox)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        matches: Mapping[str, IpMatch],
        rdap: RdapClient | None,
        declared: DeclaredTable | None,
    ) -> None:
        self.kb = kb
        self.matches = matches
        self.rdap = rdap
        self.declared = declared or None  # an empty table: nothing to look up
        self.rdap_cache: dict[str, RdapNetwork | None] = {}
        self.answers: dict[tuple[object, ...], tuple[Location, Control]] = {}
        self.mailboxes: dict[str, ResolvedAsset] = {}
        self.runs_on = _runs_on(kb)
        self.operator_kinds = operator_kinds(kb)

    def resolve(self, asset: Asset) -> ResolvedAsset:
        # Answers depend only on the attributes resolution reads, and scans share many (the same
        # MX host or name server under thousands of domains): resolve each distinct set once.
        key = _memo_key(asset)
        try:
            answer = self.answers.get(key)
        except TypeError:  # an attribute outside the documented (hashable) types
            return _resolve(asset, self)
        if answer is not None:
            return ResolvedAsset(asset, *answer)
        resolved = _resolve(asset, self)
        self.answers[key] = (resolved.location, resolved.control)
        return resolved


def resolve_all(
    assets: Sequence[Asset],
    kb: KnowledgeBase,
    rdap: RdapClient | None = None,
    declared: DeclaredTable | None = None,
) -> tuple[ResolvedAsset, ...]:
    """Resolve many assets; their addresses go through the IP index in one bulk look-up, and
    through the institution's `declared` networks (`resolve.declared_table`) when given.

    Assets with ``replica_regions`` come back as a copy with ``replica_places`` (ISO codes of the
    regions, in order; a region without a known place gives no entry) and
    ``replica_places_complete`` (True, and only present, when every region had a place).
    """
    wanted = [a for asset in assets for a in _addresses(asset)]
    run = _Run(kb, {m.address: m for m in kb.index.lookup_many(wanted)}, rdap, declared)
    # Mailboxes first: a DMARC record may send its reports to the domain's own mailbox.
    mx_assets: dict[tuple[object, str], Asset] = {
        (a.attributes.get("domain"), _host_key(a.name)): a for a in assets if a.kind == "dns.mx"
    }
    mailboxes: dict[int, ResolvedAsset] = {}
    for asset in assets:
        domain = asset.attributes.get("domain")
        if asset.kind == "dns.mailbox" and isinstance(domain, str):
            resolved = _on_own_mail_server(run.resolve(asset), mx_assets, run)
            mailboxes[id(asset)] = resolved
            run.mailboxes.setdefault(domain, resolved)
    out = []
    for asset in assets:
        resolved = mailboxes.get(id(asset)) or run.resolve(asset)
        placed = _with_replica_places(asset, kb)
        out.append(resolved if placed is asset else replace(resolved, asset=placed))
    return tuple(out)


def _memo_key(asset: Asset) -> tuple[object, ...]:
    key: tuple[object, ...] = tuple(asset.attributes.get(name) for name in _READS)
    if asset.kind in _OWN_WAY:
        key += (asset.kind,)
    if asset.kind == "dns.dmarc":
        key += (asset.attributes.get("domain"),)  # its own-domain reports depend on the domain
    return key


def _resolve(asset: Asset, run: _Run) -> ResolvedAsset:
    kb, matches, rdap, rdap_cache = run.kb, run.matches, run.rdap, run.rdap_cache
    if asset.kind == "dns.mailbox":
        return _resolve_mailbox(asset, kb)
    if asset.kind == "dns.dmarc" and isinstance(asset.attributes.get("report_domains"), tuple):
        return _resolve_dmarc(asset, run)
    signals = _Signals(kb)
    _from_cloud_api(asset, signals)
    for address in _addresses(asset):
        match = matches.get(address)
        if match is not None:
            _from_address(match, signals)
            if run.declared is not None:
                _from_declared(match, run.declared, signals)
    for name in _names(asset):
        _from_name(name, signals)
    _from_headers(asset, signals)
    _from_tenant_scope(asset, signals)
    includes = asset.attributes.get("spf_includes")
    text = asset.attributes.get("text")
    if asset.kind == "dns.spf" and isinstance(includes, tuple):
        # The probe expanded the record (pass-qualified includes, recursively): read that, not
        # the top-level text, so nested senders count and ~include/-include do not.
        _from_spf_includes(includes, signals)
    elif isinstance(text, str):
        _from_text(text, signals)
    if rdap is not None and not signals.controls:
        # RDAP only for the residue: one query per address per run, the client caches by network.
        for address in _addresses(asset)[:1]:
            if address not in rdap_cache:
                rdap_cache[address] = rdap.lookup(address)
            net = rdap_cache[address]
            if net is not None:
                signals.who(_rdap_control(address, net, kb))
            else:
                signals.nothing("rdap", f"RDAP had no answer for {address}")
    location = _choose_location(signals.locations, signals.tried)
    declared = _text_attr(asset, "data_location")
    if declared is not None:
        location = replace(location, declared=declared)
    control = _choose_control(signals.controls, signals.tried, run.runs_on)
    if signals.conflicts:
        # A declaration the provider's own range overrode is part of both answers' story.
        told = tuple(signals.conflicts[:MAX_NAMES])
        location = replace(location, evidence=(*location.evidence, *told))
        control = replace(control, evidence=(*control.evidence, *told))
    if asset.kind == "saas.endpoint":
        control = endpoint_control(asset, control, kb, run.operator_kinds)
    return ResolvedAsset(asset, location, control)


# --- signals -----------------------------------------------------------------------------------


def _from_cloud_api(asset: Asset, sig: _Signals) -> None:
    kb = sig.kb
    provider_id = asset.attributes.get("provider")
    if not isinstance(provider_id, str):
        return
    if provider_id not in kb.providers:
        sig.nothing("catalogue:providers", f"provider {provider_id!r} is not in the catalogue")
        return
    region = _text_attr(asset, "region")
    partition = _text_attr(asset, "partition")
    # Every asset of a partition or region another entry operates (the European Sovereign
    # Cloud's aws-eusc, AWS China's operators...) names that offer as its provider, not the
    # licensor: rules about offers read location.provider, and a bucket is in its account's offer.
    provider = _operator_of(kb, provider_id, partition, region)
    offer = provider.id
    if region is None and asset.kind == "aws.account" and partition is not None:
        # An account has no place, but its partition says which offer it is in.
        detail = f"{provider_id} account in partition {partition}: an account has no region"
        sig.where(
            offer, None, None, Method.CLOUD_API, Confidence.HIGH, "asset", detail, "providers"
        )
    elif region is None:
        sig.nothing("asset", f"{provider_id} asset without a region")
    else:
        place = kb.regions.get((provider_id, region))
        if place is not None and (place.country or place.kind == "edge"):
            detail = f"cloud API region {region}: {_where(place)}"
            sig.where(
                offer,
                region,
                place,
                Method.CLOUD_API,
                Confidence.HIGH,
                "catalogue:regions",
                detail,
                "regions",
                edge=place.kind == "edge",
            )
        else:
            why = "has no published place" if place else "is not in the region table"
            detail = f"cloud API region {region} {why}"
            sig.where(
                offer,
                region,
                None,
                Method.CLOUD_API,
                Confidence.LOW,
                "catalogue:regions",
                detail,
                "regions",
            )
    where = f"{provider_id} region {region}" if region else provider_id
    sig.who(
        _provider_control(kb, provider, Method.CLOUD_API, Confidence.HIGH, f"cloud API: {where}")
    )


def _from_address(match: IpMatch, sig: _Signals) -> None:
    kb = sig.kb
    address = match.address
    if not match.valid:
        sig.nothing("ip-index", f"{address!r} is not an IP address")
        return
    cloud = match.cloud
    if cloud is not None and cloud.provider in kb.providers:
        group = kb.regions.get((cloud.provider, cloud.border_group)) if cloud.border_group else None
        place = group or kb.regions.get((cloud.provider, cloud.region))
        region = cloud.border_group or cloud.region or None
        label = f"{address} in {cloud.prefix} ({cloud.provider} {cloud.service}"
        label += f", region {cloud.region}" if cloud.region else ", no region"
        label += f", border group {cloud.border_group})" if cloud.border_group else ")"
        source = f"published-ranges:{cloud.feed}"
        method = Method.PUBLISHED_RANGES
        # The range's region says which offer runs it (an aws-eusc range is the sovereign cloud's).
        provider = _operator_of(kb, cloud.provider, None, cloud.region or None)
        offer = provider.id
        if cloud.edge or (place is not None and place.kind == "edge"):
            detail = label + ": global edge, no country"
            sig.edge(
                offer,
                method,
                Confidence.HIGH,
                source,
                detail,
                cloud.feed,
            )
        elif place is not None and place.country:
            detail = f"{label}: {_where(place)}"
            sig.where(offer, region, place, method, Confidence.HIGH, source, detail, cloud.feed)
        else:
            detail = label + ": place of this region unknown"
            sig.where(offer, region, None, method, Confidence.LOW, source, detail, cloud.feed)
        sig.who(_provider_control(kb, provider, method, Confidence.HIGH, label))
    if match.asn is not None:
        _from_asn(address, match.asn, match.as_org, sig, in_cloud=cloud is not None)
    elif cloud is None:
        kind = special_use(address)
        detail = (
            f"{address}: {kind}, not reachable from the internet: no published range or routed "
            "prefix can say where it is or who runs it"
            if kind
            else f"{address}: in no published range and no routed prefix"
        )
        sig.nothing("ip-index", detail, "ip-asn")


def _from_declared(match: IpMatch, table: DeclaredTable, sig: _Signals) -> None:
    """The institution's statement about the network holding the address ([[networks]])."""
    found = table.lookup(match.address) if match.valid else None
    if found is None:
        return
    entry = found.network
    label = (
        f"{match.address} in {found.prefix}, declared in the inventory as "
        f"{bounded(entry.name, 120)!r} (basis: {bounded(entry.basis, 200)})"
    )
    cloud = match.cloud
    if cloud is not None and cloud.provider in sig.kb.providers:
        # A provider's published range is the provider's own word about who runs the address;
        # a declaration covering it is a BYOIP range the cloud runs, or a mistake: told, not used.
        detail = (
            f"{label}: not used: the address is in {cloud.provider}'s published range "
            f"{cloud.prefix}, which wins over a declaration (a range the cloud runs for the "
            "institution, or a mistake in the declaration)"
        )
        sig.conflicts.append(
            Evidence("resolve:conflict", bounded(detail), table.as_of, Confidence.MEDIUM)
        )
        return
    juris = entry.jurisdictions
    detail = f"{label}: operator {run_by(entry.operator, entry.parent)}; "
    detail += f"jurisdictions {', '.join(juris)}"
    evidence = (Evidence("inventory:networks", bounded(detail), table.as_of, Confidence.MEDIUM),)
    sig.who(
        Control(
            entry.operator,
            entry.parent,
            juris,
            sig.kb.default_laws(juris),
            Method.DECLARED,
            Confidence.MEDIUM,
            evidence,
        )
    )
    if entry.place is not None:
        # Where those servers are, as stated: a server's place, not where the data rests
        # (`rests_there` is unknown for this method, as for any address).
        country, _, _ = entry.place.partition("-")
        subdivision = entry.place if "-" in entry.place else None
        where = (
            f"{label}: servers in {entry.place}, as the institution declares; where they answer, "
            "not where the data rests"
        )
        sig.locations.append(
            Location(
                None,
                None,
                country,
                subdivision,
                False,
                Method.DECLARED,
                Confidence.MEDIUM,
                (Evidence("inventory:networks", bounded(where), table.as_of, Confidence.MEDIUM),),
            )
        )


def _from_asn(address: str, asn: int, as_org: str | None, sig: _Signals, *, in_cloud: bool) -> None:
    kb = sig.kb
    label = f"{address} announced by AS{asn}" + (f" ({bounded(as_org, 120)})" if as_org else "")
    pid = kb.provider_by_asn.get(asn)
    provider = kb.providers[pid] if pid is not None else None
    if provider is not None and provider.edge and not in_cloud:
        # The whole AS is the provider's anycast edge: no single country holds the data.
        detail = f"{label}: {provider.name} edge network"
        sig.edge(
            provider.id,
            Method.ASN_TABLE,
            Confidence.MEDIUM,
            "asn-table",
            detail,
            "ip-asn",
        )
    elif not in_cloud:
        sig.nothing(
            "asn-table",
            f"{label}: an ASN names who routes the network, not where data is",
            "ip-asn",
        )
    if provider is not None:
        sig.who(_provider_control(kb, provider, Method.ASN_TABLE, Confidence.MEDIUM, label))
        return
    operator = kb.asn_operators.get(asn)
    if operator is not None:
        conf = Confidence.MEDIUM if operator.confidence is Confidence.HIGH else Confidence.LOW
        juris = (operator.country,) if operator.country else None
        laws = kb.default_laws(juris) if juris else None
        detail = f"{label}: {run_by(operator.operator, operator.parent)}"
        detail += f"; jurisdiction {operator.country or '?'}"
        evidence = (_ev(kb, "catalogue:asn-operators", detail, conf, "asn-operators"),)
        sig.who(
            Control(
                operator.operator, operator.parent, juris, laws, Method.ASN_TABLE, conf, evidence
            )
        )
    elif as_org:
        # Only the AS organisation's name is known: its parent and home are not.
        detail = f"{label}: operator's parent and home unknown"
        evidence = (_ev(kb, "ip-asn", detail, Confidence.LOW, "ip-asn"),)
        sig.who(
            Control(
                bounded(as_org, 120), None, None, None, Method.ASN_TABLE, Confidence.LOW, evidence
            )
        )
    else:
        sig.nothing("ip-asn", f"{label}: AS not in any table", "ip-asn")


def _from_name(name: str, sig: _Signals) -> None:
    kb = sig.kb
    host = name.strip().lower().rstrip(".")
    for pattern in kb.host_patterns_for(host):
        found = pattern.regex.match(host) if pattern.record in _NAME_RECORDS else None
        if found is None:
            continue
        vendor = pattern.vendor
        label = f"{bounded(host, 200)} matches {pattern.record} pattern {pattern.pattern}"
        label += f" ({vendor.product})"
        region = found.groupdict().get("region")
        place = (
            kb.regions.get((pattern.region_provider, region))
            if pattern.region_provider and region
            else None
        )
        if place is not None and place.country:
            conf = _cap(vendor.confidence, Confidence.MEDIUM)
            detail = f"{label}: region {region}, {_where(place)}"
            sig.where(
                pattern.region_provider,
                region,
                place,
                Method.HOSTNAME_REGION,
                conf,
                "catalogue:hostnames",
                detail,
                "hostnames",
            )
        elif region is not None:
            sig.nothing(
                "catalogue:hostnames", f"{label}: {region!r} is not a known region", "hostnames"
            )
        elif pattern.edge:
            detail = label + ": global edge, no country"
            sig.edge(
                vendor.provider,
                Method.CATALOGUE,
                Confidence.MEDIUM,
                "catalogue:hostnames",
                detail,
                "hostnames",
            )
        else:
            sig.nothing(
                "catalogue:hostnames", f"{label}: names the vendor, not a region", "hostnames"
            )
        method = Method.HOSTNAME_REGION if region is not None else Method.CATALOGUE
        sig.who(_vendor_control(kb, vendor, method, label))
        return
    sig.nothing("catalogue:hostnames", f"{bounded(host, 200)} matches no host pattern", "hostnames")


def _from_headers(asset: Asset, sig: _Signals) -> None:
    """Vendor headers of the endpoint's HTTPS response: who serves it, and whether from an edge."""
    headers = asset.attributes.get("https_headers")
    if not isinstance(headers, tuple):
        return
    seen: set[str] = set()
    for line in headers[:MAX_NAMES]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        for signal in sig.kb.header_signals:
            vendor = signal.vendor
            if signal.header != name or vendor.product in seen or not signal.regex.fullmatch(value):
                continue
            seen.add(vendor.product)
            label = f"HTTPS header {name}: {bounded(value, 80)} ({vendor.product})"
            sig.who(_vendor_control(sig.kb, vendor, Method.CATALOGUE, label))
            if signal.edge:
                sig.edge(
                    vendor.provider,
                    Method.CATALOGUE,
                    Confidence.MEDIUM,
                    "catalogue:http-signals",
                    f"{label}: served from a global edge; the origin is not seen",
                    "http-signals",
                )
    if not seen:
        sig.nothing(
            "catalogue:http-signals", "no HTTPS header names a known vendor", "http-signals"
        )


def _from_tenant_scope(asset: Asset, sig: _Signals) -> None:
    """A Microsoft Entra tenant's region scope: a continent (NA, EU...), never a country."""
    scope = _text_attr(asset, "tenant_region_scope")
    if asset.kind != "saas.tenant" or scope is None:
        return
    sub = _text_attr(asset, "tenant_region_sub_scope")
    detail = f"tenant region scope {scope}" + (f" ({sub})" if sub else "")
    sig.where(
        _text_attr(asset, "provider"),
        f"tenant-scope:{scope}",
        None,
        Method.CLOUD_API,
        Confidence.MEDIUM,
        "https:openid-configuration",
        f"{detail}: where the tenant's directory is homed, a region not a country",
        "providers",
    )


def _from_spf_includes(includes: tuple[str, ...], sig: _Signals) -> None:
    kb = sig.kb
    found = False
    for include in includes[:MAX_NAMES]:
        name = include.strip().lower().rstrip(".")
        pattern = _host_pattern(kb, name, "SPF")
        if pattern is not None:
            label = f"SPF include:{bounded(name, 200)} ({pattern.vendor.product})"
            sig.who(_vendor_control(kb, pattern.vendor, Method.CATALOGUE, label))
            found = True
    if not found:
        sig.nothing(
            "catalogue:hostnames", "no SPF pass include matches a known sender", "hostnames"
        )


def _host_pattern(kb: KnowledgeBase, name: str, record: str) -> HostPattern | None:
    candidates = kb.host_patterns_for(name)
    return next((p for p in candidates if p.record == record and p.regex.match(name)), None)


def _from_text(text: str, sig: _Signals) -> None:
    kb = sig.kb
    value = text.strip().strip('"')
    if value.lower().startswith("v=spf1"):
        terms = value.split()
        includes = [t.split(":", 1)[1].lower() for t in terms if t.lower().startswith("include:")]
        found = False
        for domain in includes[:MAX_NAMES]:
            name = domain.rstrip(".")
            candidates = kb.host_patterns_for(name)
            pattern = next(
                (p for p in candidates if p.record == "SPF" and p.regex.match(name)), None
            )
            if pattern is not None:
                label = f"SPF include:{bounded(domain, 200)} ({pattern.vendor.product})"
                sig.who(_vendor_control(kb, pattern.vendor, Method.CATALOGUE, label))
                found = True
        if not found:
            sig.nothing("catalogue:hostnames", "no SPF include matches a known sender", "hostnames")
        return
    lowered = value.lower()
    for token in kb.txt_tokens:
        hit = token.regex.match(value) if token.regex else lowered.startswith(token.pattern.lower())
        if hit:
            label = f"TXT token {bounded(token.pattern, 80)} ({token.vendor.product})"
            sig.who(_vendor_control(kb, token.vendor, Method.CATALOGUE, label))
            sig.nothing(
                "catalogue:txt-tokens",
                "a verification token says nothing about where data is",
                "txt-tokens",
            )
            return
    sig.nothing(
        "catalogue:txt-tokens", "TXT text matches no known verification token", "txt-tokens"
    )


# --- control from catalogue entries ------------------------------------------------------------


def _operator_of(
    kb: KnowledgeBase, provider_id: str, partition: str | None, region: str | None
) -> Provider:
    """The catalogue entry operating `provider_id` in that partition or region (AWS China...).

    Without a partition, the region table's partition of the region stands in for it, so a
    region added to a partition's rows is operated by that partition's entry."""
    provider = kb.providers[provider_id]
    if region is not None and region in provider.regions:
        return kb.providers[provider.regions[region]]
    if partition is None and region is not None:
        place = kb.regions.get((provider_id, region))
        partition = place.partition if place is not None else None
    if partition is not None and partition in provider.partitions:
        return kb.providers[provider.partitions[partition]]
    return provider


def _provider_control(
    kb: KnowledgeBase, provider: Provider, method: Method, confidence: Confidence, why: str
) -> Control:
    juris = list(provider.jurisdictions)
    laws = list(provider.laws)
    evidence = [
        _ev(
            kb,
            "catalogue:providers",
            f"{why} -> {provider.name}: operator {run_by(provider.operator, provider.parent)}",
            confidence,
            "providers",
        )
    ]
    if provider.licensor:
        licensor = kb.providers[provider.licensor]
        evidence.append(
            _ev(
                kb,
                "catalogue:providers",
                f"technology licensed from {licensor.name}; operated by {provider.operator}",
                confidence,
                "providers",
            )
        )
    for host_id in provider.hosted_on:
        host = kb.providers[host_id]
        juris += [j for j in host.jurisdictions if j not in juris]
        laws += [law for law in host.laws if law not in laws]
        evidence.append(
            _ev(
                kb,
                "catalogue:providers",
                f"{provider.name} runs on {host.name} ({', '.join(host.jurisdictions)}): "
                "its laws reach the data too",
                confidence,
                "providers",
            )
        )
    return Control(
        provider.operator,
        provider.parent,
        tuple(juris),
        tuple(laws),
        method,
        confidence,
        tuple(evidence),
    )


def _vendor_control(
    kb: KnowledgeBase,
    vendor: Vendor,
    method: Method,
    why: str,
    confidence: Confidence | None = None,
) -> Control:
    # A bare fingerprint is at most MEDIUM; a caller weighing several signals may say more.
    confidence = confidence or _cap(vendor.confidence, Confidence.MEDIUM)
    if vendor.note:
        why = f"{why} [{vendor.note}]"  # caveats such as "not proof of Workspace mail"
    if vendor.provider is not None:
        return _provider_control(kb, kb.providers[vendor.provider], method, confidence, why)
    juris = (vendor.country,) if vendor.country else None
    laws = kb.default_laws(juris) if juris else None
    detail = f"{why} -> {vendor.name}, parent {vendor.parent} ({vendor.country or '?'})"
    if laws:
        detail += "; laws from the parent's home jurisdiction"
    return Control(
        vendor.name,
        vendor.parent,
        juris,
        laws,
        method,
        confidence,
        (_ev(kb, "catalogue:hostnames", detail, confidence, "hostnames"),),
    )


def _rdap_control(address: str, net: RdapNetwork, kb: KnowledgeBase) -> Control:
    # A registrant's country is the subsidiary's, not the parent's: jurisdictions stay unknown.
    detail = f"{address} in {net.cidr} ({net.registry}): {net.name}, {net.org or 'no organisation'}"
    detail += f", registrant country {net.country}" if net.country else ""
    return Control(
        net.org or net.name or None,
        None,
        None,
        None,
        Method.RDAP,
        Confidence.LOW,
        (_ev(kb, f"rdap:{net.registry}", detail, Confidence.LOW),),
    )


# --- mail: mailboxes behind gateways, DMARC report processors -----------------------------------


def _host_key(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _on_own_mail_server(
    mailbox: ResolvedAsset, mx_assets: Mapping[tuple[object, str], Asset], run: _Run
) -> ResolvedAsset:
    """An undecided mailbox whose first MX host is no catalogued provider or gateway (the
    institution's own server, or a hosting company's): its mailboxes are taken to be on that
    server, run by whoever runs its address, but only as an inference (confidence low). So a
    mail server hosted abroad is a risk, not unknown, while one at home stays unknown until
    something confirms it (a relay to a cloud mailbox looks the same from the DNS)."""
    if mailbox.control.method is not Method.UNKNOWN:
        return mailbox
    found = attribute_mailbox(mailbox.asset.attributes, run.kb)
    mx_hosts = mailbox.asset.attributes.get("mx_hosts")
    if found.gateway is not None or found.others or not isinstance(mx_hosts, tuple) or not mx_hosts:
        return mailbox  # a gateway, or signals that could not decide: not the MX host's own
    host = _host_key(str(mx_hosts[0]))
    mx_asset = mx_assets.get((mailbox.asset.attributes.get("domain"), host))
    if mx_asset is None:
        return mailbox
    mx = run.resolve(mx_asset)
    if mx.control.jurisdictions is None:
        return mailbox
    why = _ev(
        run.kb,
        "resolve:mailbox:mx-host",
        f"no signal names a mailbox provider and MX host {host} is no catalogued mail service: "
        f"its mailboxes are taken to be on that server, run by {mx.control.operator} "
        "(an inference: a relay to another mailbox provider looks the same from the DNS)",
        Confidence.LOW,
        "hostnames",
    )
    control = replace(
        mx.control,
        confidence=Confidence.LOW,
        evidence=(why, *mx.control.evidence, *mailbox.control.evidence),
    )
    location = replace(mx.location, evidence=(why, *mx.location.evidence))
    return ResolvedAsset(mailbox.asset, location, control)


def _resolve_mailbox(asset: Asset, kb: KnowledgeBase) -> ResolvedAsset:
    found = attribute_mailbox(asset.attributes, kb)
    decided = found.decided
    context = _mail_context(kb, found)
    if decided is None:
        evidence = (*context, _ev(kb, "resolve:mailbox", "no signal decided the mailbox provider",
                                  Confidence.NONE, "hostnames"))  # fmt: skip
        control = replace(UNKNOWN_CONTROL, evidence=evidence)
        return ResolvedAsset(asset, replace(UNKNOWN_LOCATION, evidence=evidence), control)
    headline = _ev(
        kb,
        f"resolve:mailbox:{decided.signal}",
        f"deciding signal {decided.signal} ({decided.confidence.value} confidence): "
        f"{decided.detail} -> {decided.vendor.name}",
        decided.confidence,
        "hostnames",
    )
    base = _vendor_control(kb, decided.vendor, Method.CATALOGUE, decided.detail, decided.confidence)
    control = replace(base, evidence=(headline, *base.evidence, *context))
    return ResolvedAsset(asset, _mailbox_location(kb, decided, headline), control)


def _mail_context(kb: KnowledgeBase, found: MailAttribution) -> tuple[Evidence, ...]:
    """Evidence around the decision: the gateway, the other signals (agreeing or not), notes."""
    out: list[Evidence] = []
    if found.gateway is not None:
        gateway = found.gateway
        detail = f"MX is a {gateway.product} gateway ({gateway.name}): looked through; "
        detail += "the gateway itself is attributed on the dns.mx asset"
        out.append(_ev(kb, "resolve:mailbox:gateway", detail, gateway.confidence, "hostnames"))
    conflicts = found.conflicts
    for other in found.others[:MAX_NAMES]:
        if other in conflicts:
            source = "resolve:conflict"
            detail = f"other mailbox signal {other.signal}: {other.detail} -> {other.vendor.name}"
        else:
            source = f"resolve:mailbox:{other.signal}"
            verdict = "agrees" if found.decided is not None else "not used"
            detail = f"{other.signal} {verdict}: {other.detail} -> {other.vendor.name}"
        out.append(_ev(kb, source, detail, other.confidence, "hostnames"))
    out += [_ev(kb, "resolve:mailbox", note, Confidence.NONE, "hostnames") for note in found.notes]
    return tuple(out)


def _mailbox_location(kb: KnowledgeBase, decided: MailSignal, headline: Evidence) -> Location:
    place = (
        kb.regions.get((decided.region_provider, decided.region))
        if decided.region_provider and decided.region
        else None
    )
    if place is None or not place.country:
        detail = f"{decided.vendor.name}: no known region in the host names; DNS does not say "
        detail += "where the mailboxes are stored"
        why = _ev(kb, "resolve:mailbox", detail, Confidence.NONE, "hostnames")
        return replace(UNKNOWN_LOCATION, evidence=(why, headline))
    confidence = _cap(decided.confidence, Confidence.MEDIUM)  # naming is an inference
    detail = f"{decided.detail}: region {decided.region}, {_where(place)}"
    evidence = (_ev(kb, "catalogue:hostnames", detail, confidence, "hostnames"), headline)
    return Location(
        decided.region_provider,
        decided.region,
        place.country,
        place.subdivision,
        False,
        Method.HOSTNAME_REGION,
        confidence,
        evidence,
    )


def _resolve_dmarc(asset: Asset, run: _Run) -> ResolvedAsset:
    """The report processors' answer: every rua/ruf domain must be known for control to be."""
    kb = run.kb
    domains = asset.attributes.get("report_domains")
    own = asset.attributes.get("domain")
    reports = [d for d in domains if isinstance(d, str)] if isinstance(domains, tuple) else []
    controls: list[Control] = []
    locations: list[Location] = []
    missing: list[Evidence] = []
    for domain in reports[:MAX_NAMES]:
        if domain == own:
            mailbox = run.mailboxes.get(domain)
            if mailbox is None or mailbox.control.jurisdictions is None:
                detail = f"reports go to {domain} itself, whose mailbox provider is unknown"
                missing.append(_ev(kb, "resolve:dmarc", detail, Confidence.NONE, "hostnames"))
                continue
            why = _ev(
                kb,
                "resolve:dmarc",
                f"reports go to {domain} itself: its mailbox, run by {mailbox.control.operator}",
                mailbox.control.confidence,
                "hostnames",
            )
            controls.append(replace(mailbox.control, evidence=(why, *mailbox.control.evidence)))
            locations.append(mailbox.location)
            continue
        pattern = _host_pattern(kb, domain, "DMARC")
        if pattern is None:
            detail = f"report processor {bounded(domain, 200)} matches no known processor"
            missing.append(_ev(kb, "catalogue:hostnames", detail, Confidence.NONE, "hostnames"))
            continue
        label = f"DMARC reports to {bounded(domain, 200)} ({pattern.vendor.product})"
        controls.append(_vendor_control(kb, pattern.vendor, Method.CATALOGUE, label))
        locations.append(
            replace(
                UNKNOWN_LOCATION,
                evidence=(
                    _ev(
                        kb,
                        "catalogue:hostnames",
                        f"{label}: the processor's location is not published in DNS",
                        Confidence.NONE,
                        "hostnames",
                    ),
                ),
            )
        )
    if not reports:
        detail = "the DMARC record names no report address (rua/ruf)"
        missing.append(_ev(kb, "resolve:dmarc", detail, Confidence.NONE, "hostnames"))
    control = _merge_controls(controls, missing)
    if len(locations) == 1 and not missing:
        location = locations[0]
    else:
        evidence = tuple(e for loc in locations for e in loc.evidence[:1]) + tuple(missing)
        location = replace(UNKNOWN_LOCATION, evidence=evidence or (_nothing(),))
    return ResolvedAsset(asset, location, control)


def _merge_controls(controls: Sequence[Control], missing: Sequence[Evidence]) -> Control:
    """One answer for several processors: known only when every processor is known."""
    if not controls:
        return replace(UNKNOWN_CONTROL, evidence=tuple(missing) or (_nothing(),))
    if len(controls) == 1 and not missing:
        return controls[0]
    operators = tuple(dict.fromkeys(c.operator for c in controls if c.operator))
    parents = tuple(dict.fromkeys(c.parent for c in controls if c.parent))
    evidence = tuple(e for c in controls for e in c.evidence[:2]) + tuple(missing)
    weakest = max(controls, key=lambda c: (_RANK[c.method], -_CONF_RANK[c.confidence]))
    if missing or any(c.jurisdictions is None for c in controls):
        # One processor unknown: a union of the others would read as the whole answer.
        return Control(
            "; ".join(operators) or None,
            None,
            None,
            None,
            weakest.method,
            Confidence.LOW,
            evidence,
        )
    juris = tuple(dict.fromkeys(j for c in controls for j in c.jurisdictions or ()))
    laws = tuple(dict.fromkeys(law for c in controls for law in c.laws or ()))
    return Control(
        "; ".join(operators),
        "; ".join(parents) or None,
        juris,
        laws,
        weakest.method,
        weakest.confidence,
        evidence,
    )


# --- replicas --------------------------------------------------------------------------------


def _with_replica_places(asset: Asset, kb: KnowledgeBase) -> Asset:
    """The asset with ``replica_places`` derived from ``replica_regions`` (same asset if none)."""
    regions = asset.attributes.get("replica_regions")
    provider = asset.attributes.get("provider")
    if (
        not isinstance(regions, tuple)
        or not isinstance(provider, str)
        or "replica_places" in asset.attributes
    ):
        return asset
    places: list[str] = []
    for region in regions[: MAX_NAMES * 4]:
        place = kb.regions.get((provider, region)) if isinstance(region, str) else None
        code = None if place is None or place.kind == "edge" else place.subdivision or place.country
        if code:
            places.append(code)
    extra: dict[str, AttrValue] = {"replica_places": tuple(places)}
    if len(places) == len(regions):
        # Present only when every replica was placed: absent, the fact is unknown to the rules,
        # so a list with an unplaced region can never read as "all inside".
        extra["replica_places_complete"] = True
    return replace(asset, attributes={**asset.attributes, **extra})


# --- choosing ----------------------------------------------------------------------------------


def _choose_location(candidates: Sequence[Location], tried: Sequence[Evidence]) -> Location:
    if not candidates:
        return replace(UNKNOWN_LOCATION, evidence=tuple(tried) or (_nothing(),))
    # A candidate that names a place (or an edge) beats one that only names a region.
    ranked = sorted(
        candidates,
        key=lambda c: (not (c.country or c.edge), _RANK[c.method], -_CONF_RANK[c.confidence]),
    )
    best = ranked[0]
    conflicts = [
        Evidence(
            "resolve:conflict",
            bounded(
                f"conflicting signal ({c.method.value}): {_loc_text(c)} vs chosen {_loc_text(best)}"
            ),
            c.evidence[0].observed_at if c.evidence else best.evidence[0].observed_at,
            c.confidence,
        )
        for c in ranked[1:]
        if _differs(best, c)
    ]
    agreeing = [e for c in ranked[1:] if not _differs(best, c) for e in c.evidence[:1]]
    return replace(best, evidence=(*best.evidence, *agreeing, *conflicts))


def _choose_control(
    candidates: Sequence[Control],
    tried: Sequence[Evidence],
    runs_on: Mapping[str, frozenset[str]],
) -> Control:
    if not candidates:
        return replace(UNKNOWN_CONTROL, evidence=tuple(tried) or (_nothing(),))
    hosts = _infrastructure(candidates, runs_on)
    ranked = sorted(
        candidates,
        key=lambda c: (
            c.jurisdictions is None,
            # A SaaS vendor runs the service it hosts on a cloud (D2L's Brightspace on AWS): the
            # address names the cloud, but the vendor is the operator, the cloud's laws included.
            c.operator in hosts,
            _RANK[c.method],
            -_CONF_RANK[c.confidence],
        ),
    )
    best = ranked[0]
    extra = []
    told: set[str | None] = set()
    for other in ranked[1:]:
        jurisdictions = ", ".join(other.jurisdictions or ("?",))
        if other.operator in hosts and best.operator not in hosts:
            if other.operator in told:
                continue
            told.add(other.operator)
            source = "resolve:infrastructure"
            detail = (
                f"{best.operator} runs on {other.operator} ({other.method.value}, "
                f"jurisdictions {jurisdictions})"
            )
        elif (other.operator, other.jurisdictions) != (best.operator, best.jurisdictions):
            source = "resolve:conflict"
            detail = (
                f"other signal ({other.method.value}): operator {other.operator}, "
                f"jurisdictions {jurisdictions}"
            )
        else:
            continue
        first = other.evidence[0] if other.evidence else None
        when = first.observed_at if first else best.evidence[0].observed_at
        extra.append(Evidence(source, bounded(detail), when, other.confidence))
    return replace(best, evidence=(*best.evidence, *extra[:MAX_NAMES]))


def _runs_on(kb: KnowledgeBase) -> dict[str, frozenset[str]]:
    """Operator -> the operators of the infrastructure its service runs on (`hosted_on`)."""
    return {
        provider.operator: frozenset(
            kb.providers[host].operator for host in provider.hosted_on if host in kb.providers
        )
        for provider in kb.providers.values()
        if provider.hosted_on
    }


def _infrastructure(
    candidates: Sequence[Control], runs_on: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """Operators among `candidates` that another candidate's service runs on."""
    if len(candidates) < 2:
        return frozenset()
    hosted = {host for c in candidates if c.operator for host in runs_on.get(c.operator, ())}
    return frozenset(c.operator for c in candidates if c.operator and c.operator in hosted)


def _differs(a: Location, b: Location) -> bool:
    if a.edge or b.edge:
        return a.edge != b.edge
    if b.country is None:
        return False  # a region-only signal does not contradict a place
    return (a.country, a.subdivision or b.subdivision) != (
        b.country,
        b.subdivision or a.subdivision,
    )


# --- helpers -----------------------------------------------------------------------------------


def _text_attr(asset: Asset, key: str) -> str | None:
    value = asset.attributes.get(key)
    return value if isinstance(value, str) and value else None


def _addresses(asset: Asset) -> list[str]:
    value = asset.attributes.get("addresses")
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, tuple):
        return []
    return [bounded(a, 64) for a in value[:MAX_ADDRESSES]]


def _names(asset: Asset) -> list[str]:
    names: list[str] = []
    host = asset.attributes.get("hostname")
    if isinstance(host, str) and host:
        names.append(host)
    chain = asset.attributes.get("cname_chain")
    if isinstance(chain, tuple):
        names += [c for c in chain if isinstance(c, str) and c and c not in names]
    tenant = asset.attributes.get("tenant")
    if asset.kind == "dns.dkim" and isinstance(tenant, str) and tenant and tenant not in names:
        # The Microsoft 365 tenant the selector is delegated to names its operator even when
        # the chain's last name matches no pattern.
        names.append(tenant)
    return names[:MAX_NAMES]


def _cap(confidence: Confidence, ceiling: Confidence) -> Confidence:
    return confidence if _CONF_RANK[confidence] <= _CONF_RANK[ceiling] else ceiling


def _where(place: RegionPlace) -> str:
    code = place.subdivision or place.country or "?"
    return f"{place.city} ({code})" if place.city else code


def _loc_text(loc: Location) -> str:
    if loc.edge:
        return f"{loc.provider or '?'} global edge"
    return f"{loc.provider or '?'} {loc.region or '-'} {loc.place or '?'}"


def _ev(
    kb: KnowledgeBase, source: str, detail: str, confidence: Confidence, dataset: str | None = None
) -> Evidence:
    # Evidence from offline data is dated by the dataset it came from, so reports stay reproducible.
    when: datetime = kb.as_of(dataset or "providers")
    return Evidence(source, bounded(detail), when, confidence)


def _nothing() -> Evidence:
    return Evidence(
        "resolve",
        "no attribute to resolve (provider, region, addresses, hostname, text)",
        datetime(1970, 1, 1, tzinfo=UTC),
        Confidence.NONE,
    )
