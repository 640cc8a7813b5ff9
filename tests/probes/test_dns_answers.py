"""`plain_lookup` builds, without dnspython's message parser, the very Lookup dnspython's path
makes (`lookup_from_wire`), or declines. Messages are written record by record, so an RRset's
records can be apart, repeated, and carry TTLs dnspython reads as 0."""

from __future__ import annotations

import itertools
import struct
from datetime import UTC, datetime

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from dns.rdata import Rdata
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sovscan.probes import dns_answers
from sovscan.probes.dns_answers import RdataMemo, plain_lookup
from sovscan.probes.dns_prefetch import lookup_from_wire
from sovscan.probes.dnslookup import MAX_CNAME_CHAIN, Lookup

SEEN = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
QNAME = "www.uni.example"


def _name(*labels: bytes) -> dns.name.Name:
    return dns.name.Name((*labels, b""))


# A few names, so that owners, CNAME targets and the question meet; the odd ones are not plain.
PLAIN = tuple(
    dns.name.from_text(n)
    for n in (
        QNAME,
        "uni.example",
        "cdn.provider.test",
        "edge-1.cdn.provider.test",
        "_dmarc.uni.example",
    )
)
ODD = (
    _name(b"WWW", b"uni", b"example"),
    _name(b"www.x", b"uni", b"example"),
    _name(b"sp ace", b"uni", b"example"),
    dns.name.root,
)
TYPES = ("A", "AAAA", "NS", "CNAME", "MX", "TXT", "SOA")
IN = dns.rdataclass.IN


def _rdata(rdtype: str, draw: st.DrawFn, names: st.SearchStrategy[dns.name.Name]) -> Rdata:
    code = dns.rdatatype.from_text(rdtype)
    if rdtype == "A":
        return A(IN, code, draw(st.sampled_from(["192.0.2.1", "192.0.2.2", "198.51.100.7"])))
    if rdtype == "AAAA":
        choices = ["2001:db8::1", "::ffff:192.0.2.1", "2001:db8:0:0:1::"]
        return AAAA(IN, code, draw(st.sampled_from(choices)))
    if rdtype == "NS":
        return NS(IN, code, draw(names))
    if rdtype == "CNAME":
        return CNAME(IN, code, draw(names))
    if rdtype == "MX":
        return MX(IN, code, draw(st.integers(0, 65535)), draw(names))
    if rdtype == "TXT":
        return TXT(IN, code, draw(st.lists(st.binary(max_size=12), min_size=1, max_size=3)))
    return SOA(IN, code, draw(names), draw(names), 1, 2, 3, 4, 5)


Answer = tuple[dns.name.Name | str, int, Rdata]


def _message(qname: str, qtype: str, records: list[Answer]) -> bytes:
    """A NOERROR response (QR, AA) with these answers, names written out (no compression)."""
    out = struct.pack("!HHHHHH", 7, 0x8400, 1, len(records), 0, 0)
    out += _wire(qname) + struct.pack("!HH", dns.rdatatype.from_text(qtype), 1)
    for owner, ttl, rd in records:
        rdata = rd.to_wire()
        out += _wire(owner) + struct.pack("!HHIH", rd.rdtype, 1, ttl, len(rdata)) + rdata
    return out


def _wire(name: dns.name.Name | str) -> bytes:
    return (dns.name.from_text(name) if isinstance(name, str) else name).to_wire()


@st.composite
def _responses(draw: st.DrawFn, odd: bool) -> tuple[str, bytes, bool]:
    """(question type, message, whether the lean codec must refuse it: one name with two
    different CNAMEs or SOAs, which dnspython reads as the last one)."""
    names = st.sampled_from(PLAIN + ODD if odd else PLAIN)
    qtype = draw(st.sampled_from(TYPES))
    count = draw(st.integers(1, 8))
    records: list[Answer] = []
    for _ in range(count):
        # Mostly records of the question's type, or CNAMEs: the ones the walk reads.
        rdtype = draw(st.sampled_from((qtype, qtype, "CNAME", *TYPES)))
        ttl = draw(st.sampled_from([0, 60, 300, 3600, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))
        records.append((draw(names), ttl, _rdata(rdtype, draw, names)))
    if draw(st.booleans()):
        records.append(draw(st.sampled_from(records)))  # a record twice
    singles: dict[tuple[object, int], set[Rdata]] = {}
    for owner, _ttl, rd in records:
        if rd.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.SOA):
            singles.setdefault((owner, rd.rdtype), set()).add(rd)
    conflict = any(len(rds) > 1 for rds in singles.values())
    if draw(st.booleans()):
        return qtype, _message(QNAME, qtype, records), conflict
    # As a server writes it: dnspython's RRsets (one CNAME or SOA per name: no conflict left),
    # names compressed (owners point at the question).
    query = dns.message.make_query(QNAME, qtype, use_edns=False, id=7)
    message = dns.message.make_response(query)
    for owner, ttl, rd in records:
        name = dns.name.from_text(owner) if isinstance(owner, str) else owner
        rrset = message.find_rrset(message.answer, name, IN, rd.rdtype, create=True)
        rrset.add(rd, min(ttl, 0x7FFFFFFF))
    return qtype, message.to_wire(want_shuffle=False), False


def _dnspython(qtype: str, wire: bytes) -> Lookup | None:
    # As the bulk path reads an answer section (`answer_part`): a NODATA is judged later, on the
    # whole response (`lookup_from_result`).
    return lookup_from_wire(QNAME, qtype, wire, SEEN, authority=False)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_responses(odd=False))
def test_plain_answers_give_dnspython_s_lookup(case: tuple[str, bytes, bool]) -> None:
    qtype, wire, conflict = case
    expected = _dnspython(qtype, wire)
    assert expected is not None
    got = plain_lookup(QNAME, qtype, wire, SEEN, RdataMemo())
    if expected.outcome == "error" or conflict:
        assert got is None  # a loop or a long chain: dnspython's path words the reason
    else:
        assert got == expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_responses(odd=True))
def test_odd_answers_are_declined_or_equal(case: tuple[str, bytes, bool]) -> None:
    qtype, wire, _conflict = case
    got = plain_lookup(QNAME, qtype, wire, SEEN, RdataMemo())
    if got is not None:
        assert got == _dnspython(qtype, wire)


def test_a_shared_memo_gives_the_same_lookups_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dns_answers, "MEMO_LIMIT", 3)
    memo = RdataMemo()
    edge = CNAME(IN, dns.rdatatype.CNAME, dns.name.from_text("edge-1.cdn.provider.test"))
    cases = [
        _message(QNAME, "A", [(QNAME, 60, _a(f"192.0.2.{i}")), (QNAME, 30, _a("192.0.2.99"))])
        for i in range(6)
    ]
    cases.append(
        _message(
            QNAME,
            "A",
            [(QNAME, 300, edge), ("edge-1.cdn.provider.test", 20, _a("198.51.100.1"))],
        )
    )
    for _ in range(2):
        for wire in cases:
            got = plain_lookup(QNAME, "A", wire, SEEN, memo)
            assert got is not None and got == _dnspython("A", wire)
            assert len(memo.rdata) <= 3 and len(memo.names) <= 3
    chained = plain_lookup(QNAME, "A", cases[-1], SEEN, memo)
    assert chained is not None
    assert chained.cname_chain == ("edge-1.cdn.provider.test",)
    assert chained.detail == (
        "www.uni.example. 300 IN CNAME edge-1.cdn.provider.test. | "
        "edge-1.cdn.provider.test. 20 IN A 198.51.100.1"
    )


def _a(address: str) -> Rdata:
    return A(IN, dns.rdatatype.A, address)


def test_records_of_one_rrset_apart_and_repeated_are_grouped_as_dnspython_does() -> None:
    wire = _message(
        QNAME,
        "A",
        [
            (QNAME, 300, _a("192.0.2.2")),
            ("uni.example", 60, _a("192.0.2.9")),
            (QNAME, 0x80000000, _a("192.0.2.1")),  # read as TTL 0
            (QNAME, 60, _a("192.0.2.2")),
        ],
    )
    got = plain_lookup(QNAME, "A", wire, SEEN, RdataMemo())
    assert got is not None and got == _dnspython("A", wire)
    assert [rd.to_text() for rd in got.records] == ["192.0.2.2", "192.0.2.1"]
    assert got.detail == (
        "www.uni.example. 0 IN A 192.0.2.1\nwww.uni.example. 0 IN A 192.0.2.2 | "
        "uni.example. 60 IN A 192.0.2.9"
    )


@pytest.mark.parametrize(
    ("qname", "records"),
    [
        ("WWW.uni.example", [("WWW.uni.example", 60, "192.0.2.1")]),  # asked in capitals
        (QNAME, [("WWW.uni.example", 60, "192.0.2.1")]),  # answered in capitals
        (QNAME, [(QNAME, 60, "192.0.2.1"), (r"sp\032ace.uni.example", 60, "192.0.2.2")]),
        ("sp ace.uni.example", [("sp ace.uni.example", 60, "192.0.2.1")]),  # an odd question
    ],
)
def test_names_that_are_not_plain_are_declined(
    qname: str, records: list[tuple[str, int, str]]
) -> None:
    wire = _message(qname, "A", [(o, t, _a(a)) for o, t, a in records])
    assert plain_lookup(qname, "A", wire, SEEN, RdataMemo()) is None


def test_loops_a_truncated_answer_and_another_rcode_are_declined() -> None:
    loop = CNAME(IN, dns.rdatatype.CNAME, dns.name.from_text(QNAME))
    back = CNAME(IN, dns.rdatatype.CNAME, dns.name.from_text("uni.example"))
    looping = _message(QNAME, "A", [(QNAME, 60, back), ("uni.example", 60, loop)])
    assert _dnspython("A", looping) is not None and _dnspython("A", looping).outcome == "error"  # type: ignore[union-attr]
    assert plain_lookup(QNAME, "A", looping, SEEN, RdataMemo()) is None
    clean = _message(QNAME, "A", [(QNAME, 60, _a("192.0.2.1"))])
    assert plain_lookup(QNAME, "A", clean, SEEN, RdataMemo()) is not None
    truncated = clean[:2] + struct.pack("!H", 0x8600) + clean[4:]
    servfail = clean[:2] + struct.pack("!H", 0x8402) + clean[4:]
    not_a_response = clean[:2] + struct.pack("!H", 0x0400) + clean[4:]
    for wire in (truncated, servfail, not_a_response):
        assert plain_lookup(QNAME, "A", wire, SEEN, RdataMemo()) is None
    assert plain_lookup(QNAME, "AAAA", clean, SEEN, RdataMemo()) is None  # another question


@pytest.mark.parametrize("length", [MAX_CNAME_CHAIN, MAX_CNAME_CHAIN + 1])
def test_a_chain_longer_than_the_walk_takes_is_declined(length: int) -> None:
    hops = [QNAME] + [f"c{i}.cdn.provider.test" for i in range(length)]
    records: list[Answer] = [
        (owner, 60, CNAME(IN, dns.rdatatype.CNAME, dns.name.from_text(target)))
        for owner, target in itertools.pairwise(hops)
    ]
    records.append((hops[-1], 60, _a("192.0.2.1")))
    wire = _message(QNAME, "A", records)
    expected = _dnspython("A", wire)
    got = plain_lookup(QNAME, "A", wire, SEEN, RdataMemo())
    assert expected is not None
    if length > MAX_CNAME_CHAIN:
        assert expected.outcome == "error" and got is None
    else:
        assert got is not None and got == expected and len(got.cname_chain) == length


def test_a_question_with_its_final_dot_and_an_empty_answer_give_dnspython_s_lookups() -> None:
    clean = _message(QNAME, "A", [(QNAME, 60, _a("192.0.2.1"))])
    got = plain_lookup(QNAME + ".", "A", clean, SEEN, RdataMemo())
    assert got is not None and got == lookup_from_wire(QNAME + ".", "A", clean, SEEN)
    empty = _message(QNAME, "A", [])
    got = plain_lookup(QNAME, "A", empty, SEEN, RdataMemo())
    assert got is not None and got == _dnspython("A", empty)
    assert got.detail == "www.uni.example A: NODATA"


def test_long_txt_records_are_not_kept_in_the_memo() -> None:
    memo = RdataMemo()
    short = TXT(IN, dns.rdatatype.TXT, [b"v=spf1 -all"])
    long = TXT(IN, dns.rdatatype.TXT, [bytes(range(200)), b"x" * 250])
    wire = _message(QNAME, "TXT", [(QNAME, 60, short), (QNAME, 60, long)])
    got = plain_lookup(QNAME, "TXT", wire, SEEN, memo)
    assert got is not None and got == _dnspython("TXT", wire)
    assert [rd for rd, _text in memo.rdata.values()] == [short]
