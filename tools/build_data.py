"""Rebuild sovscan's bundled IP index (sovscan/data/ipindex.npz) from local copies of the feeds.

Usage: python tools/build_data.py [--source DIR] [--out DIR] [--samples FILE]

DIR holds the layout of the project's reference data (ip-ranges/*.json, asn/asn-ipv*.csv.gz). The
curated tables (providers.yaml, laws.yaml, regions.csv, ...) are edited by hand and only validated
here. `--samples` also writes the test fixture of one address per AWS border group, Azure region and
GCP region, chosen with a naive oracle (plain integer prefix checks) independent of the index.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sovscan.resolve import build, load_knowledge  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--out", type=Path, default=REPO / "sovscan" / "data")
    parser.add_argument("--samples", type=Path, default=None)
    args = parser.parse_args(argv)
    src: Path = args.source
    started = time.perf_counter()
    aws = build.load_feed_json(src / "ip-ranges" / "aws-ip-ranges.json")
    azure = build.load_feed_json(src / "ip-ranges" / "azure-servicetags-azurecloud.json")
    gcp = build.load_feed_json(src / "ip-ranges" / "gcp-cloud.json")
    cloudflare = build.load_feed_json(src / "ip-ranges" / "cloudflare.json")
    prefixes = [
        *build.aws_prefixes(aws),
        *build.azure_prefixes(azure),
        *build.gcp_prefixes(gcp),
        *build.cloudflare_prefixes(cloudflare),
    ]
    ranges: list[build.AsnRange] = []
    for name in ("asn-ipv4.csv.gz", "asn-ipv6.csv.gz"):
        ranges.extend(build.read_asn_csv((src / "asn" / name).read_bytes()))
    _check_asn_overlaps(ranges)
    arrays = build.build_arrays(prefixes, ranges)
    build.write_index(args.out / "ipindex.npz", arrays)
    _update_manifest(args.out / "manifest.json", aws, azure, gcp)
    print(
        f"{len(prefixes)} published prefixes, {len(ranges)} ASN ranges -> "
        f"{len(arrays['v4_start'])} IPv4 + {len(arrays['v6_start_hi'])} IPv6 intervals "
        f"in {time.perf_counter() - started:.1f} s"
    )
    kb = load_knowledge(args.out)  # validates every curated table against the new index
    print(f"knowledge base ok, digest {kb.digest[:16]}")
    if args.samples:
        _write_samples(args.samples, prefixes)
    return 0


def _check_asn_overlaps(ranges: list[build.AsnRange]) -> None:
    for family in (4, 6):
        rows = sorted((r for r in ranges if r.family == family), key=lambda r: r.start)
        bad = sum(1 for a, b in itertools.pairwise(rows) if b.start <= a.end)
        if bad:
            print(f"warning: IPv{family} ASN table has {bad} overlapping ranges (later start wins)")


def _update_manifest(
    path: Path, aws: Mapping[str, Any], azure: Mapping[str, Any], gcp: Mapping[str, Any]
) -> None:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    dates = {
        "aws-ip-ranges": f"{aws['createDate'][:10]} (syncToken {aws['syncToken']})",
        "azure-service-tags": azure.get("retrieved", ""),
        "gcp-cloud": gcp.get("creationTime", "")[:10],
    }
    for dataset in manifest["datasets"]:
        if dataset["id"] in dates and dates[dataset["id"]]:
            dataset["date"] = dates[dataset["id"]]
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_samples(path: Path, prefixes: list[build.Prefix]) -> None:
    """One address per (provider, region, border group), not covered by a more specific prefix."""
    by_family: dict[int, list[build.Prefix]] = {4: [], 6: []}
    for p in prefixes:
        by_family[p.family].append(p)
    seen: set[tuple[str, str, str, int]] = set()
    samples = []
    for p in prefixes:
        provider, region, group, _service, edge, _feed = p.record
        key = (provider, region, group, p.family)
        if key in seen or provider == "cloudflare":
            continue
        bits = 32 if p.family == 4 else 128
        address = p.network + (1 << (bits - p.length)) // 2  # the middle, away from neighbours
        covering = [
            q
            for q in by_family[p.family]
            if q.length >= p.length
            and (address >> (bits - q.length)) == (q.network >> (bits - q.length))
        ]
        best = max(covering, key=lambda q: (q.length, q.priority))
        if best.record[:3] != p.record[:3] or best.record[4] != edge:
            continue
        seen.add(key)
        text = _text(address, p.family)
        samples.append(
            {
                "address": text,
                "prefix": f"{_text(p.network, p.family)}/{p.length}",
                "provider": provider,
                "region": group or region,
                "edge": edge,
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(samples, indent=1) + "\n", encoding="utf-8")
    print(f"{len(samples)} samples -> {path}")


def _text(value: int, family: int) -> str:
    import ipaddress

    return str(ipaddress.ip_address(value) if family == 4 else ipaddress.IPv6Address(value))


if __name__ == "__main__":
    raise SystemExit(main())
