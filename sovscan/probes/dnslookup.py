"""One DNS question through dnspython's resolver, and what came back as a `Lookup`.

Every failure becomes a Lookup with a reason, never an exception: the probe turns those into gaps.
The bulk path (`dns_prefetch`) builds the same Lookups from the answers it fetched in bulk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from sovscan.bounds import bounded
from sovscan.model import Confidence, Evidence
from sovscan.probes import Clock

MAX_CNAME_CHAIN = 8
MAX_RECORDS = 64  # records of one answer turned into assets; a hostile zone cannot flood the scan
MAX_REFERRAL_NAMES = 3  # name servers a referral's reason names (then "and N more")
FLAG_AA = 0x0400  # authoritative answer
FLAG_RA = 0x0080  # recursion available
TYPE_NS = 2
TYPE_SOA = 6

Outcome = Literal["answer", "nxdomain", "nodata", "error"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """One DNS question and what came back, already free of dnspython types except the rdata."""

    qname: str
    rdtype: str
    outcome: Outcome
    records: tuple[dns.rdata.Rdata, ...]
    cname_chain: tuple[str, ...]  # CNAME targets followed, in order, ending at the canonical name
    detail: str  # the answer as text, bounded, for evidence
    observed_at: datetime
    reason: str = ""  # why the look-up failed (outcome "error")
    timed_out: bool = False
    # NODATA after a CNAME chain, with no SOA of the chain end's zone in the answer: the server
    # stopped short of the end (it does not hold that zone), so the end's own records are not
    # known to be absent; `follow` asks the end.
    chain_open: bool = False
    # Records of the answer past MAX_RECORDS, not read: what they hold was not judged, so the
    # probe reports a gap rather than a domain seen whole.
    unread: int = 0

    @property
    def failed(self) -> bool:
        return self.outcome == "error"

    @property
    def exists(self) -> bool:
        """Whether the name has records of this type or is an alias."""
        return self.outcome == "answer" or bool(self.cname_chain)

    def evidence(self) -> Evidence:
        return Evidence(f"dns:{self.rdtype}", self.detail, self.observed_at, Confidence.HIGH)


Asker = Callable[[str, str], Lookup]
"""Asks one question (name, type) and says what came back."""


def host_text(name: dns.name.Name) -> str:
    """A DNS name as lowercase text without the final dot (non-printable bytes escaped)."""
    return bounded(name.to_text(omit_final_dot=True).lower(), 255)


class _ChainError(Exception):
    """The CNAME chain in a response loops or is longer than MAX_CNAME_CHAIN."""


def _walk(
    response: dns.message.Message, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> tuple[tuple[dns.rdata.Rdata, ...], tuple[dns.name.Name, ...]]:
    """The records answering `qname` in `response` and the CNAME chain that led to them."""
    current = qname
    chain: list[dns.name.Name] = []
    seen = {qname}
    while True:
        found = response.get_rrset(response.answer, current, dns.rdataclass.IN, rdtype)
        if found is not None:
            return tuple(found), tuple(chain)
        if rdtype == dns.rdatatype.CNAME:
            return (), tuple(chain)
        alias = response.get_rrset(response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if alias is None or len(alias) == 0:
            return (), tuple(chain)
        target: dns.name.Name = next(iter(alias)).target
        if target in seen:
            names = " -> ".join(host_text(n) for n in (qname, *chain, target))
            raise _ChainError(bounded(f"CNAME loop: {names}"))
        chain.append(target)
        seen.add(target)
        if len(chain) > MAX_CNAME_CHAIN:
            raise _ChainError(f"CNAME chain longer than {MAX_CNAME_CHAIN} names")
        current = target


def _answer_text(response: dns.message.Message) -> str:
    # Records sorted within each RRset: servers rotate them, evidence should not churn.
    parts = ("\n".join(sorted(rrset.to_text().splitlines())) for rrset in response.answer)
    return bounded(" | ".join(parts))


def lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str, clock: Clock) -> Lookup:
    """Ask `resolver` one question; every failure becomes a Lookup with a reason, never a raise."""
    observed = clock()
    kind = dns.rdatatype.from_text(rdtype)

    def failed(reason: str) -> Lookup:
        return Lookup(name, rdtype, "error", (), (), bounded(reason), observed, bounded(reason))

    try:
        qname = dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        return failed(f"invalid name: {type(exc).__name__}")
    response: dns.message.Message | None
    nxdomain = False
    server = ""
    try:
        answer = resolver.resolve(qname, kind, raise_on_no_answer=False, search=False)
        response = answer.response
        if answer.nameserver is not None and answer.port is not None:
            server = server_text(str(answer.nameserver), int(answer.port))
    except dns.resolver.NXDOMAIN as exc:
        nxdomain = True
        response = exc.kwargs.get("responses", {}).get(qname)
    except dns.resolver.NoNameservers as exc:
        response = _chain_response(exc)
        if response is None:
            return failed(_nameserver_failure(exc))
    except dns.resolver.LifetimeTimeout:
        reason = f"timeout: no answer within {resolver.lifetime:g}s"
        return Lookup(name, rdtype, "error", (), (), reason, observed, reason, timed_out=True)
    except dns.exception.DNSException as exc:
        return failed(f"{type(exc).__name__}: {exc}")
    except (OSError, ValueError) as exc:  # a resolver misconfigured or a socket refused
        return failed(f"{type(exc).__name__}: {exc}")
    return lookup_from_response(
        name, rdtype, qname, kind, response, nxdomain, observed, server=server
    )


def lookup_to_end(resolver: dns.resolver.Resolver, name: str, rdtype: str, clock: Clock) -> Lookup:
    """`lookup`, with a CNAME chain the server stopped short followed to its end (`follow`)."""

    def ask(qname: str, qtype: str) -> Lookup:
        return lookup(resolver, qname, qtype, clock)

    return follow(ask(name, rdtype), ask)


def lookup_from_response(
    name: str,
    rdtype: str,
    qname: dns.name.Name,
    kind: dns.rdatatype.RdataType,
    response: dns.message.Message | None,
    nxdomain: bool,
    observed: datetime,
    *,
    server: str = "",
    authority: bool = True,
) -> Lookup:
    """The Lookup of a response the resolver accepted (NOERROR, or NXDOMAIN if `nxdomain`).

    A NOERROR response with nothing for `qname` is a NODATA only when `unanswered` says so; a
    referral, or an empty answer from a server neither authoritative nor recursive, is a failed
    Lookup naming `server` (``address:port``, the server that answered). With `authority` False
    the response holds no authority section (`dns_prefetch.answer_part`): such a NODATA is not
    judged, and the caller reads the whole response again.
    """
    try:
        records, chain = _walk(response, qname, kind) if response is not None else ((), ())
    except _ChainError as exc:
        reason = bounded(str(exc))
        return Lookup(name, rdtype, "error", (), (), reason, observed, reason)
    outcome: Outcome = "answer" if records else ("nxdomain" if nxdomain else "nodata")
    if outcome == "nodata" and not chain and authority and response is not None:
        why = unanswered(host_text(qname), int(response.flags), _authority(response), server)
        if why is not None:
            return Lookup(name, rdtype, "error", (), (), why, observed, why)
    if response is None or not response.answer:
        return empty_lookup(name, rdtype, outcome, observed)
    detail = _answer_text(response)
    chain_text = tuple(host_text(n) for n in chain)
    found = records[:MAX_RECORDS]
    is_open = outcome == "nodata" and bool(chain) and not _end_has_soa(response, chain[-1])
    unread = len(records) - len(found)
    return Lookup(
        name, rdtype, outcome, found, chain_text, detail, observed,
        chain_open=is_open, unread=unread,
    )  # fmt: skip


AuthorityRecord = tuple[str, int, str]
"""An SOA or NS record of a response's authority section: its owner, its type (6 or 2) and, for
an NS record, the name server; names in lowercase text without the final dot ("." the root)."""


def unanswered(
    qname: str, flags: int, authority: Iterable[AuthorityRecord], server: str
) -> str | None:
    """Why a NOERROR response with nothing for `qname` in its answer section does not say that
    `qname` has no such records; None when it does say so (a NODATA, which is an answer).

    The one judgement both paths make, the live one on dnspython's message and the bulk one on
    the lean codec's records. RFC 2308 (2.2) tells a NODATA from a referral by the authority
    section: the SOA of a zone holding `qname` makes it a NODATA, as an authoritative server
    and a recursive resolver send it; NS records without that SOA make it a referral: the
    server does not hold the zone and names servers that do (a zone delegated away, a lame
    delegation, a parent zone it serves). A referral is whatever its flags say, never an answer:
    the reason says when AA was set, as that server's answers are suspect either way.
    With neither, only who answered can tell: an authoritative server (AA set) or a recursive
    resolver (RA set; its answers usually have AA clear) says the name has no such records; a
    server that is neither has answered nothing. `server` (``address:port``) is named in the
    reason: the fix is another --nameserver.
    """
    zones: set[str] = set()
    servers: set[str] = set()
    for owner, rdtype, target in authority:
        if rdtype == TYPE_SOA and _holds(owner, qname):
            return None
        if rdtype == TYPE_NS:
            zones.add(owner)
            servers.add(target)
    recursive = bool(flags & FLAG_RA)
    source = f" from {server}" if server else ""
    if servers:
        names = sorted(servers)  # servers rotate records; the reason must not churn
        shown = ", ".join(names[:MAX_REFERRAL_NAMES])
        if len(names) > MAX_REFERRAL_NAMES:
            shown += f" and {len(names) - MAX_REFERRAL_NAMES} more"
        cut = ", ".join(sorted("the root" if zone == "." else zone for zone in zones))
        why = (
            "though it offers recursion (RA), the server did not resolve the name"
            if recursive
            else "the server does not recurse"
        )
        if flags & FLAG_AA:
            # Either a referral wrongly marked AA or a NODATA wrongly without its SOA. Unbound
            # tells them apart by the zone it meant to ask (NS at that apex: a NODATA; below
            # it: a referral, whatever AA says); sovscan does not know the apex, and a gap that
            # says so costs less than a record wrongly absent.
            why = f"AA is set, yet NS records without the zone's SOA make a referral; {why}"
        return bounded(
            f"referral to {shown} (zone {cut}){source}, not an answer: {why}; "
            "give --nameserver a recursive resolver"
        )
    if flags & FLAG_AA or recursive:
        return None
    return bounded(
        f"no answer{source}: an empty response neither authoritative (AA clear) nor from a "
        "recursive resolver (RA clear), naming no zone (no SOA): the server does not hold the "
        "name's zone and does not recurse; give --nameserver a recursive resolver"
    )


def authority_record(owner: str, rdtype: int, target: str = "") -> AuthorityRecord:
    """An `AuthorityRecord` of names as dnspython writes them (the lean codec's text), written
    as `host_text` writes a dnspython name, so both paths give `unanswered` the same text."""
    return _name_text(owner), rdtype, _name_text(target)


def _name_text(text: str) -> str:
    """`host_text`'s writing of a name already written as dnspython writes it (ASCII)."""
    text = text.lower()
    return text if len(text) <= 255 else bounded(text, 255)


def _holds(zone: str, name: str) -> bool:
    """Whether `zone` is `name` or one of its ancestors (names as `AuthorityRecord` writes them)."""
    return zone == "." or name == zone or name.endswith("." + zone)


def _authority(response: dns.message.Message) -> list[AuthorityRecord]:
    """The SOA and NS records of a dnspython message's authority section, as `unanswered` reads
    them (the lean codec's records are read the same way by `dns_prefetch`)."""
    found: list[AuthorityRecord] = []
    for rrset in response.authority:
        if rrset.rdclass != dns.rdataclass.IN:
            continue
        owner = rrset.name.to_text(omit_final_dot=True)
        if rrset.rdtype == dns.rdatatype.SOA:
            found.append(authority_record(owner, TYPE_SOA))
        elif rrset.rdtype == dns.rdatatype.NS:
            found += [
                authority_record(owner, TYPE_NS, rdata.target.to_text(omit_final_dot=True))
                for rdata in rrset
            ]
    return found


def server_text(address: str, port: int) -> str:
    """A name server as evidence names it: ``192.0.2.53:53``, ``[2001:db8::53]:53``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _end_has_soa(response: dns.message.Message, end: dns.name.Name) -> bool:
    """Whether the authority section holds the SOA of a zone holding `end`: the NODATA is the
    end's (RFC 2308), not a server's that stopped at a zone it does not hold."""
    return any(
        rrset.rdtype == dns.rdatatype.SOA and end.is_subdomain(rrset.name)
        for rrset in response.authority
    )


def follow(first: Lookup, ask: Asker) -> Lookup:
    """`first` with a CNAME chain that stops short asked on from its end, until it ends.

    A server that answers only for its own zones (an authoritative one given as --nameserver)
    stops at a CNAME into a zone it does not hold, and its NOERROR answer would read as "the
    target has no such record" (`chain_open` tells it from a NODATA, which names the end's
    zone). Only the target's own answer can tell: records, NODATA, NXDOMAIN (a dangling alias:
    the host has no address, which is known), or a failure. A failure keeps the chain seen so
    far and becomes the Lookup's reason, so the probe reports it as a gap.
    """
    result = first
    while result.chain_open:
        end = result.cname_chain[-1]
        result = _extended(result, end, ask(end, result.rdtype))
    return result


def _extended(first: Lookup, end: str, step: Lookup) -> Lookup:
    """`first`, whose chain ends at `end`, continued by `step`, the answer asked at `end`."""

    def failed(reason: str) -> Lookup:
        # The chain seen so far stays: the alias is known, only where it leads is not.
        reason = bounded(f"CNAME target {end}. could not be resolved: {reason}")
        detail = bounded(f"{first.detail} | {reason}")
        return Lookup(
            first.qname, first.rdtype, "error", (), first.cname_chain, detail,
            first.observed_at, reason, step.timed_out,
        )  # fmt: skip

    if step.failed:
        return failed(step.reason)
    seen = {first.qname.lower().rstrip("."), *first.cname_chain}
    looped = next((name for name in step.cname_chain if name in seen), None)
    if looped is not None:
        names = " -> ".join((first.qname, *first.cname_chain, *step.cname_chain))
        return failed(bounded(f"CNAME loop: {names}"))
    chain = (*first.cname_chain, *step.cname_chain)
    if len(chain) > MAX_CNAME_CHAIN:
        return failed(f"CNAME chain longer than {MAX_CNAME_CHAIN} names")
    detail = bounded(" | ".join(d for d in (first.detail, step.detail) if d))
    return Lookup(
        first.qname, first.rdtype, step.outcome, step.records, chain, detail,
        first.observed_at, chain_open=step.chain_open,
    )  # fmt: skip


def empty_lookup(name: str, rdtype: str, outcome: Outcome, observed: datetime) -> Lookup:
    """The Lookup of a response with an empty answer section."""
    return Lookup(name, rdtype, outcome, (), (), f"{name} {rdtype}: {outcome.upper()}", observed)


def _chain_response(exc: dns.resolver.NoNameservers) -> dns.message.Message | None:
    # dnspython gives up on a CNAME loop (ChainTooLong) but keeps the response: walk it ourselves
    # so the reason can name the loop.
    for error in exc.kwargs.get("errors", []):
        if isinstance(error[3], dns.message.ChainTooLong) and error[4] is not None:
            response: dns.message.Message = error[4]
            return response
    return None


def _nameserver_failure(exc: dns.resolver.NoNameservers) -> str:
    reasons: list[str] = []
    for error in exc.kwargs.get("errors", []):
        problem = error[3]
        text = problem if isinstance(problem, str) else type(problem).__name__
        if text not in reasons:
            reasons.append(text)
    return ", ".join(reasons) or "no nameserver answered"
