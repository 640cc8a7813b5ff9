"""IP workload: bulk look-ups through sovscan's offline index versus pytricia, the oracle.

The bench builds its own index from seeded synthetic prefixes (nested cloud prefixes, a flat
IP→ASN range table: the shapes of the real feeds) with `sovscan.resolve.build`, so the oracle is
built from exactly the same prefixes. Every contender writes its answers (cloud prefix id, ASN)
and the parent requires 100 % agreement with pytricia before any speed figure counts.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Report, check, fail, measure, ratio
from sovscan.resolve.build import AsnRange, Prefix, build_arrays, write_index
from sovscan.resolve.ipindex import load_index

# (addresses, cloud v4, cloud v6, ASN v4, ASN v6, naive sample)
SIZES = {
    "quick": (100_000, 10_000, 2_000, 30_000, 3_000, 20_000),
    "default": (1_000_000, 100_000, 20_000, 300_000, 30_000, 100_000),
    "full": (1_000_000, 100_000, 20_000, 300_000, 30_000, 100_000),
}


def _text(family: int, value: int) -> str:
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def _flat(rng: random.Random, family: int, count: int) -> list[tuple[int, int]]:
    """Non-overlapping (network, length) prefixes: the shape of a flattened IP→ASN table."""
    bits = 32 if family == 4 else 128
    lengths = (16, 18, 20, 22, 23, 24, 24, 24) if family == 4 else (32, 36, 40, 44, 48, 48)
    base = 0 if family == 4 else 0x2000 << 112
    span = 1 << 32 if family == 4 else 1 << 125
    raw = []
    for _ in range(count):
        length = rng.choice(lengths)
        host = bits - length
        raw.append((((base + rng.randrange(span)) >> host) << host, length))
    raw.sort()
    out: list[tuple[int, int]] = []
    end = -1
    for network, length in raw:
        if network > end:
            out.append((network, length))
            end = network + (1 << (bits - length)) - 1
    return out


def _nested(rng: random.Random, family: int, count: int) -> list[tuple[int, int]]:
    """Cloud-like prefixes, a third of them nested inside earlier ones (most specific wins)."""
    bits = 32 if family == 4 else 128
    low, high = (12, 28) if family == 4 else (32, 64)
    base = 0 if family == 4 else 0x2000 << 112
    span = 1 << 32 if family == 4 else 1 << 125
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []
    while len(out) < count:
        if out and rng.random() < 0.33:
            parent, plen = out[rng.randrange(len(out))]
            if plen >= high:
                continue
            length = rng.randint(plen + 1, high)
            offset = rng.randrange(1 << (bits - plen))
            network = parent + ((offset >> (bits - length)) << (bits - length))
        else:
            length = rng.randint(low, high)
            host = bits - length
            network = ((base + rng.randrange(span)) >> host) << host
        if (network, length) not in seen:
            seen.add((network, length))
            out.append((network, length))
    return out


def prepare(workdir: Path, size: str) -> dict[str, Any]:
    """Write the prefixes, the sovscan index built from them and the query addresses."""
    n, c4, c6, a4, a6, _ = SIZES[size]
    rng = random.Random(42)
    started = time.perf_counter()
    clouds = [(4, p, n_) for p, n_ in _nested(rng, 4, c4)] + [
        (6, p, n_) for p, n_ in _nested(rng, 6, c6)
    ]
    asns = [(4, p, n_) for p, n_ in _flat(rng, 4, a4)] + [(6, p, n_) for p, n_ in _flat(rng, 6, a6)]
    prefixes = [
        Prefix(f, net, length, ("bench", f"r{i}", "", "SVC", False, "bench"), 1)
        for i, (f, net, length) in enumerate(clouds)
    ]
    ranges = []
    for j, (f, net, length) in enumerate(asns):
        bits = 32 if f == 4 else 128
        end = net + (1 << (bits - length)) - 1
        ranges.append(AsnRange(f, net, end, 64512 + j, f"AS-{j}"))
    generated = time.perf_counter() - started
    started = time.perf_counter()
    write_index(workdir / "ip-index.npz", build_arrays(prefixes, ranges))
    built = time.perf_counter() - started
    with (workdir / "ip-prefixes.txt").open("w", encoding="utf-8") as out:
        for i, (f, net, length) in enumerate(clouds):
            out.write(f"c {_text(f, net)}/{length} {i + 1}\n")
        for r in ranges:
            bits = 32 if r.family == 4 else 128
            length = bits - (r.end - r.start + 1).bit_length() + 1
            out.write(f"a {_text(r.family, r.start)}/{length} {r.asn}\n")
    every = [*clouds, *asns]
    addresses = []
    for _ in range(n):
        family = 4 if rng.random() < 0.8 else 6
        if rng.random() < 0.8:
            f, net, length = every[rng.randrange(len(every))]
            bits = 32 if f == 4 else 128
            addresses.append(_text(f, net + rng.randrange(1 << (bits - length))))
        elif family == 4:
            addresses.append(_text(4, rng.randrange(1 << 32)))
        else:
            addresses.append(_text(6, (0x2000 << 112) + rng.randrange(1 << 125)))
    (workdir / "ip-addresses.txt").write_text("\n".join(addresses) + "\n", encoding="utf-8")
    return {
        "addresses": n,
        "cloud_prefixes": len(clouds),
        "asn_ranges": len(ranges),
        "generate_s": round(generated, 2),
        "sovscan_index_build_s": round(built, 2),
        "index_file_mb": round((workdir / "ip-index.npz").stat().st_size / 1e6, 2),
    }


def _read_addresses(workdir: Path, limit: int | None) -> list[str]:
    lines = (workdir / "ip-addresses.txt").read_text(encoding="utf-8").split()
    return lines if limit is None else lines[:limit]


def run(contender: str, spec: Mapping[str, Any]) -> dict[str, float]:
    """One timed bulk look-up; answers go to `<workdir>/ip-<contender>.npy` for the gate."""
    workdir = Path(spec["workdir"])
    limit = spec.get("limit")
    addresses = _read_addresses(workdir, limit)
    if contender == "sovscan":
        started = time.perf_counter()
        index = load_index(workdir / "ip-index.npz")
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        _, record, asn = index.lookup_arrays(addresses)
        seconds = time.perf_counter() - started
        # Each synthetic cloud prefix has its own record ("r<i>"), so the record names the prefix.
        to_prefix = np.array([0] + [int(r[1][1:]) + 1 for r in index.records], dtype=np.uint32)
        answers = np.stack([to_prefix[record], asn])
    elif contender == "pytricia":
        import pytricia  # a benchmark-only peer, installed by bench.deps

        started = time.perf_counter()
        tries = {
            ("c", 4): pytricia.PyTricia(32),
            ("c", 6): pytricia.PyTricia(128),
            ("a", 4): pytricia.PyTricia(32),
            ("a", 6): pytricia.PyTricia(128),
        }
        with (workdir / "ip-prefixes.txt").open(encoding="utf-8") as lines:
            for line in lines:
                kind, prefix, value = line.split()
                tries[kind, 6 if ":" in prefix else 4].insert(prefix, int(value))
        load_s = time.perf_counter() - started
        c4, c6, a4, a6 = tries["c", 4], tries["c", 6], tries["a", 4], tries["a", 6]
        clouds: list[int] = []
        asns: list[int] = []
        started = time.perf_counter()
        for ip in addresses:
            if ":" in ip:
                clouds.append(c6.get(ip) or 0)
                asns.append(a6.get(ip) or 0)
            else:
                clouds.append(c4.get(ip) or 0)
                asns.append(a4.get(ip) or 0)
        seconds = time.perf_counter() - started
        answers = np.array([clouds, asns], dtype=np.uint32)
    else:
        load_s, seconds, answers = _naive(workdir, addresses)
    np.save(workdir / f"ip-{contender}.npy", answers)
    return {
        "seconds": seconds,
        "lookups": len(addresses),
        "lookups_per_s": len(addresses) / seconds,
        "us_per_lookup": seconds / len(addresses) * 1e6,
        "load_s": load_s,
    }


def _naive(workdir: Path, addresses: list[str]) -> tuple[float, float, Any]:
    """Longest prefix by probing one dict per prefix length, from the longest down."""
    started = time.perf_counter()
    tables: dict[tuple[str, int], dict[int, dict[int, int]]] = {}
    with (workdir / "ip-prefixes.txt").open(encoding="utf-8") as lines:
        for line in lines:
            kind, prefix, value = line.split()
            text, _, length_text = prefix.partition("/")
            family = 6 if ":" in text else 4
            af = socket.AF_INET6 if family == 6 else socket.AF_INET
            network = int.from_bytes(socket.inet_pton(af, text), "big")
            length = int(length_text)
            bits = 32 if family == 4 else 128
            by_len = tables.setdefault((kind, family), {})
            by_len.setdefault(length, {})[network >> (bits - length)] = int(value)
    order = {key: sorted(t.items(), reverse=True) for key, t in tables.items()}
    load_s = time.perf_counter() - started
    out = np.zeros((2, len(addresses)), dtype=np.uint32)
    started = time.perf_counter()
    for i, ip in enumerate(addresses):
        family = 6 if ":" in ip else 4
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        bits = 32 if family == 4 else 128
        value = int.from_bytes(socket.inet_pton(af, ip), "big")
        for row, kind in enumerate(("c", "a")):
            for length, table in order.get((kind, family), ()):
                hit = table.get(value >> (bits - length))
                if hit is not None:
                    out[row, i] = hit
                    break
    return load_s, time.perf_counter() - started, out


def plan(report: Report, size: str, workdir: Path) -> None:
    """Build the shared data, measure the three contenders, gate on agreement with pytricia."""
    n, *_, sample = SIZES[size]
    print(f"[ip] preparing {n} addresses and synthetic prefixes", flush=True)
    report.setup["ip"] = prepare(workdir, size)
    print(f"  {report.setup['ip']}", flush=True)
    spec = {"workdir": str(workdir)}
    ours = measure(report, "ip", "sovscan", n, spec)
    oracle = measure(report, "ip", "pytricia", n, spec)
    naive = measure(report, "ip", "naive-per-length-dict", sample, {**spec, "limit": sample})
    if not oracle.runs:
        fail(report, ours, "no oracle answers (pytricia failed): speed cannot count")
        return
    truth = np.load(workdir / "ip-pytricia.npy")
    for m, name in ((ours, "sovscan"), (naive, "naive-per-length-dict")):
        path = workdir / f"ip-{name}.npy"
        if not m.runs or not path.exists():
            continue
        got = np.load(path)
        expected = truth[:, : got.shape[1]]
        wrong = int(np.count_nonzero((got != expected).any(axis=0)))
        report.setup.setdefault("ip_disagreements", {})[name] = wrong
        if wrong:
            fail(report, m, f"{wrong} of {got.shape[1]} answers differ from pytricia")
    hits = int(np.count_nonzero(truth[0])), int(np.count_nonzero(truth[1]))
    report.setup["ip"]["oracle_cloud_hits"], report.setup["ip"]["oracle_asn_hits"] = hits
    ratio(report, f"ip {n}: sovscan vs pytricia look-ups/s", ours, oracle, "lookups_per_s",
          higher_is_better=True, target=3.0)  # fmt: skip
    ratio(report, f"ip: sovscan ({n}) vs naive ({sample}) look-ups/s", ours, naive,
          "lookups_per_s", higher_is_better=True)  # fmt: skip
    if ours.runs and ours.correct:
        check(report, "ip: sovscan index load s", ours.median("load_s"), 0.1, at_most=True)
