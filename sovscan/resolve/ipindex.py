"""The offline IP index: IPv4 and IPv6 longest-prefix match over published ranges and the ASN table.

The index is a flattened, sorted range table (built offline by `sovscan.resolve.build`): every
elementary interval carries the most specific cloud prefix covering it (or none) and the origin ASN
(or 0). A look-up is one `numpy.searchsorted`, so a million addresses take well under a second and
loading is a single `numpy.load` of a few arrays.
"""

from __future__ import annotations

import socket
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from sovscan.errors import ResolveError

INDEX_FORMAT = 1
"""Bumped when the arrays' meaning changes; a mismatching index file is refused."""

U32 = npt.NDArray[np.uint32]
CloudRecord = tuple[str, str, str, str, bool, str]
"""provider, region, network border group, service, edge, feed."""
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_V6_BLOCK_LIMIT = 64
"""Most interval starts that may share one upper 64-bit half (checked when loading)."""


@dataclass(frozen=True, slots=True)
class CloudRange:
    """A provider-published prefix and what the provider says about it."""

    prefix: str  # "3.96.0.0/14"
    provider: str  # catalogue provider id: "aws"
    region: str  # provider region or "GLOBAL"/"global"; "" when the feed gives none
    border_group: str  # AWS network border group (Local/Wavelength zone); "" otherwise
    service: str  # "AMAZON", "CLOUDFRONT", "AzureCloud", "Google Cloud"...
    edge: bool  # anycast / global edge network
    feed: str  # dataset id in the manifest: "aws-ip-ranges"


@dataclass(frozen=True, slots=True)
class IpMatch:
    """What the offline index knows about one address."""

    address: str
    valid: bool  # False when the text was not an IP address
    cloud: CloudRange | None
    asn: int | None
    as_org: str | None


@dataclass(frozen=True, slots=True, eq=False)
class _Family:
    """One address family's range table. IPv6 keys are split into (hi, lo) 64-bit halves."""

    hi: U64 | U32  # interval starts (IPv4: the whole address; IPv6: upper 64 bits)
    lo: U64 | None  # IPv6 lower 64 bits of the starts
    cloud: npt.NDArray[np.unsignedinteger[Any]]  # 1-based prefix-table row, 0 = none
    asn: U32  # origin AS number, 0 = not routed / unknown
    pfx_hi: U64 | U32  # prefix table: network address (IPv6: upper half)
    pfx_lo: U64 | None
    pfx_len: npt.NDArray[np.uint8]
    pfx_rec: U32  # row in the cloud record table


@dataclass(frozen=True, slots=True, eq=False)
class IpIndex:
    """Both families, the cloud record table and AS organisation names."""

    v4: _Family
    v6: _Family
    records: Sequence[CloudRecord]
    org_asn: U32
    org_offsets: U32
    org_blob: bytes
    v6_block: int  # largest run of IPv6 starts sharing the same upper half

    @property
    def size(self) -> int:
        """Number of intervals in both tables."""
        return len(self.v4.hi) + len(self.v6.hi)

    def lookup(self, address: str) -> IpMatch:
        """What the index knows about `address` (IPv4, IPv6 or IPv4-mapped IPv6 text)."""
        return self.lookup_many((address,))[0]

    def lookup_many(self, addresses: Iterable[str]) -> list[IpMatch]:
        """Bulk look-up: duplicates are resolved once, each family in one vectorised search."""
        order = list(addresses)
        unique = list(dict.fromkeys(order))
        pos4, keys4, pos6, keys6 = _split(unique)
        v4_text = [unique[i] for i in pos4]
        v6_text = [unique[i] for i in pos6]
        found: dict[str, IpMatch] = {}
        if v4_text:
            self._collect(v4_text, self.v4, self.search_v4(keys4), found)
        if v6_text:
            self._collect(v6_text, self.v6, self.search_v6(keys6[:, 0], keys6[:, 1]), found)
        return [found.get(text) or IpMatch(text, False, None, None, None) for text in order]

    def lookup_arrays(self, addresses: Sequence[str]) -> tuple[U32, U32, U32]:
        """Bulk look-up for benchmarks and large scans, without per-address objects.

        Returns three arrays aligned with `addresses`: the family (4, 6, or 0 when the text is not
        an address), the 1-based row of the matching record in `records` (0 = no published
        prefix) and the origin ASN (0 = none).
        """
        n = len(addresses)
        family = np.zeros(n, dtype=np.uint32)
        record = np.zeros(n, dtype=np.uint32)
        asn = np.zeros(n, dtype=np.uint32)
        pos4, keys4, pos6, keys6 = _split(addresses)
        if len(pos4):
            self._fill(self.v4, self.search_v4(keys4), pos4, 4, family, record, asn)
        if len(pos6):
            rows = self.search_v6(keys6[:, 0], keys6[:, 1])
            self._fill(self.v6, rows, pos6, 6, family, record, asn)
        return family, record, asn

    def _fill(
        self, table: _Family, rows: I64, pos: I64, fam: int, family: U32, record: U32, asn: U32
    ) -> None:
        ok = rows >= 0
        safe = np.where(ok, rows, 0)
        cloud = np.where(ok, table.cloud[safe], 0).astype(np.int64)
        family[pos] = fam
        has = cloud > 0
        record[pos[has]] = table.pfx_rec[cloud[has] - 1] + 1
        asn[pos] = np.where(ok, table.asn[safe], 0)

    def _collect(
        self, texts: list[str], table: _Family, rows: I64, found: dict[str, IpMatch]
    ) -> None:
        """IpMatch objects for one family, sharing CloudRange and organisation look-ups."""
        ok = rows >= 0
        safe = np.where(ok, rows, 0)
        clouds = np.where(ok, table.cloud[safe], 0).tolist()
        asn_arr = np.where(ok, table.asn[safe], 0)
        orgs = self._orgs(np.unique(asn_arr[asn_arr > 0]))
        ranges: dict[int, CloudRange] = {}
        for text, cloud_row, number in zip(texts, clouds, asn_arr.tolist(), strict=True):
            cloud = None
            if cloud_row:
                cloud = ranges.get(cloud_row)
                if cloud is None:
                    cloud = ranges[cloud_row] = self._cloud(table, cloud_row - 1)
            found[text] = IpMatch(text, True, cloud, number or None, orgs.get(number))

    def _orgs(self, asns: U32) -> dict[int, str]:
        """AS organisation names for distinct ASNs, in one vectorised search."""
        if len(asns) == 0:
            return {}
        keys = asns.astype(self.org_asn.dtype)
        idx = np.searchsorted(self.org_asn, keys)
        out = {}
        for number, i in zip(keys.tolist(), idx.tolist(), strict=True):
            if i < len(self.org_asn) and int(self.org_asn[i]) == number:
                start, end = int(self.org_offsets[i]), int(self.org_offsets[i + 1])
                out[number] = self.org_blob[start:end].decode("utf-8", "replace")
        return out

    def search_v4(self, keys: U32) -> I64:
        """Row of the interval holding each IPv4 address (as integers); -1 before the first."""
        # Same dtype as the table, else numpy would convert the whole table on every call.
        keys = keys.astype(self.v4.hi.dtype, copy=False)
        return np.searchsorted(self.v4.hi, keys, side="right").astype(np.int64) - 1

    def search_v6(self, hi: U64, lo: U64) -> I64:
        """Row of the interval holding each IPv6 address given as (upper, lower) 64-bit halves."""
        starts_hi = self.v6.hi
        starts_lo = self.v6.lo
        assert starts_lo is not None  # noqa: S101 - an IPv6 table always has its lower halves
        first = np.searchsorted(starts_hi, hi, side="left").astype(np.int64)
        end = np.searchsorted(starts_hi, hi, side="right").astype(np.int64)
        # Starts sharing the query's upper half are sorted by lower half: step over those <= lo.
        pos = first.copy()
        for _ in range(self.v6_block):
            inside = pos < end
            if not inside.any():
                break
            safe = np.minimum(pos, len(starts_lo) - 1)
            step = inside & (starts_lo[safe] <= lo)
            if not step.any():
                break
            pos += step
        return pos - 1

    def cloud_rows(self, family: int, rows: I64) -> U32:
        """The 1-based prefix-table row per interval row (0 = none), for bulk callers."""
        table = self.v4 if family == 4 else self.v6
        out = np.zeros(len(rows), dtype=np.uint32)
        ok = rows >= 0
        out[ok] = table.cloud[rows[ok]]
        return out

    def asns(self, family: int, rows: I64) -> U32:
        """The origin ASN per interval row (0 = none), for bulk callers."""
        table = self.v4 if family == 4 else self.v6
        out = np.zeros(len(rows), dtype=np.uint32)
        ok = rows >= 0
        out[ok] = table.asn[rows[ok]]
        return out

    def as_org(self, asn: int) -> str | None:
        """The AS organisation name from the IP→ASN table, if any."""
        i = int(np.searchsorted(self.org_asn, np.uint32(asn)))
        if i >= len(self.org_asn) or int(self.org_asn[i]) != asn:
            return None
        start, end = int(self.org_offsets[i]), int(self.org_offsets[i + 1])
        return self.org_blob[start:end].decode("utf-8", "replace")

    def cloud_range(self, family: int, i: int) -> CloudRange:
        """The published range of 0-based prefix-table row `i` (a `cloud_rows` value minus 1)."""
        return self._cloud(self.v4 if family == 4 else self.v6, i)

    def _cloud(self, table: _Family, i: int) -> CloudRange:
        provider, region, border_group, service, edge, feed = self.records[int(table.pfx_rec[i])]
        length = int(table.pfx_len[i])
        if table.pfx_lo is None:
            network = socket.inet_ntop(socket.AF_INET, int(table.pfx_hi[i]).to_bytes(4, "big"))
        else:
            value = (int(table.pfx_hi[i]) << 64) | int(table.pfx_lo[i])
            network = socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
        return CloudRange(
            f"{network}/{length}", provider, region, border_group, service, edge, feed
        )


def _split(addresses: Sequence[str]) -> tuple[I64, U32, I64, U64]:
    """Positions and integer keys of the IPv4 and IPv6 addresses among `addresses`.

    IPv4 keys are uint32; IPv6 keys are rows of (upper, lower) uint64 halves. Text that is not an
    address is skipped; IPv4-mapped IPv6 counts as IPv4.
    """
    pton = socket.inet_pton
    af4 = socket.AF_INET
    pos4: list[int] = []
    pos6: list[int] = []
    keys4 = bytearray()
    keys6 = bytearray()
    for i, text in enumerate(addresses):
        if ":" not in text:
            try:
                keys4 += pton(af4, text)
            except (OSError, TypeError, ValueError):
                continue
            pos4.append(i)
            continue
        packed = _pack(text)
        if packed is None:
            continue
        if len(packed) == 4:
            pos4.append(i)
            keys4 += packed
        else:
            pos6.append(i)
            keys6 += packed
    v4 = np.frombuffer(bytes(keys4), dtype=">u4").astype(np.uint32)
    v6 = np.frombuffer(bytes(keys6), dtype=">u8").astype(np.uint64).reshape(-1, 2)
    return np.array(pos4, dtype=np.int64), v4, np.array(pos6, dtype=np.int64), v6


def _pack(text: str) -> bytes | None:
    """Network-order bytes of an address (4 for IPv4 and IPv4-mapped IPv6, else 16)."""
    candidate = text.strip()
    try:
        return socket.inet_pton(socket.AF_INET, candidate)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    # Zone ids ("fe80::1%eth0") name an interface, not part of the address.
    candidate = candidate.split("%", 1)[0]
    try:
        packed = socket.inet_pton(socket.AF_INET6, candidate)
    except (OSError, ValueError):
        return None
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return packed[12:]
    return packed


def load_index(path: Path) -> IpIndex:
    """Load the index written by `sovscan.resolve.build.write_index`; ResolveError if unusable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays: dict[str, Any] = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ResolveError(f"{path}: cannot read the IP index ({exc})") from None
    try:
        fmt = int(arrays["format"][0])
        if fmt != INDEX_FORMAT:
            raise ResolveError(f"{path}: IP index format {fmt}, expected {INDEX_FORMAT}")
        _check_shapes(arrays)
        records = _Records(arrays["records"])
        v4 = _Family(
            arrays["v4_start"],
            None,
            arrays["v4_cloud"],
            arrays["v4_asn"],
            arrays["v4_pfx"],
            None,
            arrays["v4_pfx_len"],
            arrays["v4_pfx_rec"],
        )
        v6 = _Family(
            arrays["v6_start_hi"],
            arrays["v6_start_lo"],
            arrays["v6_cloud"],
            arrays["v6_asn"],
            arrays["v6_pfx_hi"],
            arrays["v6_pfx_lo"],
            arrays["v6_pfx_len"],
            arrays["v6_pfx_rec"],
        )
        org_blob = arrays["org_blob"].tobytes()
        index = IpIndex(
            v4, v6, records, arrays["org_asn"], arrays["org_offsets"], org_blob, _block(v6.hi)
        )
    except KeyError as exc:
        raise ResolveError(f"{path}: IP index lacks array {exc}") from None
    except (TypeError, ValueError, IndexError) as exc:  # an array of the wrong type or shape
        detail = " ".join(str(exc).split())[:200]
        raise ResolveError(f"{path}: cannot read the IP index ({detail})") from None
    if index.v6_block > _V6_BLOCK_LIMIT:
        raise ResolveError(f"{path}: IPv6 table has {index.v6_block} starts sharing a /64")
    return index


_FAMILIES = (
    # starts (with their value arrays) and the prefix table, per family
    (("v4_start", "v4_cloud", "v4_asn"), ("v4_pfx", "v4_pfx_len", "v4_pfx_rec")),
    (
        ("v6_start_hi", "v6_start_lo", "v6_cloud", "v6_asn"),
        ("v6_pfx_hi", "v6_pfx_lo", "v6_pfx_len", "v6_pfx_rec"),
    ),
)
_WIDE = {"v4_start": 4, "v4_pfx": 4, "v6_start_hi": 8, "v6_start_lo": 8, "v6_pfx_hi": 8,
         "v6_pfx_lo": 8}  # fmt: skip


def _check_shapes(arrays: dict[str, Any]) -> None:
    """ValueError unless the arrays fit together: a damaged index must not load and then give
    tracebacks, or quietly wrong answers, at look-up time."""
    for name, array in arrays.items():
        if name != "records" and (array.ndim != 1 or array.dtype.kind != "u"):
            raise ValueError(f"{name}: expected a list of unsigned integers")
        if _WIDE.get(name, array.dtype.itemsize) != array.dtype.itemsize:
            raise ValueError(f"{name}: expected {_WIDE[name] * 8}-bit addresses")
    for starts, prefixes in _FAMILIES:
        for group in (starts, prefixes):
            if len({len(arrays[name]) for name in group}) != 1:
                raise ValueError(f"{', '.join(group)}: expected arrays of one length")
        cloud, rows = arrays[starts[-2]], arrays[prefixes[-1]]
        if len(cloud) and int(cloud.max()) > len(arrays[prefixes[0]]):
            raise ValueError(f"{starts[-2]}: a row beyond the prefix table")
        if len(rows) and int(rows.max()) >= len(arrays["records"]):
            raise ValueError(f"{prefixes[-1]}: a row beyond the record table")
    offsets = arrays["org_offsets"]
    if len(offsets) != len(arrays["org_asn"]) + 1 or (
        len(offsets) and int(offsets.max()) > len(arrays["org_blob"])
    ):
        raise ValueError("org_offsets: expected one more offset than org_asn, within org_blob")


class _Records(Sequence[CloudRecord]):
    """The cloud record table, each row parsed on its first use: an index of 120,000 distinct
    records (one per prefix) loads in milliseconds instead of a tenth of a second."""

    __slots__ = ("_lines", "_parsed")

    def __init__(self, lines: npt.NDArray[np.str_]) -> None:
        if lines.ndim != 1 or lines.dtype.kind != "U":
            raise ValueError(f"records: expected a list of text, got {lines.dtype} {lines.shape}")
        counts = np.char.count(lines, "|")
        if len(lines) and not (counts == 5).all():
            bad = str(lines[int(np.argmax(counts != 5))])
            raise ResolveError(f"IP index record {bad!r}: expected 6 fields")
        self._lines = lines
        self._parsed: dict[int, CloudRecord] = {}

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> CloudRecord: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CloudRecord]: ...
    def __getitem__(self, index: int | slice) -> CloudRecord | Sequence[CloudRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        parsed = self._parsed.get(index)
        if parsed is None:
            fields = str(self._lines[index]).split("|")
            provider, region, border_group, service, edge, feed = fields
            parsed = (provider, region, border_group, service, edge == "1", feed)
            self._parsed[index] = parsed
        return parsed


def _block(starts_hi: Sequence[int] | U64 | U32) -> int:
    """Length of the longest run of equal upper halves (bounds the IPv6 refinement loop)."""
    arr = np.asarray(starts_hi)
    if len(arr) == 0:
        return 0
    change = np.flatnonzero(np.diff(arr) != 0)
    bounds = np.concatenate(([-1], change, [len(arr) - 1]))
    return int(np.diff(bounds).max())
