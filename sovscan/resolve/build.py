"""Build the offline IP index from the providers' published feeds and the IP→ASN table.

Used by `tools/build_data.py` (from a local copy of the feeds) and by `sovscan data update` (from
the official URLs). Nothing here runs during a scan: the scan only loads the result.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sovscan.errors import ResolveError
from sovscan.resolve.ipindex import INDEX_FORMAT

Record = tuple[str, str, str, str, bool, str]
"""(provider, region, border group, service, edge, feed) of a published prefix."""

# AWS services whose addresses are anycast or edge locations, whatever region the feed gives.
_AWS_EDGE_SERVICES = frozenset({"CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING", "GLOBALACCELERATOR"})


@dataclass(frozen=True, slots=True)
class Prefix:
    """One published prefix: family (4 or 6), network as an integer, length, record, priority."""

    family: int
    network: int
    length: int
    record: Record
    priority: (
        int  # among equal prefixes the higher priority wins (a regional tag beats a global one)
    )


@dataclass(frozen=True, slots=True)
class AsnRange:
    """One inclusive range of the IP→ASN table."""

    family: int
    start: int
    end: int
    asn: int
    org: str


def parse_prefix(text: str) -> tuple[int, int, int]:
    """(family, network integer, length) of "a.b.c.d/n" or "x::/n"; ValueError if malformed."""
    address, _, length_text = text.strip().partition("/")
    family = 6 if ":" in address else 4
    packed = socket.inet_pton(socket.AF_INET6 if family == 6 else socket.AF_INET, address)
    bits = 128 if family == 6 else 32
    length = int(length_text) if length_text else bits
    if not 0 <= length <= bits:
        raise ValueError(f"bad prefix length in {text!r}")
    value = int.from_bytes(packed, "big")
    host_bits = bits - length
    return family, (value >> host_bits) << host_bits, length


def aws_prefixes(doc: Mapping[str, Any]) -> list[Prefix]:
    """Prefixes of AWS `ip-ranges.json`, one record per prefix with its network border group."""
    merged: dict[str, tuple[str, str, set[str]]] = {}
    for key, items in (("ip_prefix", doc["prefixes"]), ("ipv6_prefix", doc["ipv6_prefixes"])):
        for item in items:
            prefix = item[key]
            region = item["region"]
            group = item.get("network_border_group", region)
            _, _, services = merged.setdefault(prefix, (region, group, set()))
            services.add(item["service"])
    out = []
    for prefix, (region, group, services) in merged.items():
        edge = region == "GLOBAL" or bool(services & _AWS_EDGE_SERVICES)
        family, network, length = parse_prefix(prefix)
        record = (
            "aws",
            region,
            group if group != region else "",
            _aws_service(services),
            edge,
            "aws-ip-ranges",
        )
        out.append(Prefix(family, network, length, record, 1))
    return out


def _aws_service(services: set[str]) -> str:
    """The most telling service label: an edge service, else a specific one, else AMAZON."""
    for name in sorted(services & _AWS_EDGE_SERVICES):
        return name
    specific = sorted(services - {"AMAZON"})
    return specific[0] if specific else "AMAZON"


def azure_prefixes(doc: Mapping[str, Any]) -> list[Prefix]:
    """Prefixes of the Azure `AzureCloud` service tags; a regional tag beats the global tag."""
    out = []
    for value in doc["values"]:
        props = value["properties"]
        name = value.get("name", "")
        if not str(name).startswith("AzureCloud"):
            continue
        region = props.get("region", "")
        for prefix in props["addressPrefixes"]:
            family, network, length = parse_prefix(prefix)
            record = ("microsoft", region, "", "AzureCloud", False, "azure-service-tags")
            out.append(Prefix(family, network, length, record, 1 if region else 0))
    return out


def gcp_prefixes(doc: Mapping[str, Any]) -> list[Prefix]:
    """Prefixes of Google Cloud `cloud.json`; scope "global" is anycast load balancing."""
    out = []
    for item in doc["prefixes"]:
        prefix = item.get("ipv4Prefix") or item.get("ipv6Prefix")
        if not prefix:
            continue
        scope = item.get("scope", "")
        family, network, length = parse_prefix(prefix)
        record = ("google", scope, "", item.get("service", ""), scope == "global", "gcp-cloud")
        out.append(Prefix(family, network, length, record, 1))
    return out


def cloudflare_prefixes(doc: Mapping[str, Any] | str) -> list[Prefix]:
    """Cloudflare's anycast ranges, from the JSON copy or the official plain-text lists."""
    if isinstance(doc, str):
        lines = [line for line in doc.split() if line]
    else:
        lines = [*doc.get("ipv4", ()), *doc.get("ipv6", ())]
    out = []
    for prefix in lines:
        family, network, length = parse_prefix(prefix)
        record = ("cloudflare", "GLOBAL", "", "anycast", True, "cloudflare-ips")
        out.append(Prefix(family, network, length, record, 1))
    return out


def read_asn_csv(data: bytes) -> Iterator[AsnRange]:
    """Rows of an @ip-location-db/asn `start,end,asn,org` file (gzip or plain)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    for row in reader:
        if len(row) < 3 or not row[2].isdigit():
            continue
        family = 6 if ":" in row[0] else 4
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        start = int.from_bytes(socket.inet_pton(af, row[0]), "big")
        end = int.from_bytes(socket.inet_pton(af, row[1]), "big")
        yield AsnRange(family, start, end, int(row[2]), row[3] if len(row) > 3 else "")


def _cloud_points(prefixes: list[Prefix], bits: int) -> list[tuple[int, int]]:
    """Step function (start, prefix row + 1 or 0) giving the most specific prefix everywhere."""
    # Outer prefixes first at the same start; among equal prefixes the preferred one comes last,
    # so it sits innermost on the stack and wins.
    order = sorted(
        range(len(prefixes)),
        key=lambda i: (prefixes[i].network, prefixes[i].length, prefixes[i].priority),
    )
    points: dict[int, int] = {0: 0}
    stack: list[tuple[int, int]] = []  # (last address, row + 1)
    for i in order:
        p = prefixes[i]
        start = p.network
        end = start + (1 << (bits - p.length)) - 1
        while stack and stack[-1][0] < start:
            last, _ = stack.pop()
            points[last + 1] = stack[-1][1] if stack and stack[-1][0] > last else 0
        points[start] = i + 1
        stack.append((end, i + 1))
    while stack:
        last, _ = stack.pop()
        points[last + 1] = stack[-1][1] if stack and stack[-1][0] > last else 0
    return sorted((pos, val) for pos, val in points.items() if pos < (1 << bits))


def _asn_points(ranges: Iterable[AsnRange], bits: int) -> list[tuple[int, int]]:
    """Step function (start, ASN or 0); where ranges overlap the one starting later wins."""
    segments: list[tuple[int, int, int]] = []
    for r in sorted(ranges, key=lambda r: (r.start, -r.end)):
        if segments and r.start <= segments[-1][1]:
            start, end, asn = segments.pop()
            if start < r.start:
                segments.append((start, r.start - 1, asn))
            segments.append((r.start, r.end, r.asn))
            if end > r.end:
                segments.append((r.end + 1, end, asn))
        else:
            segments.append((r.start, r.end, r.asn))
    points: dict[int, int] = {0: 0}
    for start, end, asn in segments:
        points.setdefault(end + 1, 0)
        points[start] = asn
    return sorted((pos, val) for pos, val in points.items() if pos < (1 << bits))


def _merge(
    cloud: list[tuple[int, int]], asn: list[tuple[int, int]]
) -> tuple[list[int], list[int], list[int]]:
    """Union of two step functions, dropping boundaries where neither value changes."""
    starts: list[int] = []
    clouds: list[int] = []
    asns: list[int] = []
    i = j = 0
    cur_cloud = cur_asn = 0
    while i < len(cloud) or j < len(asn):
        pos = min(
            cloud[i][0] if i < len(cloud) else 1 << 129,
            asn[j][0] if j < len(asn) else 1 << 129,
        )
        if i < len(cloud) and cloud[i][0] == pos:
            cur_cloud = cloud[i][1]
            i += 1
        if j < len(asn) and asn[j][0] == pos:
            cur_asn = asn[j][1]
            j += 1
        if starts and clouds[-1] == cur_cloud and asns[-1] == cur_asn:
            continue
        starts.append(pos)
        clouds.append(cur_cloud)
        asns.append(cur_asn)
    return starts, clouds, asns


def build_arrays(prefixes: list[Prefix], asn_ranges: Iterable[AsnRange]) -> dict[str, Any]:
    """All arrays of the index file (see `sovscan.resolve.ipindex.load_index`)."""
    records: dict[Record, int] = {}
    arrays: dict[str, Any] = {"format": np.array([INDEX_FORMAT], dtype=np.uint32)}
    ranges = list(asn_ranges)
    orgs: dict[int, str] = {}
    for r in ranges:
        orgs.setdefault(r.asn, r.org)
    for family, bits in ((4, 32), (6, 128)):
        fam = [p for p in prefixes if p.family == family]
        cloud_pts = _cloud_points(fam, bits)
        asn_pts = _asn_points((r for r in ranges if r.family == family), bits)
        starts, clouds, asns = _merge(cloud_pts, asn_pts)
        rec_rows = [records.setdefault(p.record, len(records)) for p in fam]
        tag = f"v{family}"
        if family == 4:
            arrays["v4_start"] = np.array(starts, dtype=np.uint32)
            arrays["v4_pfx"] = np.array([p.network for p in fam], dtype=np.uint32)
        else:
            mask = (1 << 64) - 1
            arrays["v6_start_hi"] = np.array([s >> 64 for s in starts], dtype=np.uint64)
            arrays["v6_start_lo"] = np.array([s & mask for s in starts], dtype=np.uint64)
            arrays["v6_pfx_hi"] = np.array([p.network >> 64 for p in fam], dtype=np.uint64)
            arrays["v6_pfx_lo"] = np.array([p.network & mask for p in fam], dtype=np.uint64)
        # Row numbers fit 16 bits today; a smaller array loads faster. Wider only when needed.
        row_type = np.uint16 if len(fam) < 2**16 else np.uint32
        arrays[f"{tag}_cloud"] = np.array(clouds, dtype=row_type)
        arrays[f"{tag}_asn"] = np.array(asns, dtype=np.uint32)
        arrays[f"{tag}_pfx_len"] = np.array([p.length for p in fam], dtype=np.uint8)
        arrays[f"{tag}_pfx_rec"] = np.array(rec_rows, dtype=np.uint32)
    arrays["records"] = np.array(
        ["|".join((*r[:4], "1" if r[4] else "0", r[5])) for r in records], dtype=str
    )
    org_asn = sorted(orgs)
    blobs = [orgs[a].encode("utf-8") for a in org_asn]
    offsets = np.zeros(len(blobs) + 1, dtype=np.uint32)
    offsets[1:] = np.cumsum([len(b) for b in blobs], dtype=np.uint64)
    arrays["org_asn"] = np.array(org_asn, dtype=np.uint32)
    arrays["org_offsets"] = offsets
    arrays["org_blob"] = np.frombuffer(b"".join(blobs) or b"\0", dtype=np.uint8)
    return arrays


def write_index(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write the index atomically (temporary file, then rename).

    Stored, not deflated: inflating 13 MB of arrays cost every scan 50 ms more than reading
    them, and the index would miss its 0.1 s load budget. Git and wheels compress it anyway.
    """
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.savez(handle, **arrays)
    tmp.replace(path)


def load_feed_json(path: Path) -> Any:
    """A feed's JSON, with a ResolveError naming the file when it is missing or malformed."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ResolveError(f"{path}: cannot read feed ({exc})") from None
