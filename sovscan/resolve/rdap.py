"""RDAP look-ups for addresses the offline data does not know: a protocol and an ipwhois client."""

from __future__ import annotations

import ipaddress
import json
import logging
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sovscan.bounds import bounded

logger = logging.getLogger("sovscan.resolve.rdap")

_FIELD_LIMIT = 200
"""RDAP text is registrant-controlled: every field that can reach a report is cut to this."""


@dataclass(frozen=True, slots=True)
class RdapNetwork:
    """The registry's answer for the network holding an address, bounded and typed."""

    cidr: str  # "192.0.2.0/24" (first CIDR of the network)
    name: str  # network name: "AMAZON-YUL"
    org: str  # registrant organisation, when the registry gives one
    country: (
        str | None
    )  # registrant country (ISO 3166-1), which is the subsidiary's, not the parent's
    asn: int | None
    registry: str  # "arin", "ripencc", "apnic", "lacnic", "afrinic"

    @staticmethod
    def make(
        cidr: str, name: str, org: str, country: str | None, asn: int | None, registry: str
    ) -> RdapNetwork:
        """A network with every text field bounded and the country checked for shape."""
        code = (country or "").strip().upper()
        return RdapNetwork(
            bounded(cidr, 64),
            bounded(name, _FIELD_LIMIT),
            bounded(org, _FIELD_LIMIT),
            code if len(code) == 2 and code.isalpha() else None,
            asn if asn is not None and 0 < asn < 2**32 else None,
            bounded(registry, 16),
        )


class RdapClient(Protocol):
    """Looks up the registry network of an address; None when nothing could be learnt."""

    def lookup(self, address: str) -> RdapNetwork | None: ...


_REGISTRIES = {
    "whois.arin.net": "arin",
    "whois.ripe.net": "ripencc",
    "whois.apnic.net": "apnic",
    "whois.lacnic.net": "lacnic",
    "whois.afrinic.net": "afrinic",
}
_MAX_BODY = 1_000_000
"""Largest RDAP response read; real ones are a few tens of kilobytes."""


def parse_rdap(address: str, doc: Mapping[str, Any]) -> RdapNetwork | None:
    """The network in an RDAP IP response, parsed with ipwhois and bounded; None if unusable."""
    from ipwhois.exceptions import BaseIpwhoisException
    from ipwhois.net import Net
    from ipwhois.rdap import RDAP

    try:
        # root_ent_check=False: entities without a vCard are not fetched (no hidden queries).
        parsed = RDAP(Net(address)).lookup(
            response=dict(doc), bootstrap=True, root_ent_check=False, depth=0
        )
    except (BaseIpwhoisException, ValueError, KeyError, TypeError, AttributeError):
        return None
    network = parsed.get("network") or {}
    cidr = _block_of(address, str(network.get("cidr") or ""))
    if not cidr:
        return None
    org = ""
    for obj in (parsed.get("objects") or {}).values():
        contact = obj.get("contact") or {}
        name = str(contact.get("name") or "")
        if "registrant" in (obj.get("roles") or ()) and name:
            org = name
            break
        if contact.get("kind") == "org" and name and name != obj.get("handle") and not org:
            org = name
    port43 = str(doc.get("port43") or "").lower()
    return RdapNetwork.make(
        cidr,
        str(network.get("name") or ""),
        org,
        network.get("country"),
        None,
        _REGISTRIES.get(port43, port43.removeprefix("whois.").split(".")[0] or "unknown"),
    )


def _block_of(address: str, cidrs: str) -> str:
    """Of ipwhois's comma-separated CIDRs (a range that is no single block), the one holding
    `address`; the first when none does (an answer about another network, which `lookup`
    refuses), "" when there is none."""
    blocks = [c.strip() for c in cidrs.split(",") if c.strip()]
    for block in blocks:
        try:
            if ipaddress.ip_address(address) in ipaddress.ip_network(block, strict=False):
                return block
        except (ValueError, TypeError):
            continue
    return blocks[0] if blocks else ""


def _span(cidrs: str) -> tuple[int, int, int] | None:
    """(family, first, last) address integers covered by ipwhois's comma-separated CIDRs."""
    try:
        nets = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",") if c]
    except ValueError:
        return None
    if not nets:
        return None
    return (
        nets[0].version,
        min(int(n.network_address) for n in nets),
        max(int(n.broadcast_address) for n in nets),
    )


def _open_cache(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS networks (family INTEGER, first TEXT, last TEXT,"
            " fetched REAL, network TEXT)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS by_first ON networks (family, first)")
        db.commit()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Registries answer directly; a redirect (to a private address, say) is not followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class IpwhoisRdapClient:
    """RDAP over HTTP with a SQLite cache keyed by network, a global rate limit and 429 backoff.

    Off unless a caller builds one: the offline tables answer first, RDAP only for the residue.
    """

    def __init__(
        self,
        cache_path: Path,
        *,
        base_url: str = "https://rdap.arin.net/registry",
        ttl: timedelta = timedelta(days=7),
        min_interval: float = 1.0,
        timeout: float = 10.0,
        retries: int = 3,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"RDAP base URL must be http(s): {base_url!r}")
        self._base = base_url.rstrip("/")
        self._ttl = ttl.total_seconds()
        self._interval = min_interval
        self._timeout = timeout
        self._retries = retries
        self._clock = clock
        self._sleep = sleep
        self._last_request = -1e18
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _open_cache(cache_path)
        except sqlite3.DatabaseError:
            # A cache is only a cache: a corrupt one is dropped and built again.
            logger.warning("RDAP cache %s is corrupt; rebuilding it", cache_path)
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{cache_path}{suffix}").unlink(missing_ok=True)
            self._db = _open_cache(cache_path)

    def close(self) -> None:
        self._db.close()

    def lookup(self, address: str) -> RdapNetwork | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if not ip.is_global:
            return None  # private, reserved and documentation space has no registrant to ask
        cached = self._cached(ip)
        if cached is not None:
            return cached
        doc = self._fetch(str(ip))
        if doc is None:
            return None
        network = parse_rdap(str(ip), doc)
        span = None if network is None else _span(network.cidr)
        if (
            network is None
            or span is None
            or span[0] != ip.version
            or not (span[1] <= int(ip) <= span[2])
        ):
            # An answer naming a network without the address is no answer for it; cached, it
            # would be served unasked for every address of the network it names.
            return None
        self._store(network)
        return network

    def _cached(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> RdapNetwork | None:
        key = f"{int(ip):032x}"
        row = self._db.execute(
            "SELECT network, fetched FROM networks WHERE family = ? AND first <= ? AND last >= ?"
            " ORDER BY first DESC LIMIT 1",
            (ip.version, key, key),
        ).fetchone()
        if row is None or self._clock() - float(row[1]) > self._ttl:
            return None
        try:
            fields = json.loads(row[0])
            return RdapNetwork.make(*fields)
        except (ValueError, TypeError):
            return None

    def _store(self, network: RdapNetwork) -> None:
        span = _span(network.cidr)
        if span is None:
            return
        family, first, last = span
        fields = [network.cidr, network.name, network.org, network.country, network.asn]
        fields.append(network.registry)
        with self._db:
            self._db.execute(
                "DELETE FROM networks WHERE family = ? AND first = ? AND last = ?",
                (family, f"{first:032x}", f"{last:032x}"),
            )
            self._db.execute(
                "INSERT INTO networks VALUES (?, ?, ?, ?, ?)",
                (family, f"{first:032x}", f"{last:032x}", self._clock(), json.dumps(fields)),
            )

    def _fetch(self, address: str) -> Mapping[str, Any] | None:
        url = f"{self._base}/ip/{address}"
        delay = 2.0
        for _attempt in range(self._retries + 1):
            wait = self._last_request + self._interval - self._clock()
            if wait > 0:
                self._sleep(wait)
            self._last_request = self._clock()
            request = urllib.request.Request(url, headers={"Accept": "application/rdap+json"})  # noqa: S310 - scheme checked in __init__
            deadline = time.monotonic() + 2 * self._timeout
            try:
                with _OPENER.open(request, timeout=self._timeout) as response:
                    body = b""
                    while len(body) <= _MAX_BODY:
                        if time.monotonic() > deadline:
                            logger.debug("RDAP %s: body too slow", address)
                            return None
                        chunk = response.read1(65536)
                        if not chunk:
                            break
                        body += chunk
            except urllib.error.HTTPError as exc:
                if exc.code == 429:
                    retry_after = exc.headers.get("Retry-After", "")
                    pause = float(retry_after) if retry_after.isdigit() else delay
                    self._sleep(min(pause, 120.0))
                    delay *= 2
                    continue
                logger.debug("RDAP %s: HTTP %s", address, exc.code)
                return None
            except (OSError, ValueError) as exc:
                logger.debug("RDAP %s: %s", address, type(exc).__name__)
                return None
            if len(body) > _MAX_BODY:
                return None
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                return None
            return doc if isinstance(doc, dict) else None
        return None
