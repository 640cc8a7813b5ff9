"""The DNS probe's bulk path gives exactly what the live path gives, against the loopback server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from sovscan.config import load_config
from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.errors import ConfigError
from sovscan.model import Asset, Gap
from sovscan.probes import dns_answers, dns_prefetch
from sovscan.probes.bulkdns import Result
from sovscan.probes.dns import DnsProbe
from sovscan.probes.dns_answers import RdataMemo, plain_lookup
from sovscan.probes.dns_prefetch import (
    BulkSettings,
    Prefetcher,
    answer_part,
    bulk_settings,
    lookup_from_result,
    lookup_from_wire,
)
from sovscan.probes.dnslookup import Lookup, lookup
from tests.probes.dns_fixtures import all_zones, counting

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)

# Faults whose outcome does not depend on timing (the slow ones answer late, which one path may
# wait for and the other not on a loaded machine).
STEADY_FAULTS = (
    "servfail.example",
    "refused.example",
    "txtfail.example",
    "tc.hostile.example",
    "lying.hostile.example",
    "nosuch.example",  # no zone: the server refuses
    "lame.delegating.example",  # delegated away: referrals
)
# Nothing usable comes back: dropped, the wrong id, bytes that do not parse (dnspython waits on).
SILENT_FAULTS = (
    "timeout.example",
    "dropa.example",
    "badid.hostile.example",
    "garbage.hostile.example",
)


def fixture_domains() -> list[str]:
    """Every fixture zone but those that never answer (they have a test of their own)."""
    origins = (zone.origin.to_text(omit_final_dot=True) for zone in all_zones())
    return sorted(origin for origin in origins if origin not in SILENT_FAULTS)


def probe(
    resolver: dns.resolver.Resolver,
    domains: Sequence[str],
    bulk: BulkSettings | None,
    names: Sequence[str] = ("lms",),
) -> list[Asset | Gap]:
    return list(DnsProbe(domains, names, resolver, clock=lambda: START, bulk=bulk).collect())


def settings_for(resolver: dns.resolver.Resolver, **changes: Any) -> BulkSettings:
    found = bulk_settings(resolver, 64)
    assert found is not None
    return replace(found, **changes)


def test_bulk_gives_the_live_items_for_every_fixture_domain(server: ZoneServer) -> None:
    domains = [*fixture_domains(), *STEADY_FAULTS]
    live_resolver = counting(server, 1.0, 3.0)
    bulk_resolver = counting(server, 1.0, 3.0)
    live = probe(live_resolver, domains, None)
    bulk = probe(bulk_resolver, domains, settings_for(bulk_resolver))
    assert bulk == live
    assert sum(isinstance(item, Asset) for item in live) > 100
    assert sum(isinstance(item, Gap) for item in live) > 5
    # A CNAME end the server refuses is asked by both paths, live in the end on the bulk one.
    refused = "CNAME target foo.provider.example. could not be resolved: REFUSED"
    assert Gap("dns:www.alias.example:A", refused) in live
    # Each gap names the domain whose scan it leaves incomplete, on both paths alike (Gap's
    # equality leaves the unit out): what the history judges a domain's completeness by.
    units = [(item.scope, item.unit) for item in live if isinstance(item, Gap)]
    assert units == [(item.scope, item.unit) for item in bulk if isinstance(item, Gap)]
    assert ("dns:www.alias.example:A", "dns:alias.example") in units
    assert all(unit is not None and unit.startswith("dns:") for _scope, unit in units)
    # A gap about another name (a subdomain, an MX host in another zone) still names the domain.
    assert any(not scope.startswith(str(unit)) for scope, unit in units)
    assert ("foo.provider.example.", "1") in bulk_resolver.asked
    # The live path asked every question; the bulk path only those it could not take as is
    # (refused, servfail, garbage: the faults), never a question of a clean domain. A truncated
    # answer was asked again over TCP by the bulk resolver, and not asked live a third time.
    assert len(live_resolver.asked) > 1000
    assert 0 < len(bulk_resolver.asked) < len(live_resolver.asked) / 5
    clean = ("m365.example", "gws.example", "gateway.example", "tokens.example")
    assert not [q for q in bulk_resolver.asked if q[0].rstrip(".").endswith(clean)]
    faulty = {q[0].rstrip(".") for q in bulk_resolver.asked}
    assert "servfail.example" in faulty
    assert "tc.hostile.example" not in faulty


def test_plain_answers_skip_dnspython_and_give_the_same_items(
    server: ZoneServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domains = fixture_domains()
    live = probe(counting(server, 1.0, 3.0), domains, None)
    made: list[Lookup | None] = []

    def counted(*args: Any) -> Lookup | None:
        found = dns_answers.plain_lookup(*args)
        made.append(found)
        return found

    monkeypatch.setattr(dns_prefetch, "plain_lookup", counted)
    resolver = counting(server, 1.0, 3.0)
    assert probe(resolver, domains, settings_for(resolver)) == live
    plain = sum(found is not None for found in made)
    # Most answers with records are plain; the rest (mixed case, escapes, SRV, CAA...) are read
    # by dnspython, and with the plain path off everything is, with the same items.
    assert plain > 100 and plain > len(made) * 0.9
    monkeypatch.setattr(dns_prefetch, "plain_lookup", lambda *args: None)
    resolver = counting(server, 1.0, 3.0)
    assert probe(resolver, domains, settings_for(resolver)) == live


def test_a_rehearsal_with_every_answer_stands_for_the_real_run(
    server: ZoneServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domains = [*fixture_domains(), *STEADY_FAULTS]
    live = probe(counting(server, 1.0, 3.0), domains, None)
    real_runs: list[str] = []
    scan = DnsProbe._scan

    def counted(self: DnsProbe, domain: str, asker: Any = None) -> Any:
        real_runs.append(domain)
        return scan(self, domain, asker)

    monkeypatch.setattr(DnsProbe, "_scan", counted)
    resolver = counting(server, 1.0, 3.0)
    assert probe(resolver, domains, settings_for(resolver)) == live
    # Only the domains with an answer left to the live path (the faults, name servers in zones
    # the server refuses) are probed after rehearsals; a missing one's gap is its rehearsal's.
    assert 0 < len(set(real_runs)) < len(set(domains)) / 2
    assert "servfail.example" in real_runs and "nosuch.example" in real_runs
    assert not [d for d in real_runs if d.endswith(("m365.example", "gws.example"))]


def test_small_batches_and_a_small_answer_map_change_nothing(server: ZoneServer) -> None:
    # Batches of 3 domains and room for 150 answers: shared hosts are evicted and asked again,
    # and the items stay those of the live path, in the same order.
    live_resolver = counting(server, 1.0, 3.0)
    bulk_resolver = counting(server, 1.0, 3.0)
    domains = fixture_domains()[:12]
    live = probe(live_resolver, domains, None)
    small = settings_for(bulk_resolver, batch_domains=3, answers_kept=150)
    assert probe(bulk_resolver, domains, small) == live
    # Evicted answers are asked live again, but most still came from the bulk path.
    assert len(bulk_resolver.asked) < len(live_resolver.asked) / 2


def test_silent_servers_are_time_outs_on_both_paths(server: ZoneServer) -> None:
    # Nothing comes back (dropped, or answered with the wrong id): each path gives up after the
    # resolver's lifetime, and after three time-outs a domain's other questions are not asked.
    live_resolver = counting(server, 0.3, 0.6)
    bulk_resolver = counting(server, 0.3, 0.6)
    live = probe(live_resolver, SILENT_FAULTS, None, names=())
    bulk = probe(bulk_resolver, SILENT_FAULTS, settings_for(bulk_resolver), names=())
    assert bulk == live
    reasons = [item.reason for item in live if isinstance(item, Gap)]
    assert any("timeout: no answer within 0.6s" in r for r in reasons)
    assert any(r.startswith("not asked: 3 look-ups") for r in reasons)
    # A time-out is kept, not waited for twice; garbage is not an answer the bulk path can take,
    # so that one question (the SOA: the domain goes no further) is asked live again.
    assert bulk_resolver.asked == [("garbage.hostile.example.", "6")]


def test_a_domain_that_does_not_exist_is_one_gap(server: ZoneServer) -> None:
    # A typo in the inventory must not drop the domain silently: the report lists it, once,
    # by the bulk path as by the live one, and the scan is partial.
    gap = Gap(
        "dns:lying.hostile.example",
        "the domain does not exist (NXDOMAIN); check its name in the inventory or domains file",
    )
    for bulk in (True, False):
        resolver = make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)
        items = probe(resolver, ["lying.hostile.example"], settings_for(resolver) if bulk else None)
        assert items == [gap]


def test_a_mixed_case_name_is_asked_live(server: ZoneServer) -> None:
    # The bulk path asks in lowercase; the server echoes the case it was asked in, and the
    # evidence quotes it: a name asked in another case goes live so the evidence is the same.
    resolver = counting(server, 1.0, 3.0)
    live = probe(resolver, ["m365.example"], None, names=("LMS",))
    resolver.asked = []
    bulk = probe(resolver, ["m365.example"], settings_for(resolver), names=("LMS",))
    assert bulk == live
    assert {q[0] for q in resolver.asked} == {"LMS.m365.example."}


# --- one response -----------------------------------------------------------------------------


def _response(name: str, rdtype: str, rcode: int = dns.rcode.NOERROR) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if rcode == dns.rcode.NOERROR:
        response.answer.append(dns.rrset.from_text(name + ".", 300, "IN", rdtype, "192.0.2.1"))
    return response


def ordered(found: Lookup) -> tuple[Any, ...]:
    return tuple(sorted(found.records, key=str))


@pytest.mark.parametrize(
    ("name", "rdtype", "outcome"),
    [
        ("m365.example", "MX", "answer"),
        ("m365.example", "CAA", "answer"),
        ("autodiscover.m365.example", "A", "answer"),  # a CNAME chain into outlook.com
        ("_sip._tls.m365.example", "SRV", "answer"),
        ("m365.example", "AAAA", "nodata"),
        ("nosuch.m365.example", "A", "nxdomain"),
    ],
)
def test_a_clean_response_gives_the_live_lookup(
    server: ZoneServer, name: str, rdtype: str, outcome: str
) -> None:
    resolver = make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)
    live = lookup(resolver, name, rdtype, lambda: START)
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    answer = dns.query.udp(query, server.host, port=server.port, timeout=3)
    wire = answer.to_wire()
    code = int(dns.rdatatype.from_text(rdtype))
    status = "answer" if answer.answer else ("nxdomain" if answer.rcode() else "nodata")
    result = Result(name, code, status, answer.rcode(), (), wire=wire)  # type: ignore[arg-type]
    # Through answer_part, as a scan goes: by dnspython, and by the plain path with a memo.
    for memo in (None, RdataMemo()):
        made = lookup_from_result(result, rdtype, 3.0, START, memo=memo)
        assert made is not None
        # The server rotates records (as real ones do); the evidence text sorts them, and so here.
        assert replace(made, records=ordered(made)) == replace(live, records=ordered(live))
    assert live.outcome == outcome


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda m: setattr(m, "flags", m.flags & ~dns.flags.QR), "a query, not a response"),
        (lambda m: m.set_rcode(dns.rcode.SERVFAIL), "SERVFAIL: dnspython tries elsewhere"),
        (lambda m: m.set_rcode(dns.rcode.REFUSED), "REFUSED"),
        (lambda m: m.set_rcode(dns.rcode.YXDOMAIN), "YXDOMAIN raises in dnspython"),
        (lambda m: setattr(m, "flags", m.flags | dns.flags.TC), "truncated: asked again over TCP"),
        (lambda m: m.question.clear(), "no question"),
    ],
)
def test_a_response_the_resolver_would_not_take_is_left_to_the_live_path(
    change: Any, why: str
) -> None:
    response = _response("www.example.org", "A")
    change(response)
    assert lookup_from_wire("www.example.org", "A", response.to_wire(), START) is None, why
    if response.question:
        wire = answer_part(response.to_wire())
        assert wire is not None
        assert plain_lookup("www.example.org", "A", wire, START, RdataMemo()) is None, why


def test_another_question_or_class_is_left_to_the_live_path() -> None:
    wire = _response("www.example.org", "A").to_wire()
    assert lookup_from_wire("www.example.org", "A", wire, START) is not None
    assert lookup_from_wire("mail.example.org", "A", wire, START) is None
    assert lookup_from_wire("www.example.org", "AAAA", wire, START) is None
    chaos = dns.message.make_response(dns.message.make_query("www.example.org", "A", "CH"))
    assert lookup_from_wire("www.example.org", "A", chaos.to_wire(), START) is None
    assert lookup_from_wire("www.example.org", "A", b"\x00\x01garbage", START) is None


def test_cname_loops_and_long_chains_give_the_live_gaps(server: ZoneServer) -> None:
    # dnspython's resolver gives up on the loop; the live path then reads the same response
    # itself, and the bulk path reads it directly: the same gaps, nothing asked live again.
    live_resolver = counting(server, 1.0, 3.0)
    bulk_resolver = counting(server, 1.0, 3.0)
    names = ("loop", "long", "short")
    live = probe(live_resolver, ["faults.example"], None, names)
    bulk = probe(bulk_resolver, ["faults.example"], settings_for(bulk_resolver), names)
    assert bulk == live
    reasons = {item.scope: item.reason for item in live if isinstance(item, Gap)}
    assert reasons["dns:loop.faults.example:A"].startswith("CNAME loop: loop.faults.example")
    assert reasons["dns:long.faults.example:A"] == "CNAME chain longer than 8 names"
    assert not [q for q in bulk_resolver.asked if "loop" in q[0] or "long" in q[0]]


def test_an_nxdomain_with_an_answer_is_left_to_the_live_path() -> None:
    response = _response("www.example.org", "A")
    response.set_rcode(dns.rcode.NXDOMAIN)  # yet the answer is there: dnspython refuses it
    assert lookup_from_wire("www.example.org", "A", response.to_wire(), START) is None
    empty = _response("www.example.org", "A", dns.rcode.NXDOMAIN)
    found = lookup_from_wire("www.example.org", "A", empty.to_wire(), START)
    assert found is not None and found.outcome == "nxdomain"


def test_time_outs_are_kept_and_errors_are_not() -> None:
    def result(status: str, rcode: int = 0, **kw: Any) -> Result:
        return Result("www.example.org", 1, status, rcode, (), **kw)  # type: ignore[arg-type]

    timed_out = lookup_from_result(result("timeout", -1), "A", 5.0, START)
    assert timed_out is not None and timed_out.timed_out and timed_out.failed
    assert timed_out.reason == "timeout: no answer within 5s"
    assert lookup_from_result(result("error", 2, reason="rcode 2"), "A", 5.0, START) is None
    wire = _response("www.example.org", "A").to_wire()
    udp = result("answer", wire=wire)
    assert lookup_from_result(udp, "A", 5.0, START) is not None
    # The whole answer fetched over TCP after a truncated one reads as the same answer; a
    # response still truncated is left to the live path.
    tcp = result("answer", via_tcp=True, wire=wire)
    assert lookup_from_result(tcp, "A", 5.0, START) == lookup_from_result(udp, "A", 5.0, START)
    truncated = _response("www.example.org", "A")
    truncated.flags |= dns.flags.TC
    cut = result("answer", via_tcp=True, wire=truncated.to_wire())
    assert lookup_from_result(cut, "A", 5.0, START, memo=RdataMemo()) is None
    # Without answers dnspython is not needed; the header checks still hold.
    for rcode, outcome in ((dns.rcode.NOERROR, "nodata"), (dns.rcode.NXDOMAIN, "nxdomain")):
        empty = dns.message.make_response(dns.message.make_query("www.example.org", "A"))
        empty.flags |= dns.flags.AA  # authoritative: a NODATA (test_referrals_... for others)
        empty.set_rcode(rcode)
        negative = lookup_from_result(result("nodata", rcode, wire=empty.to_wire()), "A", 5, START)
        assert negative is not None and negative.outcome == outcome
        assert negative == lookup_from_wire("www.example.org", "A", empty.to_wire(), START)
        empty.flags &= ~dns.flags.QR
        assert (
            lookup_from_result(result("nodata", rcode, wire=empty.to_wire()), "A", 5, START) is None
        )
    chaos = dns.message.make_response(dns.message.make_query("www.example.org", "A", "CH"))
    assert lookup_from_result(result("nodata", wire=chaos.to_wire()), "A", 5.0, START) is None
    # With several servers the live path would try the next one: a time-out is asked live.
    assert lookup_from_result(result("timeout", -1), "A", 5.0, START, keep_timeouts=False) is None
    # BADVERS (16) has NOERROR's low bits in the header: the full rcode decides.
    assert lookup_from_result(result("answer", 16, wire=wire), "A", 5.0, START) is None


def test_the_answer_part_reads_as_the_whole_message() -> None:
    # An authoritative answer as NSD writes it: name servers in authority, glue in additional.
    response = _response("www.example.org", "A")
    response.use_edns(0, 0, 1232)
    response.authority.append(
        dns.rrset.from_text("example.org.", 300, "IN", "NS", "ns1.example.org.")
    )
    response.additional.append(
        dns.rrset.from_text("ns1.example.org.", 300, "IN", "A", "192.0.2.53")
    )
    wire = response.to_wire()
    part = answer_part(wire)
    assert part is not None and len(part) < len(wire)
    cut = dns.message.from_wire(part)
    assert (cut.authority, cut.additional, cut.answer) == ([], [], response.answer)
    whole = lookup_from_wire("www.example.org", "A", wire, START)
    assert whole is not None and lookup_from_wire("www.example.org", "A", part, START) == whole
    assert answer_part(wire[:20]) is None  # cut inside the question
    assert answer_part(wire[: len(part) - 1]) is None  # cut inside the answer
    # EDNS options dnspython would read (and may refuse): the whole response goes live.
    response.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(65001, b"x")])
    assert answer_part(response.to_wire()) is None


# --- settings -----------------------------------------------------------------------------------


def test_settings_follow_the_resolver() -> None:
    resolver = make_resolver("127.0.0.1", 5353, timeout=1.0, lifetime=4.0)
    assert bulk_settings(resolver, 128) == BulkSettings("127.0.0.1", 5353, 4.0, 1232, 128)
    resolver.use_edns(-1)
    plain = bulk_settings(resolver, 128)
    assert plain is not None and plain.edns_payload == 0
    assert bulk_settings(resolver, 0) is None  # limits.dns_in_flight = 0 turns the path off
    resolver.nameservers = ["127.0.0.1", "127.0.0.2"]
    several = bulk_settings(resolver, 128)
    assert several is not None and several.server == "127.0.0.1" and not several.keep_timeouts


def test_time_outs_are_forgotten_after_their_batch() -> None:
    settings = BulkSettings("127.0.0.1", 5353, 1.0, 0, 8)
    prefetcher = Prefetcher(settings, lambda: START)
    answered = Lookup("a.example", "A", "nodata", (), (), "a.example A: NODATA", START)
    timed_out = Lookup("b.example", "A", "error", (), (), "timeout", START, "timeout", True)
    prefetcher._keep(("a.example", "A"), answered)
    prefetcher._keep(("b.example", "A"), timed_out)
    prefetcher.forget_timeouts()
    assert prefetcher.known("a.example", "A") == answered
    assert prefetcher.known("b.example", "A") is None


@pytest.mark.parametrize(
    "change",
    [
        lambda r: setattr(r, "nameservers", ["https://dns.example/dns-query"]),
        lambda r: setattr(r, "nameservers", []),
        lambda r: setattr(r, "flags", dns.flags.RD | dns.flags.CD),
        lambda r: r.use_edns(0, dns.flags.DO, 1232),
        lambda r: r.use_edns(0, 0, 0),  # dnspython still sends OPT; the codec would not
        lambda r: setattr(r, "nameserver_ports", {"127.0.0.1": 5354}),
        lambda r: r.use_tsig({dns.name.from_text("k."): b"secret"}),
    ],
)
def test_settings_the_bulk_path_cannot_copy_keep_the_live_path(change: Any) -> None:
    resolver = make_resolver("127.0.0.1", 5353)
    change(resolver)
    assert bulk_settings(resolver, 128) is None


def test_a_config_can_turn_the_bulk_path_off(tmp_path: Path) -> None:
    path = tmp_path / "inventory.toml"
    head = '[institution]\nname = "X"\nhome = "CA"\n[limits]\n'
    path.write_text(head)
    assert load_config(path).limits.dns_in_flight == 256
    path.write_text(head + "dns_in_flight = 0\n")
    assert load_config(path).limits.dns_in_flight == 0
    path.write_text(head + "dns_in_flight = 5000\n")
    with pytest.raises(ConfigError, match=r"limits\.dns_in_flight: expected a whole number from 0"):
        load_config(path)
