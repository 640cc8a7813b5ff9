"""Shared DNS test material: the fixture zones, hostile zones built in code, and server faults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

from sovscan.dnsserver import Fault, load_zones

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
)


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


def code_zones() -> list[dns.zone.Zone]:
    """Zones the faults act on (they must exist for the server to be authoritative)."""
    return [
        hostile_zone(),
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
