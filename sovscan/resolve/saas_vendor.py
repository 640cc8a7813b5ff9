"""Who controls a SaaS endpoint's data: its vendor, which an address does not name.

An endpoint's address names whoever serves it: a cloud, a CDN, a hosting company. The vendor
behind it holds the data and answers to its own laws: a US company renting servers at a French
host is reached by the CLOUD Act all the same. So an operator found only as the endpoint's host
is an inference about who controls the data (confidence low: `control.confirmed` is unknown,
and no rule says ok on it), unless the catalogue knows it as a vendor of services (kind saas,
email-security, or an institution), a name or header names a vendor's product (a CNAME into
`*.omnivox.ca`, not into a cloud's or a CDN's zone), or the institution declares the network
as its own. The
institution can declare the vendor ([[saas]] vendor): the host's jurisdictions and laws are
then added to the vendor's, as both can be compelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from sovscan.bounds import bounded
from sovscan.model import Asset, Confidence, Control, Evidence, Method
from sovscan.resolve.knowledge import KnowledgeBase

VENDOR_KINDS = frozenset({"saas", "email-security", "institution"})
"""Catalogue kinds whose operator runs the service itself, not only its servers."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

VENDOR_ATTRIBUTES = ("vendor", "vendor_parent", "vendor_jurisdictions", "vendor_basis")
"""The endpoint attributes the SaaS probe writes from a [[saas]] vendor declaration."""


_NAMED = frozenset({Method.CATALOGUE, Method.HOSTNAME_REGION})
"""Methods of a control found from the endpoint's names or headers, not its address."""


def operator_kinds(kb: KnowledgeBase) -> Mapping[str, str]:
    """Operator -> catalogue kind, for every provider of the catalogue: those of VENDOR_KINDS
    run services; the others (clouds, CDNs, hosting companies, networks) run servers."""
    return {p.operator: p.kind for p in kb.providers.values()}


def _names_the_vendor(host: Control, kinds: Mapping[str, str]) -> bool:
    """Whether `host` names the service's vendor: a declared network (the institution's own
    servers), a catalogue provider that runs services, or a host pattern or header naming a
    product whose operator runs no servers for others (hostnames.csv rows without a provider)."""
    if host.method is Method.DECLARED:
        return True
    kind = kinds.get(host.operator or "")
    if kind is not None:
        return kind in VENDOR_KINDS
    return host.method in _NAMED


def endpoint_control(
    asset: Asset, host: Control, kb: KnowledgeBase, kinds: Mapping[str, str]
) -> Control:
    """The control of a `saas.endpoint` whose address, names and headers gave `host`;
    `kinds` is `operator_kinds(kb)`."""
    declared = _declared_vendor(asset, host, kb)
    if declared is not None:
        return declared
    if host.operator is None or _names_the_vendor(host, kinds):
        return host
    detail = (
        f"{host.operator} serves the endpoint ({host.method.value}): who hosts it, not "
        "necessarily who holds the data. The vendor is not identified, and its own laws may "
        "reach the data wherever it is hosted: declare it ([[saas]] vendor, "
        "vendor_jurisdictions, vendor_basis)"
    )
    note = Evidence("resolve:saas-vendor", bounded(detail), _when(asset, host), Confidence.LOW)
    return replace(host, confidence=Confidence.LOW, evidence=(*host.evidence, note))


def _declared_vendor(asset: Asset, host: Control, kb: KnowledgeBase) -> Control | None:
    attributes = asset.attributes
    vendor, basis = attributes.get("vendor"), attributes.get("vendor_basis")
    homes = attributes.get("vendor_jurisdictions")
    if not isinstance(vendor, str) or not isinstance(basis, str) or not isinstance(homes, tuple):
        return None
    parent = attributes.get("vendor_parent")
    parent = parent if isinstance(parent, str) else None
    # The host's laws reach the data too: a host known only by inference (an AS name, a row
    # marked low) leaves them a guess, and the answer no more than one.
    hosted = host.jurisdictions is not None and host.confidence is not Confidence.LOW
    jurisdictions = tuple(dict.fromkeys((*homes, *(host.jurisdictions or ()))))
    laws = tuple(dict.fromkeys((*kb.default_laws(homes), *(host.laws or ()))))
    when = _when(asset, host)
    detail = (
        f"the institution declares the vendor {vendor} (parent {parent or 'unknown'}), "
        f"jurisdictions {', '.join(homes)}: {basis}"
    )
    evidence = [Evidence("inventory:vendor", bounded(detail), when, Confidence.MEDIUM)]
    if host.operator is not None and host.operator != vendor:
        served = (
            f"served by {host.operator} ({host.method.value}, jurisdictions "
            f"{', '.join(host.jurisdictions or ('?',))}): its laws reach the data it hosts too"
        )
        evidence.append(Evidence("resolve:saas-host", bounded(served), when, host.confidence))
    if not hosted:
        # The vendor's own reach is known; whose servers hold the data is not, and a foreign
        # host would add its laws: no rule may say ok on the vendor alone.
        unknown = "who hosts the endpoint is not known: its jurisdictions may add to the vendor's"
        if host.jurisdictions is not None:
            unknown = (
                "who hosts the endpoint is known only by inference: its jurisdictions may add "
                "to the vendor's"
            )
        evidence.append(Evidence("resolve:saas-host", unknown, when, Confidence.LOW))
    return Control(
        vendor,
        parent,
        jurisdictions,
        laws,
        Method.DECLARED,
        Confidence.MEDIUM if hosted else Confidence.LOW,
        (*evidence, *host.evidence),
    )


def _when(asset: Asset, host: Control) -> datetime:
    """When the endpoint was observed: the time its own evidence carries."""
    first = asset.evidence[0] if asset.evidence else (host.evidence[0] if host.evidence else None)
    return first.observed_at if first is not None else _EPOCH
