"""Probes turn the outside world into Asset and Gap values; a failed scope is a Gap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

from sovscan.model import Asset, Gap

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: timezone-aware UTC."""
    return datetime.now(UTC)


class Probe(Protocol):
    """Something that inventories one part of the institution."""

    name: str

    def collect(self) -> Iterator[Asset | Gap]:
        """Yield assets and gaps. Raises ProbeError only when the probe cannot start at all."""
        ...
