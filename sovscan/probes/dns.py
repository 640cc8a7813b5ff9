"""The DNS probe: what an institution's domains publish about where its mail, web and SaaS live."""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.CAA import CAA
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.IN.SRV import SRV

from sovscan.bounds import bounded
from sovscan.errors import ConfigError
from sovscan.model import Asset, AttrValue, Confidence, Evidence, Gap
from sovscan.probes import Clock, utc_now
from sovscan.probes.dns_prefetch import BulkSettings, Prefetcher
from sovscan.probes.dnslookup import MAX_RECORDS, Asker, Lookup, follow, host_text, lookup
from sovscan.probes.spf import SpfLookupError, expand_spf, select_spf

WELL_KNOWN_NAMES = ("www", "mail", "autodiscover", "lyncdiscover", "enterpriseenrollment", "sip")
# Selectors the big mail providers and senders publish (Microsoft, Google, Mailchimp, SendGrid...).
DKIM_SELECTORS = ("selector1", "selector2", "google", "k1", "k2", "s1", "s2", "default", "dkim")
SRV_NAMES = ("_sip._tls", "_sipfederationtls._tcp", "_autodiscover._tcp", "_xmpp-server._tcp")
MAX_TXT_BYTES = 4096  # bytes of one TXT record read; a 64 KiB record is cut, not refused
MAX_DOMAINS_LINE = 1024
MAX_TIMEOUTS_PER_DOMAIN = 3  # then the domain's remaining questions are not asked
MAIL_CLASSIFICATION = "personal"  # the label of every dns.mailbox asset


def sorted_addresses(values: Iterable[str]) -> tuple[str, ...]:
    """Unique addresses, IPv4 first, in numeric order (servers rotate them; assets should not)."""
    unique = {ipaddress.ip_address(v) for v in values}
    return tuple(str(a) for a in sorted(unique, key=lambda a: (a.version, int(a))))


def txt_text(rdata: dns.rdata.Rdata) -> str:
    """A TXT record's strings joined, read up to MAX_TXT_BYTES, invalid UTF-8 replaced."""
    raw = b"".join(getattr(rdata, "strings", ()))
    return raw[:MAX_TXT_BYTES].decode("utf-8", "replace")


def _txt_bytes(rdata: dns.rdata.Rdata) -> int:
    """A TXT record's length in bytes, its strings joined (0 for any other record)."""
    return sum(len(s) for s in getattr(rdata, "strings", ()))


_TOKEN_PAIR = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\s*[=:]\s*(\S+)$")
_TOKEN_PREFIX = re.compile(
    r"^([A-Za-z][A-Za-z0-9]*(?:[_-](?:verify|verification|site|domain|code))*)[_-]([A-Za-z0-9][\w.-]{5,})$"
)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})+$")
_VERSIONED = re.compile(r"^v\s*=", re.IGNORECASE)  # v=spf1, v=DMARC1, v=DKIM1, v=STSv1...


def verification_key(text: str) -> str | None:
    """The key of a verification token (``google-site-verification``, ``ms``, ``zoom_verify``)."""
    value = text.strip()
    if not value or len(value) > 1024 or _VERSIONED.match(value):
        return None
    match = _TOKEN_PAIR.match(value) or _TOKEN_PREFIX.match(value)
    if match is None or len(match.group(1)) > 64:
        return None
    return match.group(1).lower()


def dmarc_report_domains(record: str) -> tuple[str, ...]:
    """The domains receiving aggregate (rua) and failure (ruf) reports, sorted."""
    domains: set[str] = set()
    for tag in record.split(";"):
        key, _, value = tag.partition("=")
        if key.strip().lower() not in {"rua", "ruf"}:
            continue
        for uri in value.split(","):
            target = uri.strip().split("!", 1)[0]
            if target.lower().startswith("mailto:"):
                _local, at, domain = target[7:].rpartition("@")
                domain = domain if at else ""
            else:
                domain = urlsplit(target).hostname or ""
            domain = domain.strip().rstrip(".").lower()
            if _HOSTNAME.match(domain):
                domains.add(domain)
    return tuple(sorted(domains))


def _dmarc_tag(record: str, name: str) -> str | None:
    for tag in record.split(";"):
        key, _, value = tag.partition("=")
        if key.strip().lower() == name:
            return bounded(value.strip(), 64)
    return None


def _m365_tenant(chain: Sequence[str]) -> str | None:
    """The Microsoft 365 tenant a DKIM alias names: its ``<tenant>.onmicrosoft.com`` domain."""
    for name in chain:
        labels = name.split(".")
        if len(labels) >= 3 and labels[-2:] == ["onmicrosoft", "com"]:
            return ".".join(labels[-3:])
    return None


_MAIL_SIGNAL_KINDS = frozenset({"dns.mx", "dns.spf", "dns.dkim", "dns.host", "dns.txt"})


def _text(asset: Asset, key: str) -> str:
    value = asset.attributes.get(key)
    return value if isinstance(value, str) else ""


def _strings(asset: Asset, key: str) -> tuple[str, ...]:
    value = asset.attributes.get(key)
    return value if isinstance(value, tuple) else ()


class _DomainScan:
    """One domain's look-ups; holds a per-domain memo so each host is asked about once."""

    def __init__(
        self,
        domain: str,
        names: Sequence[str],
        asker: Asker,
        clock: Clock,
    ) -> None:
        self.domain = domain
        self.names = names
        self.asker = asker
        self.clock = clock
        self.memo: dict[tuple[str, str], Lookup] = {}
        self.followed: dict[tuple[str, str], Lookup] = {}
        self.timeouts = 0

    def ask(self, name: str, rdtype: str) -> Lookup:
        """The answer, with a CNAME chain the server stopped short followed to its end."""
        key = (name.lower(), rdtype)
        if key not in self.followed:
            # Through `ask_once`, on both paths: a chain end's question is one more question
            # of the domain, which the bulk path's rehearsal notes and asks like any other.
            self.followed[key] = follow(self.ask_once(name, rdtype), self.ask_once)
        return self.followed[key]

    def ask_once(self, name: str, rdtype: str) -> Lookup:
        key = (name.lower(), rdtype)
        if key not in self.memo:
            if self.timeouts >= MAX_TIMEOUTS_PER_DOMAIN:
                # A server that stopped answering would cost a lifetime per question: the
                # domain's time is bounded instead, and what was not asked is a Gap.
                reason = f"not asked: {self.timeouts} look-ups for {self.domain} timed out"
                result = Lookup(name, rdtype, "error", (), (), reason, self.clock(), reason)
            else:
                result = self.asker(name, rdtype)
                self.timeouts += result.timed_out
            self.memo[key] = result
        return self.memo[key]

    def gap(self, result: Lookup) -> Gap:
        return Gap(f"dns:{bounded(result.qname, 255)}:{result.rdtype}", result.reason)

    def asset(
        self,
        kind: str,
        key: str,
        name: str,
        attributes: dict[str, AttrValue],
        evidence: Iterable[Evidence],
    ) -> Asset:
        attributes.setdefault("domain", self.domain)
        return Asset(f"dns:{self.domain}:{key}", kind, name, attributes, tuple(evidence))

    def addresses(self, host: str) -> tuple[dict[str, AttrValue], list[Evidence], list[Gap], bool]:
        """Attributes (addresses, cname_chain), evidence and gaps for a host; and if it exists."""
        v4 = self.ask(host, "A")
        # RFC 8020: a name that does not exist has no records of any type; skip the AAAA question.
        v6 = replace(v4, rdtype="AAAA") if v4.outcome == "nxdomain" else self.ask(host, "AAAA")
        attributes: dict[str, AttrValue] = {}
        gaps = [self.gap(r) for r in (v4, v6) if r.failed]
        if not gaps:
            # Unknown stays unknown: with one family missing the list would look complete.
            attributes["addresses"] = sorted_addresses(
                r.to_text() for result in (v4, v6) for r in result.records
            )
        chain = v4.cname_chain or v6.cname_chain
        attributes["cname_chain"] = chain
        evidence = [r.evidence() for r in (v4, v6) if r.exists]
        return attributes, evidence, gaps, v4.exists or v6.exists

    def run(self) -> Iterator[Asset | Gap]:
        """The domain's assets and gaps; each gap names the domain as its unit, whatever name it
        was about (an MX host in another zone, an SPF include): the history judges what this
        domain's scan saw by it."""
        unit = f"dns:{self.domain}"
        for item in self._run():
            yield replace(item, unit=unit) if isinstance(item, Gap) else item

    def _run(self) -> Iterator[Asset | Gap]:
        soa = self.ask(self.domain, "SOA")
        if soa.failed:
            yield Gap(f"dns:{self.domain}", f"SOA: {soa.reason}; the domain was not probed further")
            return
        if soa.outcome == "nxdomain":
            # Seen, but not what the inventory said: a typo must not drop a domain silently.
            yield Gap(
                f"dns:{self.domain}",
                "the domain does not exist (NXDOMAIN); "
                "check its name in the inventory or domains file",
            )
            return
        seen: list[Asset] = []
        for part in (
            self.soa(soa),
            self.ns(),
            self.mx(),
            self.txt(),
            self.dmarc(),
            self.dkim(),
            self.caa(),
            self.srv(),
            self.hosts(),
        ):
            for item in part:
                if isinstance(item, Asset) and item.kind in _MAIL_SIGNAL_KINDS:
                    seen.append(item)
                yield item
        mailbox = self.mailbox(seen)
        if mailbox is not None:
            yield mailbox
        for result in self.memo.values():
            scope = f"dns:{bounded(result.qname, 255)}:{result.rdtype}"
            if result.unread:
                # A foreign mail host or the SPF record may be among the records not read.
                held = len(result.records) + result.unread
                yield Gap(
                    scope,
                    f"the answer holds {held} records; only the first {MAX_RECORDS} were read: "
                    "the others were not judged",
                )
            longest = max((_txt_bytes(r) for r in result.records), default=0)
            if longest > MAX_TXT_BYTES:
                # An SPF include of a foreign sender may lie past the cut (`txt_text`).
                yield Gap(
                    scope,
                    f"a TXT record of {longest} bytes; only the first {MAX_TXT_BYTES} were read: "
                    "the rest was not judged",
                )

    def mailbox(self, seen: Sequence[Asset]) -> Asset | None:
        """The domain's mailbox: the mail signals already observed, gathered for attribution.

        The MX host may be a gateway that only filters mail; resolution looks through it with
        these signals, so they travel together on one asset rather than being re-asked.
        """
        mxs = [a for a in seen if a.kind == "dns.mx"]
        if not mxs:
            return None  # no MX (or only a null MX, or the question failed): no mailbox to find
        spf = [a for a in seen if a.kind == "dns.spf"]
        dkims = [a for a in seen if a.kind == "dns.dkim"]
        autodiscover = f"autodiscover.{self.domain}"
        hosts = [
            a for a in seen if a.kind == "dns.host" and a.attributes.get("hostname") == autodiscover
        ]
        tokens = [a for a in seen if a.kind == "dns.txt"]
        attributes: dict[str, AttrValue] = {
            "mx_hosts": tuple(dict.fromkeys(_text(a, "hostname") for a in mxs)),
            "spf_includes": _strings(spf[0], "spf_includes") if spf else (),
            "dkim_targets": tuple(
                dict.fromkeys(name for a in dkims for name in _strings(a, "cname_chain"))
            ),
            "autodiscover_chain": _strings(hosts[0], "cname_chain") if hosts else (),
            "verification_tokens": tuple(
                dict.fromkeys(_text(a, "token_key") for a in tokens if _text(a, "token_key"))
            ),
            # Selectors publishing their key in place (no CNAME): only the name hints at the
            # signer (Google Workspace's default is "google"); a CNAME'd one is in dkim_targets.
            "dkim_selectors": tuple(
                _text(a, "selector")
                for a in dkims
                if not _strings(a, "cname_chain") and "text" in a.attributes
            ),
        }
        # Mail is correspondence: it carries personal information whatever the institution's
        # default label for unlabelled assets, so "public" by default must not exempt it.
        attributes["classification"] = MAIL_CLASSIFICATION
        tenant = next((_text(a, "tenant") for a in dkims if _text(a, "tenant")), "")
        if tenant:
            attributes["tenant"] = tenant
        # The first piece of evidence of each contributing asset: the record that was observed
        # (once: every MX asset starts with the same MX answer).
        firsts = (a.evidence[0] for a in (*mxs, *spf, *dkims, *hosts, *tokens) if a.evidence)
        evidence = list(dict.fromkeys(firsts))[:MAX_RECORDS]
        return self.asset("dns.mailbox", "mailbox", self.domain, attributes, evidence)

    def soa(self, soa: Lookup) -> Iterator[Asset | Gap]:
        for rdata in [r for r in soa.records if isinstance(r, SOA)][:1]:
            attributes: dict[str, AttrValue] = {
                "hostname": host_text(rdata.mname),
                "soa_rname": host_text(rdata.rname),
            }
            yield self.asset("dns.soa", "soa", self.domain, attributes, [soa.evidence()])

    def ns(self) -> Iterator[Asset | Gap]:
        result = self.ask(self.domain, "NS")
        if result.failed:
            yield self.gap(result)
            return
        for rdata in sorted((r for r in result.records if isinstance(r, NS)), key=str):
            host = host_text(rdata.target)
            attributes, evidence, gaps = self._target(host)
            attributes.pop("cname_chain", None)
            yield from gaps
            yield self.asset(
                "dns.ns", f"ns:{host}", host, attributes, [result.evidence(), *evidence]
            )

    def _target(self, host: str) -> tuple[dict[str, AttrValue], list[Evidence], list[Gap]]:
        attributes, evidence, gaps, _exists = self.addresses(host)
        attributes["hostname"] = host
        return attributes, evidence, gaps

    def mx(self) -> Iterator[Asset | Gap]:
        result = self.ask(self.domain, "MX")
        if result.failed:
            yield self.gap(result)
            return
        mxs = (r for r in result.records if isinstance(r, MX))
        for rdata in sorted(mxs, key=lambda r: (r.preference, str(r.exchange))):
            if rdata.exchange == dns.name.root:
                continue  # RFC 7505 null MX: the domain accepts no mail
            host = host_text(rdata.exchange)
            attributes, evidence, gaps = self._target(host)
            attributes["preference"] = int(rdata.preference)
            yield from gaps
            yield self.asset(
                "dns.mx", f"mx:{host}", host, attributes, [result.evidence(), *evidence]
            )

    def txt(self) -> Iterator[Asset | Gap]:
        result = self.ask(self.domain, "TXT")
        if result.failed:
            yield self.gap(result)
            return
        # Sorted: servers rotate records, and the assets' order and the mailbox's lists should not.
        texts = sorted(txt_text(rdata) for rdata in result.records)
        tokens = [(verification_key(text), text) for text in texts]
        counts: dict[str, int] = {}
        for key, _text in tokens:
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        for key, text in tokens:
            if key is None:
                continue
            # Two tokens with the same key get a digest of their text, so ids stay stable.
            suffix = "" if counts[key] == 1 else ":" + hashlib.sha256(text.encode()).hexdigest()[:8]
            attributes: dict[str, AttrValue] = {"text": bounded(text), "token_key": bounded(key)}
            evidence = Evidence("dns:TXT", bounded(text), result.observed_at, Confidence.HIGH)
            yield self.asset(
                "dns.txt", f"txt:{bounded(key, 64)}{suffix}", self.domain, attributes, [evidence]
            )
        yield from self.spf(texts, result)

    def spf(self, texts: Sequence[str], result: Lookup) -> Iterator[Asset | Gap]:
        record, problem = select_spf(texts)
        if problem is not None:
            yield Gap(f"dns:{self.domain}:SPF", problem)
        if record is None:
            return
        expansion = expand_spf(self.domain, record, self._spf_fetch)
        if expansion.error is not None:
            yield Gap(f"dns:{self.domain}:SPF", bounded(expansion.error))
        attributes: dict[str, AttrValue] = {
            "text": bounded(record),
            "spf_includes": tuple(bounded(d, 255) for d in expansion.includes),
            "spf_non_pass_includes": tuple(bounded(d, 255) for d in expansion.non_pass_includes),
            "spf_lookups": expansion.lookups,
        }
        if expansion.all_qualifier is not None:
            attributes["spf_all"] = expansion.all_qualifier
        evidence = [
            Evidence("dns:TXT", bounded(f"{domain}: {text}"), result.observed_at, Confidence.HIGH)
            for domain, text in expansion.records[:MAX_RECORDS]
        ]
        yield self.asset("dns.spf", "spf", self.domain, attributes, evidence)

    def _spf_fetch(self, domain: str) -> Sequence[str] | None:
        result = self.ask(domain, "TXT")
        if result.failed:
            raise SpfLookupError(result.reason)
        if result.outcome != "answer":
            return None
        return [txt_text(rdata) for rdata in result.records]

    def dmarc(self) -> Iterator[Asset | Gap]:
        result = self.ask(f"_dmarc.{self.domain}", "TXT")
        if result.failed:
            yield self.gap(result)
            return
        records = [
            t for t in (txt_text(r) for r in result.records) if t.lower().startswith("v=dmarc1")
        ]
        if len(records) != 1:
            if records:
                yield Gap(f"dns:_dmarc.{self.domain}:TXT", f"{len(records)} DMARC records")
            return
        record = records[0]
        attributes: dict[str, AttrValue] = {
            "text": bounded(record),
            "report_domains": dmarc_report_domains(record),
        }
        policy = _dmarc_tag(record, "p")
        if policy is not None:
            attributes["dmarc_policy"] = policy
        yield self.asset("dns.dmarc", "dmarc", self.domain, attributes, [result.evidence()])

    def dkim(self) -> Iterator[Asset | Gap]:
        for selector in DKIM_SELECTORS:
            host = f"{selector}._domainkey.{self.domain}"
            result = self.ask(host, "TXT")
            if result.failed:
                yield self.gap(result)
                if not result.cname_chain:
                    continue  # else the alias was seen (it names the signer); its key was not
            elif not result.exists:
                continue
            attributes: dict[str, AttrValue] = {
                "hostname": host,
                "cname_chain": result.cname_chain,
                "selector": selector,
            }
            if result.records:
                attributes["text"] = bounded(min(txt_text(r) for r in result.records))
            tenant = _m365_tenant(result.cname_chain)
            if tenant is not None:
                attributes["tenant"] = tenant
            yield self.asset("dns.dkim", f"dkim:{selector}", host, attributes, [result.evidence()])

    def caa(self) -> Iterator[Asset | Gap]:
        result = self.ask(self.domain, "CAA")
        if result.failed:
            yield self.gap(result)
            return
        if not result.records:
            return
        values = (
            r.value.decode("utf-8", "replace").split(";")[0].strip().lower()
            for r in result.records
            if isinstance(r, CAA) and r.tag.lower() in {b"issue", b"issuewild"}
        )
        # An empty issuer (";") forbids issuance; anything not a host name is not an issuer.
        issuers = sorted({value for value in values if _HOSTNAME.match(value)})
        attributes: dict[str, AttrValue] = {"caa_issuers": tuple(issuers)}
        yield self.asset("dns.caa", "caa", self.domain, attributes, [result.evidence()])

    def srv(self) -> Iterator[Asset | Gap]:
        for service in SRV_NAMES:
            result = self.ask(f"{service}.{self.domain}", "SRV")
            if result.failed:
                yield self.gap(result)
                continue
            for rdata in sorted((r for r in result.records if isinstance(r, SRV)), key=str):
                if rdata.target == dns.name.root:
                    continue  # RFC 2782: "." means the service is decidedly not available
                host = host_text(rdata.target)
                attributes, evidence, gaps = self._target(host)
                attributes["port"] = int(rdata.port)
                attributes["service"] = service
                yield from gaps
                evidence = [result.evidence(), *evidence]
                yield self.asset("dns.srv", f"srv:{service}:{host}", host, attributes, evidence)

    def hosts(self) -> Iterator[Asset | Gap]:
        labels = dict.fromkeys(("", *WELL_KNOWN_NAMES, *self.names))
        for label in labels:
            fqdn = f"{label}.{self.domain}" if label else self.domain
            attributes, evidence, gaps, exists = self.addresses(fqdn)
            yield from gaps
            if exists:
                attributes["hostname"] = fqdn
                yield self.asset("dns.host", f"host:{fqdn}", fqdn, attributes, evidence)


class DnsProbe:
    """Inventories each domain: MX, NS, SOA, TXT tokens, SPF, DMARC, DKIM, CAA, SRV, hosts, mailbox.

    Assets (id ``dns:<domain>:<key>``; every one has ``domain``; ``addresses`` is absent when a
    look-up failed, the end of a CNAME chain included, which is then a Gap):

    ============  ======================  ================================================
    kind          key                     attributes
    ============  ======================  ================================================
    dns.soa       soa                     hostname (MNAME), soa_rname
    dns.ns        ns:<host>               hostname, addresses
    dns.mx        mx:<host>               hostname, addresses, cname_chain, preference
    dns.txt       txt:<token key>         text, token_key (``:<digest>`` added if a key repeats)
    dns.spf       spf                     text, spf_includes, spf_non_pass_includes,
                                          spf_lookups, spf_all
    dns.dmarc     dmarc                   text, report_domains, dmarc_policy
    dns.dkim      dkim:<selector>         hostname, cname_chain, selector, text, tenant
    dns.caa       caa                     caa_issuers
    dns.srv       srv:<service>:<host>    hostname, addresses, cname_chain, port, service
    dns.host      host:<fqdn>             hostname, addresses, cname_chain
    dns.mailbox   mailbox                 mx_hosts (by preference), spf_includes (pass only),
                                          dkim_targets (DKIM selectors' CNAME chains),
                                          dkim_selectors (those with a key in place),
                                          autodiscover_chain, verification_tokens (keys),
                                          tenant; one per domain with a non-null MX
    ============  ======================  ================================================

    Gaps: ``dns:<domain>`` when the domain's SOA cannot be asked (nothing else is then asked),
    ``dns:<name>:<TYPE>`` for one failed question, ``dns:<domain>:SPF`` for SPF limits and loops.
    With `bulk` settings the questions of a batch of domains are asked at once, and the probe
    runs on the answers (`dns_prefetch`); what the bulk path cannot take is asked live. Without,
    `workers` > 1 scans that many domains at once (each asks one question at a time). Either way
    a bounded number of domains' results is held, so memory stays flat on long domain lists.
    """

    name = "dns"

    def __init__(
        self,
        domains: Sequence[str],
        names: Sequence[str],
        resolver: dns.resolver.Resolver,
        *,
        clock: Clock = utc_now,
        workers: int = 1,
        bulk: BulkSettings | None = None,
    ) -> None:
        self.domains = tuple(domains)
        self.names = tuple(names)
        self.resolver = resolver
        self.clock = clock
        self.workers = max(1, workers)
        self.bulk = bulk

    def collect(self) -> Iterator[Asset | Gap]:
        if self.bulk is not None:
            yield from self._collect_in_bulk(self.bulk)
        elif self.workers == 1:
            for domain in self.domains:
                yield from self._scan(domain)
        else:
            yield from self._collect_concurrently()

    def _live(self, name: str, rdtype: str) -> Lookup:
        return lookup(self.resolver, name, rdtype, self.clock)

    def _scan(self, domain: str, asker: Asker | None = None) -> Iterator[Asset | Gap]:
        return _DomainScan(domain, self.names, asker or self._live, self.clock).run()

    def _scan_all(self, domain: str) -> list[Asset | Gap]:
        return list(self._scan(domain))

    def _rehearse(self, domain: str, asker: Asker) -> list[Asset | Gap]:
        return list(_DomainScan(domain, self.names, asker, self.clock).run())

    def _collect_in_bulk(self, settings: BulkSettings) -> Iterator[Asset | Gap]:
        prefetcher = Prefetcher(settings, self.clock)
        asker = prefetcher.asker(self._live)
        step = max(1, settings.batch_domains)
        for start in range(0, len(self.domains), step):
            batch = self.domains[start : start + step]
            prefetcher.fetch(batch, self._rehearse)
            for domain in batch:
                finished = prefetcher.take(domain)
                yield from self._scan(domain, asker) if finished is None else finished
            prefetcher.forget_timeouts()

    def _collect_concurrently(self) -> Iterator[Asset | Gap]:
        window = 2 * self.workers
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sovscan-dns") as pool:
            pending: list[Future[list[Asset | Gap]]] = []
            for domain in self.domains:
                pending.append(pool.submit(self._scan_all, domain))
                if len(pending) >= window:
                    yield from pending.pop(0).result()
            for future in pending:
                yield from future.result()


_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: str) -> str | None:
    """A domain in lowercase ASCII (IDNs to punycode) without the final dot, or None if invalid."""
    text = value.strip().rstrip(".").lower()
    try:
        ascii_name = text if text.isascii() else text.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(map(_DOMAIN_LABEL.match, labels)):
        return None
    return ascii_name


DOMAIN_COLUMNS = ("domain", "domaine")
"""Header cells naming a --domains CSV's domain column. `domaine` too: Quebec's auditors keep
their lists in French Excel, and the French word cannot name another column."""

NAME_COLUMNS = ("name", "nom")
"""Header cells naming the column of each domain's body (a school board, a ministry): carried
to the reports beside its domain."""

MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class DomainsFile:
    """What a --domains file lists: its domains in order, and the name of each domain's body
    when a CSV has a name column (domain, name pairs; a domain without a name is left out)."""

    domains: tuple[str, ...]
    names: tuple[tuple[str, str], ...] = ()


def read_domains_file(path: Path) -> DomainsFile:
    """Domains from a file: one per line (``#`` comments), or CSV with a ``domain`` column (or
    ``domaine``), comma- or semicolon-separated, with an optional ``name`` (or ``nom``) column.

    IDNs become punycode, duplicates are dropped (first kept); an invalid line raises ConfigError
    naming ``file:line``, and so does a file without a domain (naming the file).
    """
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the domains file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the domains file ({exc})") from None
    lines = text.splitlines()
    number, first = next(
        ((n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")),
        (0, ""),
    )
    # French Excel writes ';' between cells, as ',' is its decimal mark.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    cells = next((row for _n, row in _read_csv(path, [first], delimiter, number)), [])
    header = [cell.strip().lower() for cell in cells]
    column = next((header.index(c) for c in DOMAIN_COLUMNS if c in header), None)
    rows: Iterable[tuple[int, str, str]]
    if column is not None:
        name = next((header.index(c) for c in NAME_COLUMNS if c in header), None)
        rows = _csv_rows(path, lines, delimiter, column, name)
    elif len(cells) > 1 and "#" not in first and not any(map(normalize_domain, cells)):
        # A header without the domain column: say so, not that the header is no domain name.
        found = ", ".join(cell.strip() for cell in cells)
        found = found if len(found) <= 120 else found[:117] + "..."
        raise ConfigError(f"{path}:{number}: a CSV needs a 'domain' column; found columns {found}")
    else:
        rows = ((n, line, "") for n, line in enumerate(lines, 1))
    domains: dict[str, str] = {}
    for number, raw, label in rows:
        # A comment may follow a domain on its line: "#" cannot be part of a domain name.
        value = raw.split("#", 1)[0].strip()
        if not value:
            continue
        domain = normalize_domain(value) if len(value) <= MAX_DOMAINS_LINE else None
        if domain is None:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise ConfigError(
                f"{path}:{number}: expected a domain name such as universite.example; got {shown!r}"
            )
        domains.setdefault(domain, bounded(" ".join(label.split()), MAX_NAME))
    if not domains:
        # An emptied or truncated list must not pass for a clean scan of nothing.
        raise ConfigError(
            f"{path}: the domains file names no domain; expected one domain per line, "
            "or a CSV with a 'domain' column"
        )
    return DomainsFile(
        tuple(domains), tuple((domain, name) for domain, name in domains.items() if name)
    )


def _read_csv(
    path: Path, lines: Sequence[str], delimiter: str, first: int = 1
) -> Iterator[tuple[int, list[str]]]:
    """Each CSV row with the line it ends on (from `first`); a row the csv module refuses (a
    cell over its 131,072 characters) is a ConfigError naming the line, not an internal error."""
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = first + reader.line_num - 1
            raise ConfigError(f"{path}:{line}: not a CSV row sovscan can read ({exc})") from None
        yield first + reader.line_num - 1, row


def _csv_rows(
    path: Path, lines: Sequence[str], delimiter: str, column: int, name: int | None
) -> Iterator[tuple[int, str, str]]:
    """Each row's line number, domain cell and name cell ("" without a name column)."""
    seen_header = False
    for number, row in _read_csv(path, lines, delimiter):
        if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
            continue
        if not seen_header:
            seen_header = True
            continue
        if column >= len(row):
            raise ConfigError(f"{path}:{number}: expected a 'domain' column; got {len(row)} cells")
        if not row[column].strip():
            # A row with other cells but no domain is an institution left out: say so.
            raise ConfigError(
                f"{path}:{number}: the 'domain' cell is empty; expected a domain name such as "
                "universite.example (or remove the row)"
            )
        yield number, row[column], row[name] if name is not None and name < len(row) else ""
