"""The SaaS probe: each inventory endpoint's host, its CNAME chain and the addresses it reaches,
and (when the inventory's [https] table allows) the vendor headers and certificate it serves."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import replace

import dns.resolver

from sovscan.bounds import bounded
from sovscan.config import SaasEndpoint
from sovscan.model import Asset, AttrValue, Confidence, Evidence, Gap
from sovscan.probes import Clock, utc_now
from sovscan.probes.dns import sorted_addresses
from sovscan.probes.dnslookup import Lookup, lookup_to_end
from sovscan.probes.https import (
    HttpsError,
    HttpsOptions,
    HttpsView,
    Resolve,
    read_endpoint,
    shown_url,
)


class SaasProbe:
    """One ``saas.endpoint`` asset per inventory entry, always: the inventory says it exists.

    Addresses are left out (unknown) when a look-up fails, and the failure is a Gap; so is a name
    that does not exist or has no address: the inventory says the service exists.
    """

    name = "saas"

    def __init__(
        self,
        endpoints: Sequence[SaasEndpoint],
        resolver: dns.resolver.Resolver,
        *,
        clock: Clock = utc_now,
        https: HttpsOptions | None = None,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.resolver = resolver
        self.clock = clock
        self.https = https  # None: DNS only

    def collect(self) -> Iterator[Asset | Gap]:
        seen: set[str] = set()
        for endpoint in self.endpoints:
            host = endpoint.asset_host
            if not host or host in seen:
                continue
            seen.add(host)
            for item in self._endpoint(endpoint, host):
                # A gap of the endpoint (its name, its HTTPS) names it as its unit, as its
                # asset is `saas:<host>`: "dns:<host>" alone could be a domain's.
                yield replace(item, unit=f"saas:{host}") if isinstance(item, Gap) else item

    def _endpoint(self, endpoint: SaasEndpoint, host: str) -> Iterator[Asset | Gap]:
        attributes: dict[str, AttrValue] = {
            "hostname": host,
            "name": bounded(endpoint.name),
            "url": shown_url(endpoint.url),
            "classification": endpoint.classification,
        }
        declared: tuple[Evidence, ...] = ()
        if endpoint.data_location is not None and endpoint.data_location_basis is not None:
            basis = bounded(endpoint.data_location_basis, 300)
            attributes["data_location"] = endpoint.data_location
            attributes["data_location_basis"] = basis
            detail = f"the institution declares the data kept in {endpoint.data_location}: {basis}"
            declared = (
                Evidence("inventory:data_location", detail, self.clock(), Confidence.MEDIUM),
            )
        vendor = endpoint.vendor
        if vendor is not None:
            attributes["vendor"] = bounded(vendor.name, 200)
            if vendor.parent is not None:
                attributes["vendor_parent"] = bounded(vendor.parent, 200)
            attributes["vendor_jurisdictions"] = vendor.jurisdictions
            attributes["vendor_basis"] = bounded(vendor.basis, 300)
        literal = _ip_literal(host)
        evidence: tuple[Evidence, ...]
        if literal is not None:
            # A URL with an address in it: nothing to look up, the address is the observation.
            attributes["addresses"] = (literal,)
            attributes["cname_chain"] = ()
            url = shown_url(endpoint.url)
            evidence = (Evidence("inventory:url", url, self.clock(), Confidence.HIGH),)
        else:
            results = [
                lookup_to_end(self.resolver, host, rdtype, self.clock) for rdtype in ("A", "AAAA")
            ]
            failures = [r for r in results if r.failed]
            for result in failures:
                yield Gap(f"dns:{host}:{result.rdtype}", result.reason)
            chain = next((r.cname_chain for r in results if r.cname_chain), ())
            if not failures:
                addresses = sorted_addresses(
                    r.to_text() for result in results for r in result.records
                )
                if addresses:
                    attributes["addresses"] = addresses
                else:
                    # The inventory says the service exists; a typo or a retired service must
                    # not read as a clean, complete scan. Its addresses stay unknown.
                    yield Gap(f"dns:{host}", _no_address(results[0], chain))
            attributes["cname_chain"] = chain
            # A failure after an alias keeps the alias seen, and says why it stops there.
            evidence = tuple(r.evidence() for r in results if not r.failed or r.cname_chain)
        https, https_gaps = self._read_https(endpoint, host, attributes)
        yield from https_gaps
        name = bounded(endpoint.name)
        yield Asset(
            f"saas:{host}", "saas.endpoint", name, attributes, (*declared, *evidence, *https)
        )

    def _read_https(
        self, endpoint: SaasEndpoint, host: str, attributes: dict[str, AttrValue]
    ) -> tuple[tuple[Evidence, ...], tuple[Gap, ...]]:
        """Adds the https_* and tls_* attributes; returns their evidence or the gap."""
        if self.https is None:
            return (), ()
        observed = self.clock()
        try:
            view = read_endpoint(endpoint.url, dns_resolve(self.resolver, self.clock), self.https)
        except HttpsError as exc:
            return (), (Gap(f"https:{host}", bounded(str(exc))),)
        attributes.update(https_attributes(view, host))
        seen = (Evidence("https:GET", https_detail(view), observed, Confidence.HIGH),)
        if view.incomplete and view.stopped:
            return seen, (Gap(f"https:{host}", bounded(view.stopped)),)
        return seen, ()


def dns_resolve(resolver: dns.resolver.Resolver, clock: Clock) -> Resolve:
    """A host's addresses from the scan's resolver (A, then AAAA), for the HTTPS reader."""

    def resolve(host: str) -> list[str]:
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            result = lookup_to_end(resolver, host, rdtype, clock)
            if result.failed and not found:
                raise HttpsError(f"cannot resolve {host}: {result.reason}")
            found += [r.to_text() for r in result.records]
        return found

    return resolve


def https_attributes(view: HttpsView, host: str) -> dict[str, AttrValue]:
    """The view as attributes. Headers and certificate of another host (reached by a redirect)
    are kept under `redirect_*` names: they describe that host, not this endpoint."""
    same_host = not view.redirects or view.host == host  # `host` may be an IDN, view.host ASCII
    prefix = "" if same_host else "redirect_"
    return {
        "https_status": view.status,
        "https_url": view.url,
        "https_redirects": view.redirects,
        f"{prefix}https_headers": tuple(f"{name}: {value}" for name, value in view.headers),
        f"{prefix}tls_issuer": view.tls_issuer,
        f"{prefix}tls_sans": view.tls_sans,
    }


def https_detail(view: HttpsView) -> str:
    parts = [f"GET {view.url} -> {view.status} from {view.address}"]
    parts += [f"{name}: {value}" for name, value in view.headers]
    if view.tls_issuer:
        parts.append(f"certificate for {view.tls_subject or '?'} issued by {view.tls_issuer}")
    if view.stopped:
        parts.append(view.stopped)
    return bounded(" | ".join(parts))


def _no_address(answer: Lookup, chain: tuple[str, ...]) -> str:
    """Why an endpoint's host gave no address, for its gap."""
    via = f" (its alias chain ends at {bounded(chain[-1], 255)})" if chain else ""
    if answer.outcome == "nxdomain":
        what = "the name does not exist (NXDOMAIN)"
    else:
        what = "the name has no address (no A or AAAA record)"
    return f"{what}{via}; check the [[saas]] url in the inventory"


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None
