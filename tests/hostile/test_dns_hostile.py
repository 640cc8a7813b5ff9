"""The DNS probe on a hostile loopback server: bounded time, a Gap with its reason, no crash."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from functools import cache

import dns.flags
import dns.message
import dns.rcode
import pytest

from sovscan.dnsserver import make_resolver
from sovscan.engine import default_rules_dir, load_rules
from sovscan.model import Asset, Gap, Policy
from sovscan.probes.dns import MAX_TXT_BYTES, DnsProbe
from sovscan.probes.dnslookup import MAX_CNAME_CHAIN, MAX_RECORDS
from sovscan.probes.spf import MAX_LOOKUPS
from sovscan.report import REPORTERS
from sovscan.resolve import load_knowledge
from sovscan.scan import assess
from tests.hostile.servers import Behaviour, HostileDnsServer, HostileZone, Reply, txt, txt_rdata

DOMAIN = "victim.example"
TIMEOUT, LIFETIME = 0.3, 0.6
SOA_GAP = "dns:victim.example"


def zone() -> HostileZone:
    z = HostileZone((DOMAIN,))
    z.add(DOMAIN, "SOA", f"ns1.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 604800 60")
    z.add(DOMAIN, "NS", f"ns1.{DOMAIN}.")
    z.add(f"ns1.{DOMAIN}", "A", "192.0.2.53")
    z.add(DOMAIN, "MX", f"10 mx.{DOMAIN}.")
    z.add(f"mx.{DOMAIN}", "A", "192.0.2.25")
    z.add(DOMAIN, "TXT", '"v=spf1 -all"')
    z.add(f"www.{DOMAIN}", "A", "192.0.2.80")
    return z


def probe(
    z: HostileZone, behaviour: Behaviour | None = None
) -> tuple[list[Asset], list[Gap], float, HostileDnsServer]:
    with HostileDnsServer(z, behaviour) as server:
        resolver = make_resolver(server.host, server.port, timeout=TIMEOUT, lifetime=LIFETIME)
        started = time.monotonic()
        items = list(DnsProbe([DOMAIN], [], resolver).collect())
        elapsed = time.monotonic() - started
    assets = [i for i in items if isinstance(i, Asset)]
    gaps = [i for i in items if isinstance(i, Gap)]
    return assets, gaps, elapsed, server


def rcode(code: dns.rcode.Rcode) -> Behaviour:
    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply:
        response = dns.message.make_response(query)
        response.set_rcode(code)
        return Reply(response.to_wire())

    return behaviour


def only(rdtype: str | None, name: str | None, action: Callable[..., Reply]) -> Behaviour:
    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply | None:
        question = query.question[0]
        if rdtype is not None and dns.rdatatype.to_text(question.rdtype) != rdtype:
            return None
        if name is not None and question.name.to_text().lower() != name:
            return None
        return action(query, raw, tcp)

    return behaviour


@cache
def baseline() -> frozenset[str]:
    """The asset ids of the well-behaved zone: what a fault that is absorbed must still give."""
    assets, gaps, _elapsed, _server = probe(zone())
    assert gaps == []
    return frozenset(a.id for a in assets)


def test_a_well_behaved_zone_has_no_gaps() -> None:
    assets, gaps, elapsed, _ = probe(zone())
    assert gaps == []
    assert {a.kind for a in assets} >= {"dns.soa", "dns.ns", "dns.mx", "dns.spf", "dns.host"}
    assert elapsed < 3


@pytest.mark.parametrize(
    ("code", "reason"),
    [(dns.rcode.SERVFAIL, "SERVFAIL"), (dns.rcode.REFUSED, "REFUSED")],
)
def test_servfail_and_refused_are_a_gap_for_the_domain(code: dns.rcode.Rcode, reason: str) -> None:
    assets, gaps, elapsed, server = probe(zone(), rcode(code))
    assert assets == []
    assert gaps == [Gap(SOA_GAP, f"SOA: {reason}; the domain was not probed further")]
    assert len(server.queries) <= 2 and elapsed < 1


def test_nxdomain_for_the_domain_is_one_gap_and_no_asset() -> None:
    assets, gaps, _elapsed, _ = probe(zone(), rcode(dns.rcode.NXDOMAIN))
    assert assets == []
    assert [g.reason for g in gaps] == [
        "the domain does not exist (NXDOMAIN); check its name in the inventory or domains file"
    ]


@pytest.mark.parametrize(
    "name",
    ["drop", "garbage", "mismatched-id", "empty-datagram", "short-header"],
)
def test_a_server_that_never_answers_usefully_costs_one_lifetime(name: str) -> None:
    def mismatched(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply:
        wire = bytearray(zone().answer(query).to_wire())
        wire[0] ^= 0xFF
        return Reply(bytes(wire))

    behaviours: dict[str, Behaviour] = {
        "drop": lambda q, r, t: Reply(None),
        "garbage": lambda q, r, t: Reply(r[:2] + b"\xff" * 40),
        "mismatched-id": mismatched,
        "empty-datagram": lambda q, r, t: Reply(b""),
        "short-header": lambda q, r, t: Reply(r[:5]),
    }
    assets, gaps, elapsed, _ = probe(zone(), behaviours[name])
    assert assets == []
    assert gaps == [
        Gap(
            SOA_GAP,
            f"SOA: timeout: no answer within {LIFETIME:g}s; the domain was not probed further",
        )
    ]
    assert elapsed < LIFETIME + 1.0


def test_a_server_that_stops_answering_midway_is_bounded_per_domain() -> None:
    # SOA answers, then nothing does: three timeouts, then the rest is not asked at all.
    behaviour = only(None, None, lambda q, r, t: Reply(None))
    soa_ok: Behaviour = lambda q, r, t: (  # noqa: E731
        None if dns.rdatatype.to_text(q.question[0].rdtype) == "SOA" else behaviour(q, r, t)
    )
    assets, gaps, elapsed, _ = probe(zone(), soa_ok)
    assert [a.kind for a in assets] == ["dns.soa"]
    assert len([g for g in gaps if g.reason.startswith("timeout")]) == 3
    assert all(g.reason.startswith(("timeout", "not asked")) for g in gaps)
    assert elapsed < 3 * LIFETIME + 1.5


def test_slow_answers_within_the_timeout_resolve_everything() -> None:
    delay = 0.05
    behaviour: Behaviour = lambda q, r, t: Reply(zone().answer(q).to_wire(), delay=delay)  # noqa: E731
    assets, gaps, elapsed, server = probe(zone(), behaviour)
    assert gaps == []
    assert {a.id for a in assets} == baseline()
    assert elapsed < len(server.queries) * delay + 2


def test_one_slow_name_beyond_the_timeout_is_one_gap() -> None:
    slow = only("TXT", f"_dmarc.{DOMAIN}.", lambda q, r, t: Reply(None))
    assets, gaps, _elapsed, _ = probe(zone(), slow)
    assert gaps == [Gap(f"dns:_dmarc.{DOMAIN}:TXT", f"timeout: no answer within {LIFETIME:g}s")]
    assert {a.id for a in assets} == baseline()


def test_truncated_udp_answers_are_retried_over_tcp() -> None:
    def truncate(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply | None:
        if tcp:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.TC
        return Reply(response.to_wire())

    assets, gaps, _elapsed, server = probe(zone(), truncate)
    assert gaps == []
    assert {a.id for a in assets} == baseline()
    assert sum(tcp for _n, _t, tcp in server.queries) == len(server.queries) // 2


def test_an_oversized_spf_record_is_read_bounded() -> None:
    z = zone()
    z.records.pop((DOMAIN + ".", "TXT"))
    z.add(DOMAIN, "TXT", txt("v=spf1 " + "ip4:192.0.2.1 " * 4000 + "-all"))  # 56 KB
    assets, gaps, _elapsed, server = probe(z)
    # Cut, so what lies past the cut (here "-all", elsewhere an include of a foreign sender)
    # was not judged: a gap, not a domain seen whole.
    assert gaps == [
        Gap(
            f"dns:{DOMAIN}:TXT",
            f"a TXT record of 56011 bytes; only the first {MAX_TXT_BYTES} were read: the rest "
            "was not judged",
        )
    ]
    (spf,) = [a for a in assets if a.kind == "dns.spf"]
    assert len(str(spf.attributes["text"])) <= 512
    for asset in assets:
        for evidence in asset.evidence:
            assert len(evidence.detail) <= 512
    assert any(tcp for _n, _t, tcp in server.queries)  # 56 KB only fits a TCP answer


def test_a_flood_of_mx_records_is_capped() -> None:
    z = zone()
    z.add(DOMAIN, "MX", *[f"{i} mx{i}.{DOMAIN}." for i in range(300)])
    assets, gaps, elapsed, _ = probe(z)
    assert len([a for a in assets if a.kind == "dns.mx"]) <= MAX_RECORDS
    assert elapsed < 30
    # The records past the cap were never judged (a foreign mail host among them): the
    # domain is partial, not complete.
    assert Gap(f"dns:{DOMAIN}:MX", UNREAD.format(n=301)) in gaps


def test_a_cname_loop_is_a_gap_naming_the_loop() -> None:
    z = zone()
    z.records.pop((f"www.{DOMAIN}.", "A"))
    z.add(f"www.{DOMAIN}", "CNAME", f"a.{DOMAIN}.")
    z.add(f"a.{DOMAIN}", "CNAME", f"b.{DOMAIN}.")
    z.add(f"b.{DOMAIN}", "CNAME", f"a.{DOMAIN}.")
    _assets, gaps, elapsed, _ = probe(z)
    loop = f"CNAME loop: www.{DOMAIN} -> a.{DOMAIN} -> b.{DOMAIN} -> a.{DOMAIN}"
    assert Gap(f"dns:www.{DOMAIN}:A", loop) in gaps
    assert elapsed < 3


def test_a_long_cname_chain_is_a_gap() -> None:
    z = zone()
    z.records.pop((f"www.{DOMAIN}.", "A"))
    z.add(f"www.{DOMAIN}", "CNAME", f"c0.{DOMAIN}.")
    for i in range(30):
        z.add(f"c{i}.{DOMAIN}", "CNAME", f"c{i + 1}.{DOMAIN}.")
    z.add(f"c30.{DOMAIN}", "A", "192.0.2.1")
    _assets, gaps, _elapsed, _ = probe(z)
    reason = f"CNAME chain longer than {MAX_CNAME_CHAIN} names"
    assert Gap(f"dns:www.{DOMAIN}:A", reason) in gaps


def test_an_spf_include_bomb_stops_at_ten_lookups() -> None:
    z = zone()
    z.records.pop((DOMAIN + ".", "TXT"))
    z.add(DOMAIN, "TXT", txt("v=spf1 " + " ".join(f"include:i{i}.{DOMAIN}" for i in range(10))))
    for i in range(10):
        z.add(
            f"i{i}.{DOMAIN}",
            "TXT",
            txt("v=spf1 " + " ".join(f"include:k{k}.{DOMAIN}" for k in range(10))),
        )
    for k in range(10):
        z.add(f"k{k}.{DOMAIN}", "TXT", '"v=spf1 ip4:192.0.2.0/24 -all"')
    assets, gaps, _elapsed, server = probe(z)
    reason = (
        "SPF needs more than 10 DNS look-ups (RFC 7208 section 4.6.4: permerror); expansion stopped"
    )
    assert Gap(f"dns:{DOMAIN}:SPF", reason) in gaps
    include_queries = [n for n, t, _ in server.queries if re.match(r"^[ik]\d\.victim", n)]
    assert len(set(include_queries)) <= MAX_LOOKUPS
    (spf,) = [a for a in assets if a.kind == "dns.spf"]
    assert spf.attributes["spf_lookups"] == MAX_LOOKUPS + 1


def test_an_spf_redirect_loop_is_named() -> None:
    z = zone()
    z.records.pop((DOMAIN + ".", "TXT"))
    z.add(DOMAIN, "TXT", f'"v=spf1 redirect=r1.{DOMAIN}"')
    z.add(f"r1.{DOMAIN}", "TXT", f'"v=spf1 redirect={DOMAIN}"')
    _assets, gaps, _elapsed, _ = probe(z)
    assert gaps == [
        Gap(f"dns:{DOMAIN}:SPF", f"SPF include loop: {DOMAIN} -> r1.{DOMAIN} -> {DOMAIN}")
    ]


def test_an_spf_include_that_fails_is_a_gap_with_the_reason() -> None:
    z = zone()
    z.records.pop((DOMAIN + ".", "TXT"))
    z.add(DOMAIN, "TXT", f'"v=spf1 include:broken.{DOMAIN} -all"')
    assets, gaps, _elapsed, _ = probe(
        z, only("TXT", f"broken.{DOMAIN}.", rcode(dns.rcode.SERVFAIL))
    )
    assert (
        Gap(f"dns:{DOMAIN}:SPF", f"SPF include:broken.{DOMAIN} could not be looked up: SERVFAIL")
        in gaps
    )
    assert [a for a in assets if a.kind == "dns.spf"]


RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_bytes_nul_and_invalid_utf8_are_inert_end_to_end() -> None:
    z = zone()
    z.add(DOMAIN, "TXT", txt_rdata(b"evil-verification=\x00\x1b[31m\xff\xfe\xe2\x80\xae<script>"))
    z.add(DOMAIN, "MX", "20 \\000\\027evil\\255.victim.example.")
    z.add(f"\\000\\027evil\\255.{DOMAIN}", "A", "192.0.2.99")
    assets, gaps, _elapsed, _ = probe(z)
    assert gaps == []
    token = next(a for a in assets if a.kind == "dns.txt")
    assert "\x00" in str(token.attributes["text"])  # kept as seen; each report escapes it
    for asset in assets:
        assert RAW.search(asset.id) is None, asset.id  # ids are keys in stores and filenames
        assert RAW.search(asset.name) is None, asset.name
        json.dumps(asset.id).encode("utf-8")

    policy = Policy("U", "CA-QC", ("CA-QC",), ("CA-QC", "CA"), "personal")
    now = dns_time()
    scan = assess(policy, assets, gaps, load_knowledge(), load_rules(default_rules_dir()),
                  started=now, finished=now)  # fmt: skip
    table = REPORTERS["table"](scan)
    assert RAW.search(table.replace("\t", "")) is None
    document = json.loads(REPORTERS["json"](scan))
    texts = [a["attributes"].get("text") for a in document["assets"]]
    assert token.attributes["text"] in texts
    for name in REPORTERS:
        REPORTERS[name](scan).encode("utf-8")


def dns_time():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_a_flood_of_txt_tokens_is_capped() -> None:
    z = zone()
    z.add(DOMAIN, "TXT", *[f'"vendor{i}-verification=token{i:06d}"' for i in range(400)])
    assets, gaps, _elapsed, _ = probe(z)
    assert len([a for a in assets if a.kind == "dns.txt"]) <= MAX_RECORDS
    # The SPF record may be among the records not read: "no SPF record" would be a guess.
    (gap,) = [g for g in gaps if g.scope == f"dns:{DOMAIN}:TXT"]
    assert gap.reason.endswith(
        f"only the first {MAX_RECORDS} were read: the others were not judged"
    )


UNREAD = "the answer holds {n} records; only the first 64 were read: the others were not judged"


def test_truncation_then_garbage_over_tcp_is_a_bounded_gap() -> None:
    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply:
        if tcp:
            return Reply(b"\x00\x07garbage")
        response = dns.message.make_response(query)
        response.flags |= dns.flags.TC
        return Reply(response.to_wire())

    assets, gaps, elapsed, _ = probe(zone(), behaviour)
    assert assets == []
    assert len(gaps) == 1 and gaps[0].scope == SOA_GAP
    assert gaps[0].reason.startswith("SOA: ") and "not probed further" in gaps[0].reason
    assert elapsed < LIFETIME + 1.5
