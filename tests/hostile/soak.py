"""Soak: scan many domains against a DNS server that fails a share of queries at random.

Run: ``python -m tests.hostile.soak [--domains 10000] [--fail-share 0.1] [--workers 32]``.
Not collected by pytest. Exits 0 when every domain ended resolved or as a Gap (none lost), the
counts add up, and memory stayed flat; 1 otherwise, with the failed checks on stderr.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import time
from collections import Counter
from multiprocessing.synchronize import Event

import dns.message
import dns.rcode

from sovscan.dnsserver import make_resolver
from sovscan.model import Asset, Gap
from sovscan.probes.dns import DnsProbe
from tests.hostile.servers import HostileDnsServer, HostileZone, Reply

APEX = "soak.example"


def domain(i: int) -> str:
    return f"d{i}.{APEX}"


def build_zone(count: int) -> HostileZone:
    zone = HostileZone((APEX, *(domain(i) for i in range(count))))
    for i in range(count):
        d = domain(i)
        zone.add(d, "SOA", f"ns1.{d}. hostmaster.{d}. 1 3600 600 604800 60")
        zone.add(d, "NS", f"ns1.{d}.")
        zone.add(f"ns1.{d}", "A", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        zone.add(d, "MX", f"10 mx.{d}.")
        zone.add(f"mx.{d}", "A", "192.0.2.25")
        zone.add(d, "TXT", '"v=spf1 -all"')
        zone.add(f"www.{d}", "A", "192.0.2.80")
    return zone


def serve(
    count: int, share: float, seed: int, port_out: multiprocessing.SimpleQueue, stop: Event
) -> None:  # type: ignore[type-arg]
    """The failing server, in its own process so it does not share the probe's GIL."""
    rng = random.Random(seed)

    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply | None:
        if rng.random() >= share:
            return None
        fault = rng.choice(("servfail", "refused", "drop", "garbage"))
        if fault == "drop":
            return Reply(None)
        if fault == "garbage":
            return Reply(raw[:2] + b"\xff" * 20)
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL if fault == "servfail" else dns.rcode.REFUSED)
        return Reply(response.to_wire())

    with HostileDnsServer(build_zone(count), behaviour) as server:
        port_out.put(server.port)
        stop.wait()


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--fail-share", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--max-growth-mib", type=float, default=64.0)
    args = parser.parse_args(argv)

    ports: multiprocessing.SimpleQueue[int] = multiprocessing.SimpleQueue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(args.domains, args.fail_share, args.seed, ports, stop), daemon=True
    )
    server.start()
    port = ports.get()
    resolver = make_resolver("127.0.0.1", port, timeout=0.2, lifetime=0.4)
    resolver.cache = None  # every question reaches the failing server
    names = [domain(i) for i in range(args.domains)]
    probe = DnsProbe(names, [], resolver, workers=args.workers)

    resolved: set[str] = set()
    gapped: set[str] = set()
    gap_reasons: Counter[str] = Counter()
    assets = 0
    samples: list[tuple[int, float]] = []
    started = time.monotonic()
    seen_domains: set[str] = set()
    for item in probe.collect():
        if isinstance(item, Asset):
            assets += 1
            owner = str(item.attributes.get("domain", ""))
            seen_domains.add(owner)
            if item.kind == "dns.soa":
                resolved.add(owner)
        elif isinstance(item, Gap):
            gap_reasons[item.reason.split(":")[0][:40]] += 1
            owner = next((d for d in _owners(item.scope) if d in probe.domains), "")
            gapped.add(owner)
            seen_domains.add(owner)
        done = len(seen_domains)
        if not samples or done - samples[-1][0] >= max(1, args.domains // 10):
            samples.append((done, rss_mib()))
    elapsed = time.monotonic() - started
    stop.set()
    server.join(timeout=5)

    problems = []
    lost = set(names) - resolved - gapped
    if lost:
        problems.append(f"{len(lost)} domains neither resolved nor a Gap, e.g. {sorted(lost)[:3]}")
    if "" in gapped:
        problems.append("a Gap named no domain of the scan")
    complete = len(resolved - gapped)
    partial = len(resolved & gapped)
    unseen = len(gapped - resolved - {""})
    if complete + partial + unseen != args.domains:
        problems.append(f"counts do not add up: {complete}+{partial}+{unseen} != {args.domains}")
    if len(samples) >= 3:
        growth = samples[-1][1] - samples[1][1]
        if growth > args.max_growth_mib:
            problems.append(f"memory grew {growth:.0f} MiB after the first tenth: {samples}")
    print(
        f"{args.domains} domains in {elapsed:.0f}s: {complete} complete, {partial} partial, "
        f"{unseen} not seen (Gap); {assets} assets; gaps by reason {dict(gap_reasons)}; "
        f"RSS MiB by domains done {[(n, round(m)) for n, m in samples]}"
    )
    for problem in problems:
        print(f"soak: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _owners(scope: str) -> list[str]:
    """Candidate inventory domains of a gap scope ``dns:<name>[:TYPE]``: the name's suffixes."""
    name = scope.split(":")[1] if scope.count(":") >= 1 else scope
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


if __name__ == "__main__":
    sys.exit(main())
