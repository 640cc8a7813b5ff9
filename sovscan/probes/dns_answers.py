"""The bulk path's common case, without dnspython's message parser: a Lookup from lean records.

`dns_prefetch.lookup_from_wire` hands each answer's bytes to `dns.message.from_wire` and walks
the message as the live path does; that cost about 300 µs per answer, a third of a bulk scan.
Most answers are plain: NOERROR, records of the types the lean codec reads, and names in
lowercase letters, digits, hyphens and underscores, which need no escaping and compare as
dnspython compares names. For those, `plain_lookup` builds the same Lookup from the codec's
records: the same rdata objects (made by dnspython's constructors, shared through a bounded
memo), grouped into RRsets and written as text as dnspython groups and writes them (first
appearance order, duplicates dropped, the smallest TTL), and the same CNAME walk. Anything else
gives None and goes through dnspython (tests/probes/test_dns_answers.py holds the two equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from sovscan.bounds import bounded
from sovscan.probes import dnswire
from sovscan.probes.dnslookup import (
    MAX_CNAME_CHAIN,
    MAX_RECORDS,
    Lookup,
    Outcome,
    empty_lookup,
)

# Lowercase ASCII names with no byte dnspython escapes: their text is their wire form, and two
# of them are the same name exactly when the strings are equal.
_PLAIN_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\Z")
_MAX_TTL = 0x7FFFFFFF  # dnspython reads a larger TTL as 0
_IN = dns.rdataclass.IN
MEMO_LIMIT = 10_000  # rdata objects (and names) kept for reuse; emptied when full
MEMO_TXT_TEXT = 512  # a TXT record with longer text is not kept: seldom shared, hostile ones big

Made = tuple[dns.rdata.Rdata, str]  # an rdata and its text


@dataclass(frozen=True, slots=True)
class RdataMemo:
    """dnspython objects already made, by lean value: they are immutable, so answers share them
    (the addresses of shared MX hosts and CDN edges come back in thousands of answers)."""

    rdata: dict[tuple[int, object], Made] = field(default_factory=dict)
    names: dict[str, dns.name.Name] = field(default_factory=dict)


def plain_lookup(
    name: str, rdtype: str, wire: bytes, observed: datetime, memo: RdataMemo
) -> Lookup | None:
    """The Lookup dnspython's path makes of a NOERROR answer (`wire`: header, question and
    answer section only, see `dns_prefetch.answer_part`); None when it is not plain.

    A NODATA is as `lookup_from_response` reads it without the authority section: whether it
    is one (not a referral; the chain's end) is judged by the caller on the whole response."""
    asked = name.lower().removesuffix(".")
    if not _PLAIN_NAME.match(asked):
        return None
    try:
        response = dnswire.decode_response(wire, authority=False)
    except dnswire.WireError:
        return None
    if (
        not response.flags & 0x8000  # QR
        or response.flags & 0x0200  # TC: dnspython's resolver refuses a truncated answer
        or response.rcode != dnswire.NOERROR
        or response.qname != asked
        or dnswire.TYPE_NAMES.get(response.qtype) != rdtype
        or not dnswire.question_class_in(wire)
    ):
        return None
    if not response.answer:
        return empty_lookup(name, rdtype, "nodata", observed)
    groups = _rrsets(response.answer, memo)
    if groups is None:
        return None
    records, chain = _walk(groups, asked, response.qtype)
    if records is None:
        return None  # a loop or a chain too long: the dnspython path words the reason
    texts = []
    for (owner, code), (ttl, rdatas) in groups.items():
        prefix = f"{owner}. {ttl} IN {dnswire.TYPE_NAMES[code]} "
        texts.append("\n".join(sorted(prefix + text for _rd, text in rdatas)))
    outcome: Outcome = "answer" if records else "nodata"
    detail = bounded(" | ".join(texts))
    found = tuple(rd for rd, _text in records)[:MAX_RECORDS]
    # Without the authority section a NODATA after a chain looks open, as dnspython reads the
    # same bytes; `dns_prefetch.lookup_from_result` reads the whole response for those.
    is_open = outcome == "nodata" and bool(chain)
    unread = len(records) - len(found)
    return Lookup(
        name, rdtype, outcome, found, chain, detail, observed, chain_open=is_open, unread=unread
    )


Group = tuple[int, list[Made]]  # the RRset's TTL and its rdata


def _rrsets(
    answer: tuple[dnswire.Record, ...], memo: RdataMemo
) -> dict[tuple[str, int], Group] | None:
    """The answer's records as dnspython's RRsets: by (owner, type) in order of first appearance,
    each rdata once, the smallest TTL; None if a name or type is not plain."""
    groups: dict[tuple[str, int], Group] = {}
    for record in answer:
        if record.rdtype not in _MAKERS or not _PLAIN_NAME.match(record.name):
            return None
        made = _rdata(record.rdtype, record.data, memo)
        if made is None:
            return None
        ttl = 0 if record.ttl > _MAX_TTL else record.ttl
        key = (record.name, record.rdtype)
        group = groups.get(key)
        if group is None:
            groups[key] = (ttl, [made])
            continue
        rdatas = group[1]
        if made not in rdatas:
            rdatas.append(made)
        if ttl < group[0]:
            groups[key] = (ttl, rdatas)
    return groups


def _walk(
    groups: dict[tuple[str, int], Group], qname: str, rdtype: int
) -> tuple[list[Made] | None, tuple[str, ...]]:
    """`dnslookup._walk` on plain names: the records answering `qname`, and the CNAME chain."""
    current = qname
    chain: list[str] = []
    seen = {qname}
    while True:
        found = groups.get((current, rdtype))
        if found is not None:
            return found[1], tuple(chain)
        alias = groups.get((current, dnswire.CNAME))
        if rdtype == dnswire.CNAME or alias is None:
            return [], tuple(chain)
        target = alias[1][0][1].removesuffix(".")  # the CNAME's text, absolute
        if target in seen or len(chain) >= MAX_CNAME_CHAIN:
            return None, ()
        chain.append(target)
        seen.add(target)
        current = target


def _rdata(rdtype: int, value: object, memo: RdataMemo) -> Made | None:
    key = (rdtype, value)
    made = memo.rdata.get(key)
    if made is None:
        rdata = _MAKERS[rdtype](value, memo)
        if rdata is None:
            return None
        made = (rdata, rdata.to_text())
        if rdtype == dnswire.TXT and len(made[1]) > MEMO_TXT_TEXT:
            return made
        if len(memo.rdata) >= MEMO_LIMIT:
            memo.rdata.clear()
        memo.rdata[key] = made
    return made


def _name(text: object, memo: RdataMemo) -> dns.name.Name | None:
    if not isinstance(text, str) or not _PLAIN_NAME.match(text):
        return None
    name = memo.names.get(text)
    if name is None:
        if len(memo.names) >= MEMO_LIMIT:
            memo.names.clear()
        name = memo.names[text] = dns.name.from_text(text)
    return name


# dnspython's rdata constructors carry no annotations, hence the ignores below.


def _make_a(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    return A(_IN, dns.rdatatype.A, str(value))  # type: ignore[no-untyped-call]


def _make_aaaa(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    return AAAA(_IN, dns.rdatatype.AAAA, str(value))  # type: ignore[no-untyped-call]


def _make_ns(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    target = _name(value, memo)
    return None if target is None else NS(_IN, dns.rdatatype.NS, target)  # type: ignore[no-untyped-call]


def _make_cname(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    target = _name(value, memo)
    return None if target is None else CNAME(_IN, dns.rdatatype.CNAME, target)  # type: ignore[no-untyped-call]


def _make_mx(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    if not isinstance(value, tuple):
        return None
    exchange = _name(value[1], memo)
    if exchange is None:
        return None
    return MX(_IN, dns.rdatatype.MX, value[0], exchange)  # type: ignore[no-untyped-call]


def _make_txt(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    return TXT(_IN, dns.rdatatype.TXT, value) if isinstance(value, tuple) else None


def _make_soa(value: object, memo: RdataMemo) -> dns.rdata.Rdata | None:
    if not isinstance(value, tuple):
        return None
    mname, rname = _name(value[0], memo), _name(value[1], memo)
    if mname is None or rname is None:
        return None
    return SOA(_IN, dns.rdatatype.SOA, mname, rname, *value[2:])  # type: ignore[no-untyped-call]


_MAKERS = {
    dnswire.A: _make_a,
    dnswire.AAAA: _make_aaaa,
    dnswire.NS: _make_ns,
    dnswire.CNAME: _make_cname,
    dnswire.MX: _make_mx,
    dnswire.TXT: _make_txt,
    dnswire.SOA: _make_soa,
}
