"""The SaaS probe: each inventory endpoint's host, its CNAME chain and the addresses it reaches."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

import dns.resolver

from sovscan.bounds import bounded
from sovscan.config import SaasEndpoint
from sovscan.model import Asset, AttrValue, Confidence, Evidence, Gap
from sovscan.probes import Clock, utc_now
from sovscan.probes.dns import lookup, sorted_addresses


class SaasProbe:
    """One ``saas.endpoint`` asset per inventory entry, always: the inventory says it exists.

    Addresses are left out (unknown) when a look-up fails, and the failure is a Gap; an endpoint
    whose name does not exist gets an empty address list, which is an answer.
    """

    name = "saas"

    def __init__(
        self,
        endpoints: Sequence[SaasEndpoint],
        resolver: dns.resolver.Resolver,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.resolver = resolver
        self.clock = clock

    def collect(self) -> Iterator[Asset | Gap]:
        seen: set[str] = set()
        for endpoint in self.endpoints:
            host = endpoint.host.rstrip(".").lower()
            if not host or host in seen:
                continue
            seen.add(host)
            yield from self._endpoint(endpoint, host)

    def _endpoint(self, endpoint: SaasEndpoint, host: str) -> Iterator[Asset | Gap]:
        attributes: dict[str, AttrValue] = {
            "hostname": host,
            "name": bounded(endpoint.name),
            "url": bounded(endpoint.url),
            "classification": endpoint.classification,
        }
        literal = _ip_literal(host)
        if literal is not None:
            # A URL with an address in it: nothing to look up, the address is the observation.
            attributes["addresses"] = (literal,)
            attributes["cname_chain"] = ()
            seen = Evidence("inventory:url", bounded(endpoint.url), self.clock(), Confidence.HIGH)
            yield Asset(
                f"saas:{host}", "saas.endpoint", bounded(endpoint.name), attributes, (seen,)
            )
            return
        results = [lookup(self.resolver, host, rdtype, self.clock) for rdtype in ("A", "AAAA")]
        failures = [r for r in results if r.failed]
        for result in failures:
            yield Gap(f"dns:{host}:{result.rdtype}", result.reason)
        if not failures:
            addresses = (r.to_text() for result in results for r in result.records)
            attributes["addresses"] = sorted_addresses(addresses)
        attributes["cname_chain"] = next((r.cname_chain for r in results if r.cname_chain), ())
        evidence = tuple(r.evidence() for r in results if not r.failed)
        yield Asset(f"saas:{host}", "saas.endpoint", bounded(endpoint.name), attributes, evidence)


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
