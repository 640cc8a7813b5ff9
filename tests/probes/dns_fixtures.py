"""Shared DNS test material: the fixture zones, hostile zones built in code, and server faults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.zone

from sovscan.dnsserver import Fault, ZoneServer, load_zones

ZONES_DIR = Path(__file__).resolve().parent.parent / "data" / "zones"

BIG_TXT_BYTES = 60_000  # a 64 KiB-ish TXT record: it only fits in a TCP answer

# Names the server is told to answer badly; every negative test reads them from here.
FAULTS: Sequence[Fault] = (
    Fault("servfail.example", "servfail"),
    Fault("refused.example", "refused"),
    Fault("timeout.example", "drop"),
    Fault("txtfail.example", "servfail", rdtype="TXT"),
    Fault("dropa.example", "drop", rdtype="A"),
    Fault("garbage.hostile.example", "garbage"),
    Fault("badid.hostile.example", "badid"),
    Fault("tc.hostile.example", "truncate"),
    Fault("lying.hostile.example", "nxdomain"),
    Fault("slow.hostile.example", "slow", delay=0.2),
    Fault("veryslow.hostile.example", "slow", delay=2.0),
    Fault("mx0b-00000000.pphosted.com", "servfail", rdtype="AAAA"),
    # The server stops chasing a CNAME at a faulted name: the client must ask the end itself.
    Fault("tcp-only.example", "truncate"),
)

# CNAMEs whose end the server does not give in its answer (see `alias_zone`).
UNSERVED_TARGET = "foo.provider.example"  # no zone holds provider.example: REFUSED
DANGLING_TARGET = "gone.parked.example"  # parked.example is held, the name is not: NXDOMAIN


def _simple_zone(origin: str, records: str) -> dns.zone.Zone:
    text = (
        "$TTL 300\n"
        f"@ SOA ns1.{origin}. hostmaster.{origin}. 1 3600 600 604800 300\n"
        f"@ NS ns1.{origin}.\n"
        "ns1 A 192.0.2.53\n" + records
    )
    return dns.zone.from_text(text, origin=origin, relativize=True)


def _txt(strings: Sequence[bytes]) -> dns.rdata.Rdata:
    # Built from wire pieces so any byte (NUL, invalid UTF-8) can be placed in a record.
    wire = b"".join(bytes([len(s)]) + s for s in strings)
    return dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, wire, 0, len(wire))


def hostile_zone() -> dns.zone.Zone:
    """``hostile.example``: a 60 KB TXT record, NUL and control bytes, invalid UTF-8."""
    zone = _simple_zone(
        "hostile.example",
        'www A 192.0.2.66\ngarbage A 192.0.2.67\nbadid A 192.0.2.68\ntc TXT "tcp only"\n'
        "slow A 192.0.2.69\nveryslow A 192.0.2.70\nlying A 192.0.2.71\n",
    )
    chunk = b"x" * 255
    big = [chunk] * (BIG_TXT_BYTES // 255)
    rdataset = zone.find_rdataset("@", dns.rdatatype.TXT, create=True)
    rdataset.update_ttl(300)
    for rdata in (
        _txt(big),
        _txt([b"evil-verification=abc\x00def\x1b[31mred"]),
        _txt([b"bad-utf8-verification=\xff\xfe\xc3\x28zz"]),
        _txt([b"v=spf1 include:spf.hostile.example\x07 -all"]),
    ):
        rdataset.add(rdata)
    return zone


def alias_zone() -> dns.zone.Zone:
    """``alias.example``: aliases into zones the server does not hold, or holds in part.

    As an authoritative-only server given as --nameserver answers: `www` and the DKIM selector
    lead into a zone it refuses; `mail` to a name that does not exist (a dangling alias); `sip`
    to a name that fails; `autodiscover` to a name it holds but does not chase into (the fault
    stops it), so the client asks the end and gets its address over TCP.
    """
    return _simple_zone(
        "alias.example",
        f"www CNAME {UNSERVED_TARGET}.\n"
        f"mail CNAME {DANGLING_TARGET}.\n"
        "sip CNAME sip.servfail.example.\n"
        "autodiscover CNAME edge.tcp-only.example.\n"
        "selector1._domainkey CNAME selector1-alias._domainkey.provider.example.\n",
    )


LAME_DOMAIN = "lame.delegating.example"  # delegated away by a zone the server holds: referrals
REFERRAL_SERVERS = "ns1.elsewhere.example, ns2.elsewhere.example"


def delegating_zone() -> dns.zone.Zone:
    """``delegating.example``: a zone with delegations (zone cuts), as a parent zone has them.

    The server holds the parent only, so it answers questions at or below a cut with a
    referral, as NSD and BIND do: `lame` (an inventory domain the server points away from: a
    lame delegation when the server is given as --nameserver), `_dmarc` (one name of the domain
    delegated to a vendor), and `child` with glue, into which `www` is an alias.
    """
    return _simple_zone(
        "delegating.example",
        "@ MX 10 mail.delegating.example.\n"
        "mail A 192.0.2.25\n"
        "lame NS ns1.elsewhere.example.\n"
        "lame NS ns2.elsewhere.example.\n"
        "_dmarc NS ns1.elsewhere.example.\n"
        "child NS ns1.child.delegating.example.\n"
        "ns1.child A 192.0.2.90\n"
        "www CNAME www.child.delegating.example.\n",
    )


def code_zones() -> list[dns.zone.Zone]:
    """Zones the faults act on (they must exist for the server to be authoritative)."""
    return [
        hostile_zone(),
        alias_zone(),
        delegating_zone(),
        _simple_zone("parked.example", ""),
        _simple_zone("tcp-only.example", "edge A 192.0.2.80\n"),
        _simple_zone("servfail.example", "@ MX 10 mx.servfail.example.\nmx A 192.0.2.1\n"),
        _simple_zone("refused.example", ""),
        _simple_zone("timeout.example", ""),
        _simple_zone("dropa.example", "@ MX 10 mx.dropa.example.\nmx A 192.0.2.3\n"),
        _simple_zone(
            "txtfail.example",
            '@ MX 10 mx.txtfail.example.\nmx A 192.0.2.2\n@ TXT "MS=ms99990000"\n',
        ),
    ]


def all_zones() -> list[dns.zone.Zone]:
    """Every fixture zone: the files in tests/data/zones and the ones built in code."""
    return [*load_zones(ZONES_DIR), *code_zones()]


class CountingResolver(dns.resolver.Resolver):
    """A real dnspython resolver that counts the questions it is asked (the live path's)."""

    asked: list[tuple[str, str]]

    def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
        self.asked.append((str(qname), str(rdtype)))
        return super().resolve(qname, rdtype, *args, **kwargs)


def counting(server: ZoneServer, timeout: float, lifetime: float) -> CountingResolver:
    resolver = CountingResolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    resolver.use_edns(0, 0, 1232)
    resolver.asked = []
    return resolver
