"""The seeded synthetic DNS estate of issue 8 (its research note §1.1): zones, queries, truth."""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROVIDER_ZONE = "prov.test"
SUFFIX = "bench.test"
MIX = ("A", "AAAA", "MX", "NS", "TXT")
"""Apex types; then `www.<domain>` A (the CNAME chain and its address) and `_dmarc.<domain>` TXT."""
QUERIES_PER_DOMAIN = 7

_V4 = [
    ipaddress.ip_network(p)
    for p in (
        "3.120.0.0/14",
        "52.28.0.0/16",
        "34.64.0.0/10",
        "104.16.0.0/13",
        "51.68.0.0/16",
        "5.9.0.0/16",
        "185.199.108.0/22",
        "20.33.0.0/16",
        "13.32.0.0/15",
    )
]
_MX = (
    ((1, "aspmx.l.google-like.prov.test"), (5, "alt1.aspmx.l.google-like.prov.test")),
    ((0, "{dash}.mail.protection.outlook-like.prov.test"),),
    ((1, "mx1.mail.ovh-like.prov.test"), (5, "mx2.mail.ovh-like.prov.test")),
    ((10, "mx.yandex-like.prov.test"),),
    ((10, "mx00.ionos-like.prov.test"), (10, "mx01.ionos-like.prov.test")),
    ((10, "smtp.{domain}"),),
)
_SPF = (
    "v=spf1 include:_spf.google-like.prov.test ~all",
    "v=spf1 include:spf.protection.outlook-like.prov.test -all",
    "v=spf1 mx include:mx.ovh-like.prov.test ~all",
    "v=spf1 ip4:{a} -all",
)
_CDNS = ("cdn1-like", "cdn2-like", "cdn3-like", "cdn4-like")


@dataclass(frozen=True, slots=True)
class Estate:
    """What the generator wrote: counts and where."""

    domains: int
    records: int
    provider_names: int
    zones_dir: Path
    queries: Path  # "name TYPE" per line, the 7-query mix
    truth: Path  # "name TYPE canonical" per line


def domain_name(i: int) -> str:
    return f"acme{i:06d}.{SUFFIX}"


def questions(n: int) -> Iterator[tuple[str, str]]:
    """The query mix for the first `n` domains, in the order every contender asks it."""
    for i in range(n):
        d = domain_name(i)
        for t in MIX:
            yield d, t
        yield f"www.{d}", "A"
        yield f"_dmarc.{d}", "TXT"


def canon(values: list[str]) -> str:
    """Every contender's answer in one comparable form: sorted record data, ';'-joined."""
    return ";".join(sorted(set(values)))


def _addr(rng: random.Random) -> str:
    net = _V4[rng.randrange(len(_V4))]
    return str(net.network_address + rng.randrange(net.num_addresses))


def _txt(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate(n: int, root: Path, seed: int = 42) -> Estate:
    """Write one zone file per domain plus the provider zone, the query list and the truth."""
    rng = random.Random(seed)
    zones = root / "zones"
    zones.mkdir(parents=True, exist_ok=True)
    provider: dict[str, list[str]] = {}  # owner -> record lines (relative to nothing: absolute)
    shared_a: dict[str, str] = {}
    records = 0
    truth_lines: list[str] = []
    ns_pools = (
        [f"ns-{k}.awsdns-{k % 64:02d}.prov.test" for k in range(2000)],
        [f"{w}.ns.cloudflare-like.prov.test" for w in ("ada", "bob", "cy", "dee", "eve", "fay")],
        [f"dns{k}.ovh-like.prov.test" for k in range(1, 200)],
        ["hydrogen.ns.hetzner-like.prov.test", "oxygen.ns.hetzner-like.prov.test"],
    )
    zone_list = []
    for i in range(n):
        d = domain_name(i)
        dash = d.replace(".", "-")
        lines = [
            "$TTL 3600",
            f"{d}. SOA ns1.{d}. hostmaster.{d}. 1 3600 600 604800 300",
        ]
        pool = ns_pools[rng.randrange(4)]
        ns_hosts = rng.sample(pool, 2)
        for host in ns_hosts:
            shared_a.setdefault(host, _addr(rng))
            lines.append(f"{d}. NS {host}.")
        a_values = [_addr(rng) for _ in range(rng.choices((1, 2, 3), weights=(2, 2, 3))[0])]
        lines += [f"{d}. A {a}" for a in a_values]
        aaaa_values = []
        if rng.random() < 0.5:
            base = int(ipaddress.IPv6Address("2001:db8::")) + (i << 64)
            aaaa_values = [str(ipaddress.IPv6Address(base + k + 1)) for k in range(2)]
            lines += [f"{d}. AAAA {a}" for a in aaaa_values]
        mx_values = []
        for pref, pattern in _MX[rng.randrange(len(_MX))]:
            host = pattern.format(dash=dash, domain=d)
            mx_values.append(f"{pref} {host}")
            lines.append(f"{d}. MX {pref} {host}.")
            if host.endswith(d):
                lines.append(f"{host}. A {a_values[0]}")
            else:
                shared_a.setdefault(host, _addr(rng))
        txt_values = [_SPF[rng.randrange(4)].format(a=a_values[0])]
        if rng.random() < 0.6:
            token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789_-", k=43))
            txt_values.append(f"google-site-verification={token}")
        lines += [f"{d}. TXT {_txt(t)}" for t in txt_values]
        dmarc_values = []
        if rng.random() < 0.5:
            rua = f"dmarc@{d}" if rng.random() < 0.5 else "reports@dmarc.cdn1-like.prov.test"
            dmarc_values = [f"v=DMARC1; p=quarantine; rua=mailto:{rua}"]
            lines.append(f"_dmarc.{d}. TXT {_txt(dmarc_values[0])}")
        cdn = _CDNS[rng.randrange(4)]
        hops = rng.choices((1, 2, 3), weights=(1, 2, 3))[0]
        chain = [f"{dash}-{k}.{cdn}.prov.test" for k in range(hops - 1)]
        edge = f"edge{rng.randrange(500)}.{cdn}.prov.test"
        edge_addr = shared_a.setdefault(edge, _addr(rng))
        chain.append(edge)
        lines.append(f"www.{d}. CNAME {chain[0]}.")
        for here, there in itertools.pairwise(chain):
            provider.setdefault(here, []).append(f"{here}. CNAME {there}.")
        records += len(lines) - 2
        (zones / f"{d}.zone").write_text("\n".join(lines) + "\n", encoding="utf-8")
        zone_list.append(d)
        truth_lines += [
            f"{d} A {canon(a_values)}",
            f"{d} AAAA {canon(aaaa_values)}",
            f"{d} MX {canon(mx_values)}",
            f"{d} NS {canon(ns_hosts)}",
            f"{d} TXT {canon(txt_values)}",
            f"www.{d} A {canon([*chain, edge_addr])}",
            f"_dmarc.{d} TXT {canon(dmarc_values)}",
        ]
    for host, address in shared_a.items():
        if host.endswith(PROVIDER_ZONE):
            provider.setdefault(host, []).append(f"{host}. A {address}")
    head = [
        "$TTL 3600",
        f"{PROVIDER_ZONE}. SOA ns1.{PROVIDER_ZONE}. h.{PROVIDER_ZONE}. 1 3600 600 604800 60",
        f"{PROVIDER_ZONE}. NS ns1.{PROVIDER_ZONE}.",
        f"ns1.{PROVIDER_ZONE}. A 192.0.2.53",
    ]
    body = [line for owner in provider.values() for line in owner]
    (zones / f"{PROVIDER_ZONE}.zone").write_text("\n".join(head + body) + "\n", encoding="utf-8")
    zone_list.append(PROVIDER_ZONE)
    with (root / "zones.conf").open("w", encoding="utf-8") as out:
        for zone in zone_list:
            out.write(f'zone:\n  name: "{zone}"\n  zonefile: "{zones}/{zone}.zone"\n')
    queries = root / "queries.txt"
    queries.write_text("".join(f"{q} {t}\n" for q, t in questions(n)), encoding="utf-8")
    truth = root / "truth.txt"
    truth.write_text("\n".join(truth_lines) + "\n", encoding="utf-8")
    return Estate(n, records + len(body), len(provider), zones, queries, truth)
