"""The loopback ZoneServer answers like an authoritative server (UDP, TCP) and survives garbage."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.dnsserver import (
    Authority,
    Capacity,
    ZoneServer,
    _reply,
    load_zones,
    make_resolver,
)
from tests.probes.dns_fixtures import BIG_TXT_BYTES, FAULTS, all_zones


@pytest.fixture(scope="module")
def server() -> Iterator[ZoneServer]:
    with ZoneServer(all_zones(), faults=FAULTS) as running:
        yield running


def ask(server: ZoneServer, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, server.host, port=server.port, timeout=2)
    return dns.query.udp(query, server.host, port=server.port, timeout=2)


def answer_text(response: dns.message.Message) -> list[str]:
    return sorted(str(rr) for rrset in response.answer for rr in rrset.to_text().splitlines())


def test_binds_udp_and_tcp_on_the_same_free_loopback_port(server: ZoneServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    udp = ask(server, "aspmx.l.google.com", "A")
    tcp = ask(server, "aspmx.l.google.com", "A", tcp=True)
    assert answer_text(udp) == answer_text(tcp) == ["aspmx.l.google.com. 300 IN A 142.250.101.26"]
    assert udp.flags & dns.flags.AA


def test_chases_cname_chains_across_the_zones_it_holds(server: ZoneServer) -> None:
    response = ask(server, "autodiscover.gateway.example", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_text(response) == [
        "autod.ha-autod.office.com. 300 IN A 52.96.88.130",
        "autodiscover.gateway.example. 300 IN CNAME autodiscover.outlook.com.",
        "autodiscover.outlook.com. 300 IN CNAME autod.ha-autod.office.com.",
    ]


def test_stops_at_a_cname_target_outside_its_zones(server: ZoneServer) -> None:
    response = ask(server, "www.alias.example", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_text(response) == ["www.alias.example. 300 IN CNAME foo.provider.example."]
    assert response.authority == []  # no SOA: nothing is said of the end


def test_nxdomain_and_nodata_carry_the_zone_soa(server: ZoneServer) -> None:
    missing = ask(server, "nope.m365.example", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.name.to_text() for rrset in missing.authority] == ["m365.example."]
    nodata = ask(server, "m365.example", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert nodata.answer == []
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


def rrsets_text(section: list[dns.rrset.RRset]) -> list[str]:
    return sorted(str(rr) for rrset in section for rr in rrset.to_text().splitlines())


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("lame.delegating.example", "SOA"),  # at the cut
        ("lame.delegating.example", "NS"),  # the cut's NS: the parent's copy is no answer
        ("www.lame.delegating.example", "A"),  # below it, a name the parent knows nothing of
        ("deep.www.lame.delegating.example", "TXT"),
    ],
)
def test_below_a_zone_cut_the_server_refers(server: ZoneServer, name: str, rdtype: str) -> None:
    # As NSD and BIND answer for a zone they delegated: no AA, no answer, no SOA, the
    # delegation's NS records in the authority section; the names are out of bailiwick, so
    # there is no glue.
    for tcp in (False, True):
        response = ask(server, name, rdtype, tcp=tcp)
        assert response.rcode() == dns.rcode.NOERROR
        assert not response.flags & dns.flags.AA
        assert response.answer == [] and response.additional == []
        assert rrsets_text(response.authority) == [
            "lame.delegating.example. 300 IN NS ns1.elsewhere.example.",
            "lame.delegating.example. 300 IN NS ns2.elsewhere.example.",
        ]


def test_a_referral_carries_the_glue_of_servers_inside_the_delegation(server: ZoneServer) -> None:
    for name in ("child.delegating.example", "ns1.child.delegating.example"):
        response = ask(server, name, "A")
        assert not response.flags & dns.flags.AA and response.answer == []
        assert rrsets_text(response.authority) == [
            "child.delegating.example. 300 IN NS ns1.child.delegating.example."
        ]
        assert rrsets_text(response.additional) == [
            "ns1.child.delegating.example. 300 IN A 192.0.2.90"
        ]


def test_a_cname_into_a_delegation_ends_in_a_referral(server: ZoneServer) -> None:
    # The alias is the server's to give (AA, as BIND sets it); where it leads is not: the
    # referral follows it, and nothing says the end has no address (no SOA).
    response = ask(server, "www.delegating.example", "A")
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert answer_text(response) == [
        "www.delegating.example. 300 IN CNAME www.child.delegating.example."
    ]
    assert [(r.name.to_text(), r.rdtype) for r in response.authority] == [
        ("child.delegating.example.", dns.rdatatype.NS)
    ]


def test_above_and_beside_a_cut_the_zone_answers_as_before(server: ZoneServer) -> None:
    # The parent's own names, NODATA and NXDOMAIN keep their SOA and AA; a DS record lives at
    # the cut on the parent's side (RFC 4034), so a DS question is the parent's to answer.
    mail = ask(server, "mail.delegating.example", "A")
    assert mail.flags & dns.flags.AA and answer_text(mail) == [
        "mail.delegating.example. 300 IN A 192.0.2.25"
    ]
    for name, rdtype, rcode in (
        ("mail.delegating.example", "AAAA", dns.rcode.NOERROR),
        ("nope.delegating.example", "A", dns.rcode.NXDOMAIN),
        ("lame.delegating.example", "DS", dns.rcode.NOERROR),
    ):
        response = ask(server, name, rdtype)
        assert response.rcode() == rcode and response.flags & dns.flags.AA, name
        assert response.answer == []
        assert [r.rdtype for r in response.authority] == [dns.rdatatype.SOA]


def test_an_empty_non_terminal_is_nodata_not_nxdomain(server: ZoneServer) -> None:
    # "_domainkey.m365.example" has no records but names below it exist (RFC 8020).
    response = ask(server, "_domainkey.m365.example", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_refuses_names_outside_its_zones(server: ZoneServer) -> None:
    response = ask(server, "www.not-served.example", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_a_cname_loop_is_answered_once_and_ends(server: ZoneServer) -> None:
    response = ask(server, "loop.faults.example", "A")
    assert answer_text(response) == [
        "loop-a.faults.example. 300 IN CNAME loop-b.faults.example.",
        "loop-b.faults.example. 300 IN CNAME loop.faults.example.",
        "loop.faults.example. 300 IN CNAME loop-a.faults.example.",
    ]


def test_large_answer_is_truncated_over_udp_and_complete_over_tcp(server: ZoneServer) -> None:
    query = dns.message.make_query("hostile.example", "TXT", use_edns=0, payload=1232)
    udp = dns.query.udp(query, server.host, port=server.port, timeout=2)
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    tcp = dns.query.tcp(query, server.host, port=server.port, timeout=2)
    sizes = [sum(len(s) for s in rdata.strings) for rdata in tcp.answer[0]]
    assert max(sizes) == BIG_TXT_BYTES - BIG_TXT_BYTES % 255


def test_resolver_falls_back_to_tcp_for_the_large_answer(server: ZoneServer) -> None:
    resolver = make_resolver(server.host, server.port, timeout=1, lifetime=2)
    answer = resolver.resolve("hostile.example", "TXT")
    assert len(answer.rrset or ()) == 4


def test_faults_answer_the_configured_rcode_or_nothing(server: ZoneServer) -> None:
    assert ask(server, "servfail.example", "SOA").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "mx.servfail.example", "A").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "refused.example", "SOA").rcode() == dns.rcode.REFUSED
    assert ask(server, "txtfail.example", "TXT").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "txtfail.example", "MX").rcode() == dns.rcode.NOERROR
    assert ask(server, "lying.hostile.example", "A").rcode() == dns.rcode.NXDOMAIN
    started = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        query = dns.message.make_query("timeout.example", "SOA")
        dns.query.udp(query, server.host, port=server.port, timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_transport_faults_garbage_wrong_id_and_forced_truncation(server: ZoneServer) -> None:
    query = dns.message.make_query("garbage.hostile.example", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        sock.sendto(query.to_wire(), (server.host, server.port))
        reply = sock.recv(65535)
    assert reply[:2] == query.to_wire()[:2]
    with pytest.raises(dns.exception.FormError):
        dns.message.from_wire(reply)
    badid = dns.message.make_query("badid.hostile.example", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        sock.sendto(badid.to_wire(), (server.host, server.port))
        wrong = dns.message.from_wire(sock.recv(65535))
    assert wrong.id == (badid.id + 1) & 0xFFFF
    assert answer_text(wrong) == ["badid.hostile.example. 300 IN A 192.0.2.68"]
    udp = ask(server, "tc.hostile.example", "TXT")
    assert udp.flags & dns.flags.TC
    assert answer_text(ask(server, "tc.hostile.example", "TXT", tcp=True)) == [
        'tc.hostile.example. 300 IN TXT "tcp only"'
    ]


def test_wildcards_synthesize_answers_below_the_closest_encloser(server: ZoneServer) -> None:
    response = ask(server, "x.apps.wildcard.example", "A")
    assert answer_text(response) == [
        "lms-prod-1234567890.ca-central-1.elb.amazonaws.com. 60 IN A 3.96.112.45",
        "lms-prod-1234567890.ca-central-1.elb.amazonaws.com. 60 IN A 3.98.201.17",
        "x.apps.wildcard.example. 300 IN CNAME lms-prod-1234567890.ca-central-1.elb.amazonaws.com.",
    ]
    assert answer_text(ask(server, "anything.wildcard.example", "TXT")) == [
        'anything.wildcard.example. 300 IN TXT "wildcard"'
    ]
    # An existing name is not covered by the wildcard, nor is a name below it.
    explicit = ask(server, "explicit.wildcard.example", "TXT")
    assert (explicit.rcode(), explicit.answer) == (dns.rcode.NOERROR, [])
    below = ask(server, "a.explicit.wildcard.example", "TXT")
    assert below.rcode() == dns.rcode.NXDOMAIN


def test_a_slow_answer_arrives_late_and_does_not_hold_up_others(server: ZoneServer) -> None:
    started = time.monotonic()
    slow = ask(server, "slow.hostile.example", "A")
    assert time.monotonic() - started >= 0.2
    assert answer_text(slow) == ["slow.hostile.example. 300 IN A 192.0.2.69"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        late = dns.message.make_query("veryslow.hostile.example", "A")
        sock.sendto(late.to_wire(), (server.host, server.port))
        started = time.monotonic()
        assert ask(server, "aspmx.l.google.com", "A").rcode() == dns.rcode.NOERROR
        assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", b"\x12\x34" + b"\xff" * 10, b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xc0"],
)
def test_garbage_over_udp_gets_formerr_or_silence_and_the_server_keeps_serving(
    server: ZoneServer, garbage: bytes
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(garbage, (server.host, server.port))
        try:
            reply = sock.recv(65535)
        except TimeoutError:
            reply = b""
    if len(garbage) >= 12:
        assert reply[:2] == garbage[:2]
        assert reply[3] & 0x0F == dns.rcode.FORMERR
    else:
        assert reply == b""
    assert ask(server, "aspmx.l.google.com", "A").rcode() == dns.rcode.NOERROR


def test_garbage_and_a_cut_message_over_tcp_do_not_stop_the_server(server: ZoneServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=1) as sock:
        sock.sendall(b"\x00\x05hello")
        sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(65535)
    assert reply == b""  # under 12 bytes: no id to answer to
    with socket.create_connection((server.host, server.port), timeout=1) as sock:
        sock.sendall(b"\x01\x00\x12")  # announces 256 bytes, sends 1, then closes
    assert ask(server, "aspmx.l.google.com", "A", tcp=True).rcode() == dns.rcode.NOERROR


def test_a_response_sent_to_the_server_is_ignored(server: ZoneServer) -> None:
    response = dns.message.make_response(dns.message.make_query("m365.example", "A"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(response.to_wire(), (server.host, server.port))
        with pytest.raises(TimeoutError):
            sock.recv(65535)


def test_non_query_opcode_is_not_implemented(server: ZoneServer) -> None:
    query = dns.message.make_query("m365.example", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    response = dns.query.udp(query, server.host, port=server.port, timeout=2)
    assert response.rcode() == dns.rcode.NOTIMP


def test_origin_comes_from_the_file_name_or_from_origin(tmp_path: Path) -> None:
    (tmp_path / "named.example.zone").write_text(
        "$TTL 60\n@ SOA ns. h. 1 1 1 1 1\n@ NS ns.\nwww A 192.0.2.1\n"
    )
    (tmp_path / "other.zone").write_text(
        "$ORIGIN explicit.example.\n$TTL 60\n@ SOA ns. h. 1 1 1 1 1\n@ NS ns.\nwww A 192.0.2.2\n"
    )
    (tmp_path / "ignored.txt").write_text("not a zone")
    origins = sorted(zone.origin.to_text() for zone in load_zones(tmp_path) if zone.origin)
    assert origins == ["explicit.example.", "named.example."]
    with ZoneServer.from_directory(tmp_path) as server:
        resolver = make_resolver(server.host, server.port)
        assert [r.to_text() for r in resolver.resolve("www.explicit.example", "A")] == ["192.0.2.2"]


def test_an_invalid_zone_file_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "bad.example.zone").write_text("@ SOA this is not valid\n")
    with pytest.raises(ValueError, match=r"bad\.example\.zone: not a valid zone file"):
        load_zones(tmp_path)


def test_the_port_is_released_on_exit(tmp_path: Path) -> None:
    zone = dns.zone.from_text("@ 60 SOA ns. h. 1 1 1 1 1\n@ 60 NS ns.\n", origin="x.example.")
    with ZoneServer([zone]) as server:
        port = server.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # would raise EADDRINUSE if the server still held it
    with ZoneServer([zone], port=port) as again:
        assert again.port == port


def test_demo_zones_load_and_answer() -> None:
    demo = Path(__file__).resolve().parents[2] / "sovscan" / "demo" / "zones"
    with ZoneServer.from_directory(demo) as server:
        resolver = make_resolver(server.host, server.port)
        answer = resolver.resolve("lms.universite.example", "A")
        assert sorted(r.to_text() for r in answer) == ["3.96.112.45", "3.98.201.17"]
        assert str(answer.canonical_name) == "lms-prod-1234567890.ca-central-1.elb.amazonaws.com."


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority(all_zones(), FAULTS)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), tcp=st.booleans())
def test_any_bytes_get_a_reply_or_silence_never_an_exception(
    authority: Authority, data: bytes, tcp: bool
) -> None:
    reply, delay = _reply(authority, data, max_size=None if tcp else 512)
    assert reply is None or len(reply) <= (65535 if tcp else 512)
    assert delay >= 0


@settings(max_examples=300, deadline=None)
@given(
    name=st.lists(
        st.sampled_from(["www", "*", "apps", "loop", "x", "\\000", "a" * 63]), max_size=3
    ),
    zone=st.sampled_from(
        [
            "m365.example",
            "wildcard.example",
            "faults.example",
            "nowhere.example",
            "delegating.example",
            "lame.delegating.example",
        ]
    ),
    rdtype=st.sampled_from(["A", "AAAA", "TXT", "CNAME", "MX", "ANY", "SOA", "NS"]),
)
def test_any_question_gets_a_well_formed_answer(
    authority: Authority, name: list[str], zone: str, rdtype: str
) -> None:
    query = dns.message.make_query(".".join([*name, zone]), rdtype, use_edns=0)
    reply, _ = _reply(authority, query.to_wire(), max_size=1232)
    assert reply is not None
    response = dns.message.from_wire(reply)
    assert response.id == query.id
    assert len(reply) <= 1232


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_serves_on_the_ipv6_loopback_too() -> None:
    zone = dns.zone.from_text(
        "@ 60 SOA ns. h. 1 1 1 1 1\n@ 60 NS ns.\nw 60 A 192.0.2.7\n", "v6.example."
    )
    with ZoneServer([zone], host="::1") as server:
        resolver = make_resolver(server.host, server.port)
        assert [r.to_text() for r in resolver.resolve("w.v6.example", "A")] == ["192.0.2.7"]
        tcp = dns.query.tcp(dns.message.make_query("w.v6.example", "A"), "::1", port=server.port)
        assert tcp.rcode() == dns.rcode.NOERROR


def test_a_busy_server_answers_what_it_has_room_for_and_drops_the_rest() -> None:
    zone = dns.zone.from_text("@ 60 SOA ns h 1 1 1 1 1\n@ 60 NS ns\n@ 60 A 192.0.2.1\n", "b.test.")
    busy = ZoneServer([zone], capacity=Capacity(depth=4, service=0.02))
    with busy, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        for qid in range(20):  # at once: one in service, three behind it, the rest dropped
            query = dns.message.make_query("b.test", "A", id=qid)
            sock.sendto(query.to_wire(), (busy.host, busy.port))
        answered = []
        started = time.monotonic()
        try:
            while True:
                answered.append(dns.message.from_wire(sock.recv(512)).id)
        except TimeoutError:
            pass
        elapsed = time.monotonic() - started - 1.0
    assert 4 <= len(answered) <= 6, answered
    assert answered == sorted(answered)  # in the order taken, one service time apart
    assert elapsed >= 0.06
