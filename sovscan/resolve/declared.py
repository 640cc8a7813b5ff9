"""The institution's declared networks ([[networks]]): longest-prefix match over a bounded list.

An inventory holds at most `model.MAX_DECLARED_PREFIXES` prefixes (config.py refuses more), so the
table is a dict per prefix length: an address is masked once per length present and looked up,
whatever the number of prefixes (a few lengths in practice, at most 33 for IPv4 and 129 for IPv6).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import numpy as np

from sovscan.model import DeclaredNetwork
from sovscan.resolve.ipindex import CloudRange, IpIndex

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class DeclaredMatch:
    """The declaration holding an address, and the (most specific) prefix that does."""

    network: DeclaredNetwork
    prefix: str


@dataclass(frozen=True, slots=True, eq=False)
class DeclaredTable:
    """The declared prefixes by (IP version, prefix length) -> network address -> declaration,
    and when the declaration was in force (the scan's start: the evidence is dated by it)."""

    by_length: Mapping[tuple[int, int], Mapping[int, DeclaredMatch]]
    lengths: Mapping[int, tuple[int, ...]]  # IP version -> lengths present, longest first
    as_of: datetime

    def __bool__(self) -> bool:
        return bool(self.by_length)

    def lookup(self, address: str) -> DeclaredMatch | None:
        """The most specific declaration holding `address`; None for one outside all of them or
        text that is not an address. An IPv4-mapped IPv6 address is looked up as IPv4, as the
        IP index does."""
        ip = _address(address)
        if ip is None:
            return None
        value, width = int(ip), ip.max_prefixlen
        for length in self.lengths.get(ip.version, ()):
            network = value >> (width - length) << (width - length)
            found = self.by_length[(ip.version, length)].get(network)
            if found is not None:
                return found
        return None


def declared_table(networks: Sequence[DeclaredNetwork], as_of: datetime) -> DeclaredTable:
    """The look-up table of `networks` (checked by config.py or the bundle loader: valid, no
    prefix declared twice). A prefix nested in another entry's is a carve-out: it wins there."""
    by_length: dict[tuple[int, int], dict[int, DeclaredMatch]] = {}
    for entry in networks:
        for text in entry.prefixes:
            net = ipaddress.ip_network(text)
            key = (net.version, net.prefixlen)
            by_length.setdefault(key, {})[int(net.network_address)] = DeclaredMatch(entry, text)
    lengths: dict[int, list[int]] = {}
    for version, length in by_length:
        lengths.setdefault(version, []).append(length)
    return DeclaredTable(
        MappingProxyType({k: MappingProxyType(v) for k, v in by_length.items()}),
        MappingProxyType({v: tuple(sorted(ls, reverse=True)) for v, ls in lengths.items()}),
        as_of,
    )


def cloud_ranges_within(index: IpIndex, prefix: str, limit: int = 3) -> tuple[CloudRange, ...]:
    """Up to `limit` provider-published ranges that share addresses with `prefix`: there the
    provider's range decides, not the declaration (a scan's notice says so)."""
    net = ipaddress.ip_network(prefix)
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        rows = index.search_v4(np.array([first, last], dtype=np.uint32))
    else:
        mask = (1 << 64) - 1
        hi = np.array([first >> 64, last >> 64], dtype=np.uint64)
        lo = np.array([first & mask, last & mask], dtype=np.uint64)
        rows = index.search_v6(hi, lo)
    # Every interval from the one holding the first address to the one holding the last.
    start, end = max(int(rows[0]), 0), int(rows[1])
    if end < start:
        return ()
    clouds = index.cloud_rows(net.version, np.arange(start, end + 1, dtype=np.int64))
    found: dict[int, CloudRange] = {}
    for row in np.unique(clouds[clouds > 0]).tolist():
        found[row] = index.cloud_range(net.version, row - 1)
        if len(found) >= limit:
            break
    return tuple(found.values())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
