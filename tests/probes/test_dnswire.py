"""The lean DNS codec reads what dnspython reads for every type it handles and refuses bad input."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sovscan.dnsserver import ZoneServer
from sovscan.probes import dnswire
from sovscan.probes.dnswire import WireError, decode_response, encode_query, read_name

IN = dns.rdataclass.IN
FUZZ = settings(
    max_examples=int(os.environ.get("DNSWIRE_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# --- dnspython as the reference ---------------------------------------------------------------


def _norm(rdtype: int, data: Any) -> Any:
    """Comparable form of a record's data: addresses as integers, names lowercased."""
    if rdtype in (dnswire.A, dnswire.AAAA):
        return int(ipaddress.ip_address(data))
    if rdtype in (dnswire.NS, dnswire.CNAME):
        return data.lower()
    if rdtype == dnswire.MX:
        return (data[0], data[1].lower())
    if rdtype == dnswire.SOA:
        return (data[0].lower(), data[1].lower(), *data[2:])
    return data


def _ref_data(rd: Any) -> Any:
    rdtype = int(rd.rdtype)
    if rdtype in (dnswire.A, dnswire.AAAA):
        return rd.address
    if rdtype in (dnswire.NS, dnswire.CNAME):
        return rd.target.to_text(omit_final_dot=True)
    if rdtype == dnswire.MX:
        return (rd.preference, rd.exchange.to_text(omit_final_dot=True))
    if rdtype == dnswire.TXT:
        return tuple(rd.strings)
    if rdtype == dnswire.SOA:
        names = (rd.mname.to_text(omit_final_dot=True), rd.rname.to_text(omit_final_dot=True))
        return (*names, rd.serial, rd.refresh, rd.retry, rd.expire, rd.minimum)
    raise AssertionError(f"unexpected type {rdtype}")


def _ref_section(section: Any) -> set[tuple[str, int, Any]]:
    out = set()
    for rrset in section:
        owner = rrset.name.to_text(omit_final_dot=True).lower()
        out.update((owner, int(rrset.rdtype), _norm(rrset.rdtype, _ref_data(rd))) for rd in rrset)
    return out


def _ours_section(records: tuple[dnswire.Record, ...]) -> set[tuple[str, int, Any]]:
    return {(r.name.lower(), r.rdtype, _norm(r.rdtype, r.data)) for r in records}


def _reference(wire: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(wire)
    except Exception:  # noqa: BLE001 - any refusal by dnspython counts; the codec must refuse too
        return None


def assert_agrees(wire: bytes) -> None:
    """The codec refuses whatever dnspython refuses; what it accepts reads the same."""
    ref = _reference(wire)
    try:
        lean = decode_response(wire, authority=False)
    except WireError:
        lean = None
    try:
        ours = decode_response(wire)
    except WireError:
        assert lean is None, "the answers-only mode accepted what the full mode refuses"
        return  # refusing is always allowed: the bulk path then falls back to dnspython
    assert ref is not None, "the codec accepted a message dnspython refuses"
    assert lean is not None and lean.answer == ours.answer and lean.authority == ()
    assert ours.id == ref.id
    assert ours.rcode == ref.rcode()
    assert ours.flags & 0x87F0 == ref.flags & 0x87F0
    question = ref.question[0]
    assert ours.qname.lower() == question.name.to_text(omit_final_dot=True).lower()
    assert ours.qtype == question.rdtype
    assert _ours_section(ours.answer) == _ref_section(ref.answer)
    assert _ours_section(ours.authority) == _ref_section(ref.authority)


# --- generated messages -------------------------------------------------------------------------

_labels = st.one_of(
    st.sampled_from([b"example", b"org", b"mail", b"ns1", b"Www", b"acme", b"_dmarc"]),
    st.binary(min_size=1, max_size=10),
)
_names = st.lists(_labels, min_size=0, max_size=4).map(lambda ls: dns.name.Name([*ls, b""]))


@st.composite
def _rdata(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["A", "AAAA", "NS", "CNAME", "MX", "TXT", "SOA"]))
    if kind == "A":
        return A(IN, dns.rdatatype.A, str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))))
    if kind == "AAAA":
        value = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
        return AAAA(IN, dns.rdatatype.AAAA, str(value))
    if kind == "NS":
        return NS(IN, dns.rdatatype.NS, draw(_names))
    if kind == "CNAME":
        return CNAME(IN, dns.rdatatype.CNAME, draw(_names))
    if kind == "MX":
        return MX(IN, dns.rdatatype.MX, draw(st.integers(0, 65535)), draw(_names))
    if kind == "TXT":
        strings = draw(st.lists(st.binary(max_size=40), min_size=1, max_size=4))
        return TXT(IN, dns.rdatatype.TXT, strings)
    serials = draw(st.lists(st.integers(0, 2**32 - 1), min_size=5, max_size=5))
    return SOA(IN, dns.rdatatype.SOA, draw(_names), draw(_names), *serials)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A response built and compressed by dnspython, with records of every handled type."""
    qname = draw(_names)
    qtype = draw(st.sampled_from(list(dnswire.TYPE_CODES.values())))
    # Built by hand rather than with make_query, which draws its id from `random`.
    query = dns.message.Message(id=draw(st.integers(0, 65535)))
    query.find_rrset(query.question, qname, IN, qtype, create=True, force_unique=True)
    if draw(st.booleans()):
        query.use_edns(0, payload=1232)
    response = dns.message.make_response(query)
    response.set_rcode(draw(st.sampled_from([0, 2, 3, 5])))
    for section in (response.answer, response.authority):
        for _ in range(draw(st.integers(0, 4))):
            rd = draw(_rdata())
            owner = draw(st.one_of(st.just(qname), _names))
            # One RRset per (owner, type), as servers send; SOA and CNAME RRsets hold one record.
            rrset = response.find_rrset(section, owner, IN, rd.rdtype, create=True)
            rrset.add(rd, draw(st.integers(0, 2**31 - 1)))
    return bytes(response.to_wire(want_shuffle=False))


def _asked_of(wire: bytes) -> tuple[bytes, str] | None:
    """`dnswire.asked` for the question of `wire` (a response's question is laid out as the
    query's was)."""
    text, end = read_name(wire, 12, len(wire))
    return dnswire.asked(text, (wire[end] << 8) | wire[end + 1], wire)


def assert_asked_agrees(wire: bytes, asked: tuple[bytes, str] | None) -> None:
    """Told the question as sent, the decoder reads what it reads untold, or refuses alike."""
    for authority in (True, False):
        try:
            untold = decode_response(wire, authority=authority)
        except WireError as exc:
            untold = exc
        try:
            told = decode_response(wire, authority=authority, asked=asked)
        except WireError as exc:
            told = exc
        if isinstance(untold, WireError):
            assert isinstance(told, WireError), "the question as sent let a refused message in"
        else:
            assert told == untold


@FUZZ
@given(messages())
def test_generated_messages_decode_like_dnspython(wire: bytes) -> None:
    ours = decode_response(wire)  # well-formed messages of handled types are never refused
    assert ours is not None
    assert_agrees(wire)
    asked = _asked_of(wire)
    if asked is not None:
        assert decode_response(wire, asked=asked) == ours


@FUZZ
@given(messages(), st.data())
def test_mutated_messages_never_disagree(wire: bytes, data: st.DataObject) -> None:
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["set", "truncate", "append", "insert"]))
        if action == "set" and mutated:
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
        elif action == "truncate":
            del mutated[data.draw(st.integers(0, len(mutated))) :]
        elif action == "append":
            mutated += data.draw(st.binary(min_size=1, max_size=8))
        else:
            at = data.draw(st.integers(0, len(mutated)))
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    assert_agrees(bytes(mutated))
    assert_asked_agrees(bytes(mutated), _asked_of(wire))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_never_disagree(wire: bytes) -> None:
    assert_agrees(wire)


@FUZZ
@given(_names, st.sampled_from(list(dnswire.TYPE_CODES.values())), st.integers(0, 65535))
def test_queries_parse_in_dnspython(name: dns.name.Name, rdtype: int, qid: int) -> None:
    text = name.to_text(omit_final_dot=True)
    try:
        wire = encode_query(qid, text, rdtype)
    except WireError:
        # Only names the plain-ASCII encoder cannot express may be refused.
        assert "\\" in text or any(len(label) > 63 for label in name.labels)
        return
    parsed = dns.message.from_wire(wire)
    assert parsed.id == qid
    assert parsed.question[0].name == name
    assert parsed.question[0].rdtype == rdtype
    assert parsed.edns == 0
    assert parsed.payload == dnswire.DEFAULT_EDNS_PAYLOAD


@FUZZ
@given(_names, st.sampled_from(list(dnswire.TYPE_CODES.values())), st.integers(0, 65535))
def test_asked_is_the_question_as_read_name_reads_it(
    name: dns.name.Name, rdtype: int, qid: int
) -> None:
    text = name.to_text(omit_final_dot=True)
    try:
        wire = encode_query(qid, text, rdtype)
    except WireError:
        return
    asked = dnswire.asked(text, rdtype, wire)
    read, end = read_name(wire, 12, len(wire))
    if asked is None:
        # Only the root and names with a byte the text escapes are left to read_name.
        assert text == "." or not name.labels[:-1] or read != text
        return
    assert asked == (wire[12 : end + 4], read)
    assert dnswire.asked(text, rdtype % 65535 + 1, wire) is None  # another type: not this query


def test_asked_skips_only_a_question_sent_byte_for_byte() -> None:
    query = encode_query(9, "Mail.Example.org", dnswire.MX)
    asked = dnswire.asked("Mail.Example.org", dnswire.MX, query)
    assert asked == (query[12:-11], "Mail.Example.org")
    response = dns.message.make_response(dns.message.from_wire(query))
    response.answer.append(
        dns.rrset.from_text("mail.example.org.", 60, "IN", "MX", "10 mx.example.net.")
    )
    wire = response.to_wire()
    told = decode_response(wire, asked=asked)
    assert told == decode_response(wire)
    assert told.answer[0].data == (10, "mx.example.net")
    # The server wrote the name in another case: read again, as written.
    lowered = wire[:12] + wire[12:29].lower() + wire[29:]
    assert decode_response(lowered, asked=asked).qname == "mail.example.org"
    assert dnswire.asked("a(b.example", dnswire.A, encode_query(1, "a(b.example", 1)) is None


# --- hand-made malformed input ------------------------------------------------------------------


def _header(ancount: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 7, 0x8400, 1, ancount, 0, 0)


def _question() -> bytes:
    return b"\x07example\x03org\x00" + struct.pack("!HH", 1, 1)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\1\2\3\4", None),  # valid pointer
        (b"\xc0\x1d" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\1\2\3\4", "backwards"),
        (b"\xc0", "truncated"),
        (b"\x40abc\x00" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\1\2\3\4", "label type"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 5) + b"\1\2\3\4\5", "4 bytes"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 9) + b"\1\2\3\4", "past the message"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, 0), "without strings"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, 3) + b"\x05ab", "past its rdata"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 99, 1, 60, 1) + b"\0", "not handled"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 3, 60, 4) + b"\1\2\3\4", "class"),
        (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\1\2\3\4" + b"junk", "trailing"),
    ],
)
def test_malformed_records_are_refused(body: bytes, why: str | None) -> None:
    wire = _header(1) + _question() + body
    assert_agrees(wire)
    if why is None:
        response = decode_response(wire)
        assert response.answer[0] == ("example.org", 1, 60, "1.2.3.4")
    else:
        with pytest.raises(WireError, match=why):
            decode_response(wire)


def test_pointer_loop_and_long_names_are_refused() -> None:
    # A pointer to itself, then a pointer chain pointing forwards: both must stop at once.
    with pytest.raises(WireError):
        read_name(b"\xc0\x00", 0, 2)
    with pytest.raises(WireError):
        read_name(b"\x01a\xc0\x00", 0, 4)
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"
    with pytest.raises(WireError, match="too long"):
        read_name(long_name, 0, len(long_name))
    # 17 hops: one more than dnspython allows.
    wire = bytearray(b"\x01a\x00")
    for i in range(17):
        wire += b"\x01b" + bytes([0xC0, len(wire) - 3 if i else 0])
    start = len(wire) - 4
    with pytest.raises(WireError):
        read_name(bytes(wire), start, len(wire))


def test_labels_are_escaped_like_dnspython() -> None:
    label = bytes([0, 0x20, 0x41, 0x2E, 0x5C, 0x7F, 0xFF])
    name = dns.name.Name([label, b"org", b""])
    wire = name.to_wire()
    assert wire is not None
    text, end = read_name(wire, 0, len(wire))
    assert text == name.to_text(omit_final_dot=True)
    assert end == len(wire)


def test_encoder_refuses_what_it_cannot_express() -> None:
    for bad in ("a..b", "é.example", "x" * 64 + ".org", ".".join(["a" * 60] * 5), "a\\.b"):
        with pytest.raises(WireError):
            dnswire.encode_name(bad)
    assert dnswire.encode_name("") == b"\0"
    assert dnswire.encode_name("Example.ORG.") == b"\x07Example\x03ORG\x00"


# --- against a live server on loopback ----------------------------------------------------------

ZONE = """$TTL 300
@ SOA ns1.bench.test. hostmaster.bench.test. 7 3600 600 604800 300
@ NS ns1.bench.test.
@ NS ns2.provider.test.
@ A 192.0.2.10
@ AAAA 2001:db8::10
@ MX 10 mx1.provider.test.
@ MX 20 smtp.bench.test.
@ TXT "v=spf1 include:_spf.provider.test -all"
@ TXT "google-site-verification=abc123" "second string"
_dmarc TXT "v=DMARC1; p=none; rua=mailto:d@reports.provider.test"
www CNAME edge1.bench.test.
edge1 CNAME edge2.bench.test.
edge2 A 198.51.100.7
ns1 A 192.0.2.53
smtp A 192.0.2.25
"""


@pytest.fixture(scope="module")
def server() -> Any:
    zone = dns.zone.from_text(ZONE, origin="bench.test.", relativize=False)
    with ZoneServer([zone]) as running:
        yield running


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("bench.test", "A"),
        ("bench.test", "AAAA"),
        ("bench.test", "MX"),
        ("bench.test", "NS"),
        ("bench.test", "TXT"),
        ("bench.test", "SOA"),
        ("_dmarc.bench.test", "TXT"),
        ("www.bench.test", "CNAME"),
        ("www.bench.test", "A"),
        ("missing.bench.test", "A"),
        ("smtp.bench.test", "MX"),
    ],
)
def test_live_answers_decode_like_dnspython(server: Any, name: str, rdtype: str) -> None:
    query = encode_query(4242, name, dnswire.TYPE_CODES[rdtype])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.sendto(query, (server.host, server.port))
        wire = sock.recv(65535)
    ours = decode_response(wire)
    assert ours.id == 4242
    assert ours.qname == name
    assert_agrees(wire)
    if name == "www.bench.test" and rdtype == "A":
        assert [r.data for r in ours.answer] == [
            "edge1.bench.test",
            "edge2.bench.test",
            "198.51.100.7",
        ]
    if name == "missing.bench.test":
        assert ours.rcode == dnswire.NXDOMAIN
        assert ours.authority[0].rdtype == dnswire.SOA
    if rdtype == "TXT" and name == "bench.test":
        strings = {r.data for r in ours.answer}
        assert (b"google-site-verification=abc123", b"second string") in strings


def test_decoding_is_lean() -> None:
    """The reason the codec exists: decoding must stay well below dnspython's cost."""
    import time

    zone = dns.zone.from_text(ZONE, origin="bench.test.", relativize=False)
    query = dns.message.make_query("bench.test", "MX")
    response = dns.message.make_response(query)
    node = zone.find_node("@")
    for rdataset in node.rdatasets:
        response.answer.append(dns.rrset.from_rdata_list("bench.test.", 300, list(rdataset)))
    wire = bytes(response.to_wire())
    rounds = 300
    started = time.perf_counter()
    for _ in range(rounds):
        decode_response(wire)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(rounds):
        dns.message.from_wire(wire)
    theirs = time.perf_counter() - started
    assert ours * 2 < theirs, (ours, theirs)
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(wire[:-1])
