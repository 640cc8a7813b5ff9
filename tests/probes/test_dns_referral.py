"""A referral, or an empty answer nobody vouches for, is no answer: a gap on both DNS paths.

An authoritative-only or non-recursive server given as --nameserver answers a question about a
zone it does not hold, but knows the parent of, with a referral (NOERROR, no answer, AA clear,
NS records in the authority section, no SOA). Read as "no such record" it made whole domains
vanish from a scan that called itself complete. `dnslookup.unanswered` is the one judgement both
paths make; these tests hold the two paths to it and to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.model import Asset, Gap
from sovscan.probes import dnswire
from sovscan.probes.bulkdns import Result
from sovscan.probes.dns import DnsProbe
from sovscan.probes.dns_answers import RdataMemo
from sovscan.probes.dns_prefetch import bulk_settings, lookup_from_result, lookup_from_wire
from sovscan.probes.dnslookup import Lookup, authority_record, lookup, unanswered
from tests.hostile.servers import HostileDnsServer, Reply
from tests.hostile.test_dns_hostile import DOMAIN, zone
from tests.probes.dns_fixtures import LAME_DOMAIN, REFERRAL_SERVERS

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
AA, RA = 0x0400, 0x0080
SERVER = "192.0.2.53:53"
NS, SOA = 2, 6
QNAME = "www.lame.parent.example"
SOA_OF_PARENT = [authority_record("parent.example", SOA)]
SOA_ELSEWHERE = [authority_record("other.example", SOA)]
REFERRAL = [
    authority_record("lame.parent.example", NS, "ns2.elsewhere.example"),
    authority_record("lame.parent.example", NS, "ns1.elsewhere.example"),
]
NOT_RECURSIVE = "the server does not recurse; give --nameserver a recursive resolver"


@pytest.mark.parametrize("flags", [0, AA, RA, AA | RA])
def test_an_soa_of_the_name_s_zone_makes_a_nodata_whoever_answered(flags: int) -> None:
    # RFC 2308: the negative answer names its zone; a recursive resolver passes it on (RA, AA
    # clear), a cache too. With the referral's NS beside it, the SOA still decides.
    assert unanswered(QNAME, flags, SOA_OF_PARENT, SERVER) is None
    assert unanswered(QNAME, flags, [*SOA_OF_PARENT, *REFERRAL], SERVER) is None
    assert unanswered("parent.example", flags, SOA_OF_PARENT, SERVER) is None
    assert unanswered(QNAME, flags, [authority_record(".", SOA)], SERVER) is None


@pytest.mark.parametrize("flags", [0, AA, RA, AA | RA])
def test_ns_records_without_that_soa_are_a_referral_whatever_the_flags(flags: int) -> None:
    for authority in (REFERRAL, [*REFERRAL, *SOA_ELSEWHERE]):
        reason = unanswered(QNAME, flags, authority, SERVER)
        assert reason is not None
        assert reason.startswith(
            "referral to ns1.elsewhere.example, ns2.elsewhere.example (zone lame.parent.example) "
            f"from {SERVER}, not an answer: "
        )
        assert reason.endswith("give --nameserver a recursive resolver")
        assert (NOT_RECURSIVE in reason) == (not flags & RA)
        assert ("AA is set, yet NS records without the zone's SOA" in reason) == bool(flags & AA)


def test_a_referral_names_a_few_servers_and_an_upward_one_the_root() -> None:
    many = [authority_record(".", NS, f"{letter}.root-servers.net") for letter in "mlkjihgfedcba"]
    reason = unanswered(QNAME, 0, many, "")
    assert reason == (
        "referral to a.root-servers.net, b.root-servers.net, c.root-servers.net and 10 more "
        f"(zone the root), not an answer: {NOT_RECURSIVE}"
    )


@pytest.mark.parametrize(("flags", "answered"), [(0, False), (AA, True), (RA, True)])
def test_with_neither_soa_nor_ns_only_an_authority_or_a_resolver_is_believed(
    flags: int, answered: bool
) -> None:
    # An authoritative NODATA (AA), or a recursive resolver's (RA, AA usually clear): an answer.
    # An empty response from a server that is neither says nothing of the name.
    for authority in ([], SOA_ELSEWHERE):
        reason = unanswered(QNAME, flags, authority, SERVER)
        assert (reason is None) == answered
    if not answered:
        assert unanswered(QNAME, flags, [], SERVER) == (
            f"no answer from {SERVER}: an empty response neither authoritative (AA clear) nor "
            "from a recursive resolver (RA clear), naming no zone (no SOA): the server does not "
            "hold the name's zone and does not recurse; give --nameserver a recursive resolver"
        )


def _response(
    flags: int,
    authority: list[str],
    *,
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
    answer: tuple[str, ...] = (),
    name: str = QNAME,
) -> bytes:
    query = dns.message.make_query(name, "A", use_edns=0, payload=1232, id=7)
    response = dns.message.make_response(query)
    response.flags = (response.flags & ~(AA | RA)) | flags
    response.set_rcode(rcode)
    response.answer += [_rrset(text) for text in answer]
    response.authority += [_rrset(text) for text in authority]
    return response.to_wire()


def _rrset(text: str) -> dns.rrset.RRset:
    owner, ttl, rdclass, rdtype, rdata = text.split(" ", 4)
    return dns.rrset.from_text(owner, int(ttl), rdclass, rdtype, rdata)


PARENT_SOA = "parent.example. 300 IN SOA ns1.parent.example. h.parent.example. 1 2 3 4 5"
LAME_NS = "lame.parent.example. 300 IN NS ns1.elsewhere.example."
CHAOS_NS = "lame.parent.example. 300 CH NS ns1.elsewhere.example."
ALIAS = f"{QNAME}. 300 IN CNAME edge.cdn.example."


@pytest.mark.parametrize(
    ("wire", "outcome"),
    [
        (_response(AA, [PARENT_SOA]), "nodata"),  # an authoritative NODATA
        (_response(RA, [PARENT_SOA]), "nodata"),  # a recursive resolver's
        (_response(RA, []), "nodata"),  # a resolver's, without the SOA
        (_response(AA, []), "nodata"),
        (_response(0, [PARENT_SOA]), "nodata"),  # a cache's: the SOA names the zone
        (_response(0, [LAME_NS]), "error"),  # a referral
        (_response(AA | RA, [LAME_NS]), "error"),  # a referral, whatever its flags
        (_response(0, []), "error"),  # nobody vouches for it
        (_response(AA, [CHAOS_NS]), "nodata"),  # another class's NS: no referral
        (_response(0, [CHAOS_NS]), "error"),  # nor does it vouch for anything
        (_response(0, [], rcode=dns.rcode.NXDOMAIN), "nxdomain"),  # NXDOMAIN is as it was
        (_response(0, [LAME_NS], rcode=dns.rcode.NXDOMAIN), "nxdomain"),
        (_response(0, [], answer=(f"{QNAME}. 300 IN A 192.0.2.7",)), "answer"),
        (_response(0, [LAME_NS], answer=(f"{QNAME}. 300 IN A 192.0.2.7",)), "answer"),
        # Records, none for the question: as a NODATA, judged on the whole response.
        (_response(0, [LAME_NS], answer=("x.parent.example. 300 IN A 192.0.2.7",)), "error"),
        (_response(AA, [PARENT_SOA], answer=("x.parent.example. 300 IN A 192.0.2.7",)), "nodata"),
    ],
    ids=[
        "aa-soa",
        "ra-soa",
        "ra",
        "aa",
        "soa",
        "referral",
        "aa-ra-referral",
        "unvouched",
        "aa-chaos-ns",
        "chaos-ns",
        "nxdomain",
        "nxdomain-referral",
        "answer",
        "answer-ns",
        "other-answer-ns",
        "other-answer-aa-soa",
    ],
)
def test_both_paths_judge_a_response_alike(wire: bytes, outcome: str) -> None:
    live = lookup_from_wire(QNAME, "A", wire, START, server=SERVER)
    assert live is not None and live.outcome == outcome
    code = int.from_bytes(wire[3:4]) & 0xF
    status = "nxdomain" if code else "nodata"
    result = Result(QNAME, 1, status, code, (), wire=wire)  # type: ignore[arg-type]
    for memo in (None, RdataMemo()):  # dnspython's reading, and the lean one
        assert lookup_from_result(result, "A", 3.0, START, memo=memo, server=SERVER) == live
    if outcome == "error":
        assert live.reason.endswith("give --nameserver a recursive resolver")


def test_a_cname_before_a_referral_is_followed_not_failed() -> None:
    # The alias is known; the server sent the client on for its end (NS, no SOA of the end's
    # zone): the chain is open, and the probe asks the end (`follow`), whose referral, if it
    # is one, becomes the gap. Never "no address".
    wire = _response(AA, [LAME_NS], answer=(ALIAS,))
    live = lookup_from_wire(QNAME, "A", wire, START, server=SERVER)
    assert live is not None
    assert (live.outcome, live.cname_chain, live.chain_open) == (
        "nodata",
        ("edge.cdn.example",),
        True,
    )
    result = Result(QNAME, 1, "nodata", 0, (), wire=wire)
    assert lookup_from_result(result, "A", 3.0, START, memo=RdataMemo(), server=SERVER) == live


def probe(
    server: ZoneServer | HostileDnsServer, domains: list[str], bulk: bool
) -> list[Asset | Gap]:
    resolver = make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)
    settings = bulk_settings(resolver, 64) if bulk else None
    return list(DnsProbe(domains, (), resolver, clock=lambda: START, bulk=settings).collect())


@pytest.mark.parametrize("bulk", [False, True])
def test_a_domain_delegated_away_is_one_gap_on_both_paths(server: ZoneServer, bulk: bool) -> None:
    items = probe(server, [LAME_DOMAIN], bulk)
    where = f"{server.host}:{server.port}"
    assert items == [
        Gap(
            f"dns:{LAME_DOMAIN}",
            f"SOA: referral to {REFERRAL_SERVERS} (zone {LAME_DOMAIN}) from {where}, not an "
            f"answer: {NOT_RECURSIVE}; the domain was not probed further",
        )
    ]


@pytest.mark.parametrize("bulk", [False, True])
def test_names_delegated_inside_a_domain_are_gaps_and_the_rest_is_seen(
    server: ZoneServer, bulk: bool
) -> None:
    items = probe(server, ["delegating.example"], bulk)
    where = f"{server.host}:{server.port}"
    gaps = {item.scope: item.reason for item in items if isinstance(item, Gap)}
    referral = "referral to {} (zone {}) from " + where + ", not an answer: " + NOT_RECURSIVE
    child = "CNAME target www.child.delegating.example. could not be resolved: " + referral.format(
        "ns1.child.delegating.example", "child.delegating.example"
    )
    assert gaps == {
        "dns:_dmarc.delegating.example:TXT": referral.format(
            "ns1.elsewhere.example", "_dmarc.delegating.example"
        ),
        "dns:www.delegating.example:A": child,
        "dns:www.delegating.example:AAAA": child,
    }
    assets = {item.id: item for item in items if isinstance(item, Asset)}
    www = assets["dns:delegating.example:host:www.delegating.example"].attributes
    assert www["cname_chain"] == ("www.child.delegating.example",) and "addresses" not in www
    # The parent's own NODATA (no AAAA for mail) and NXDOMAIN (no autodiscover) stay answers.
    mail = assets["dns:delegating.example:host:mail.delegating.example"].attributes
    assert mail["addresses"] == ("192.0.2.25",)
    assert "dns:delegating.example:host:autodiscover.delegating.example" not in assets
    assert "dns:delegating.example:mailbox" in assets


def _as(change: Callable[[dns.message.Message], None]) -> Callable[..., Reply]:
    """A server answering from the zone, its response changed by `change`."""

    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply:
        response = zone().answer(query)
        change(response)
        return Reply(response.to_wire())

    return behaviour


def _recursive(response: dns.message.Message) -> None:
    response.flags = (response.flags & ~dns.flags.AA) | dns.flags.RA


def _recursive_without_soa(response: dns.message.Message) -> None:
    _recursive(response)
    response.authority.clear()


def _unvouched(response: dns.message.Message) -> None:
    response.flags &= ~(dns.flags.AA | dns.flags.RA)
    response.authority.clear()


@pytest.mark.parametrize("bulk", [False, True])
def test_a_recursive_resolver_s_answers_are_answers(bulk: bool) -> None:
    # RA set, AA clear, as a recursive resolver answers: NODATA and NXDOMAIN are what they
    # were with the authoritative server, with or without the SOA.
    with HostileDnsServer(zone()) as server:
        reference = probe(server, [DOMAIN], bulk)
    assert not [item for item in reference if isinstance(item, Gap)]
    for change in (_recursive, _recursive_without_soa):
        with HostileDnsServer(zone(), _as(change)) as server:
            assert probe(server, [DOMAIN], bulk) == reference


@pytest.mark.parametrize("bulk", [False, True])
def test_empty_answers_nobody_vouches_for_are_gaps(bulk: bool) -> None:
    # Neither AA nor RA and no SOA: the records the server gives are kept, its silences are
    # gaps, never "no such record".
    with HostileDnsServer(zone(), _as(_unvouched)) as server:
        items = probe(server, [DOMAIN], bulk)
        where = f"{server.host}:{server.port}"
    gaps = [item for item in items if isinstance(item, Gap)]
    assert gaps and all(g.reason.startswith(f"no answer from {where}: an empty") for g in gaps)
    # Each NODATA of the zone (no AAAA anywhere, no A at the apex, no CAA); the names it does
    # not have are still NXDOMAIN (_dmarc, the DKIM selectors...): no gap.
    assert {g.scope for g in gaps} == {
        f"dns:{name}:{rdtype}"
        for name, rdtype in [
            (DOMAIN, "A"),
            (DOMAIN, "AAAA"),
            (DOMAIN, "CAA"),
            (f"ns1.{DOMAIN}", "AAAA"),
            (f"mx.{DOMAIN}", "AAAA"),
            (f"www.{DOMAIN}", "AAAA"),
        ]
    }
    assets = {item.id: item for item in items if isinstance(item, Asset)}
    assert f"dns:{DOMAIN}:mx:mx.{DOMAIN}" in assets
    www = assets.get(f"dns:{DOMAIN}:host:www.{DOMAIN}")
    assert www is not None and "addresses" not in www.attributes  # AAAA unknown


def test_the_live_path_names_the_server_that_answered(server: ZoneServer) -> None:
    resolver = make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)
    found: Lookup = lookup(resolver, f"www.{LAME_DOMAIN}", "A", lambda: START)
    assert found.failed and f"from {server.host}:{server.port}," in found.reason


@pytest.mark.parametrize(
    "authority",
    [[], [PARENT_SOA], [LAME_NS], [PARENT_SOA, LAME_NS], [f"{QNAME}. 300 IN A 192.0.2.1", LAME_NS]],
)
@pytest.mark.parametrize("answer", [(), (ALIAS,)])
def test_the_lean_reading_of_the_authority_section_is_the_decoder_s(
    authority: list[str], answer: tuple[str, ...]
) -> None:
    wire = _response(0, authority, answer=answer)
    decoded = dnswire.decode_response(wire, authority=True).authority
    expected = [
        (r.name, r.rdtype, r.data if r.rdtype == NS else "")
        for r in decoded
        if r.rdtype in (NS, SOA)
    ]
    assert dnswire.delegation_records(wire) == expected
    # Cut short, it refuses (the response then goes to the live path), never reads past.
    for end in range(12, len(wire), 7):
        try:
            dnswire.delegation_records(wire[:end])
        except (dnswire.WireError, IndexError):
            continue
