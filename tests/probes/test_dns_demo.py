"""The embedded demo's zones give the DNS and SaaS probes the estate the demo is meant to show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from sovscan.config import SaasEndpoint
from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.model import Asset, Gap
from sovscan.probes.dns import DnsProbe
from sovscan.probes.saas import SaasProbe

DEMO_ZONES = Path(__file__).resolve().parents[2] / "sovscan" / "demo" / "zones"


@pytest.fixture(scope="module")
def items() -> Iterator[list[Asset | Gap]]:
    with ZoneServer.from_directory(DEMO_ZONES) as server:
        resolver: dns.resolver.Resolver = make_resolver(server.host, server.port)
        domains = ["universite.example", "faculte-gateway.example"]
        found = list(DnsProbe(domains, ["lms"], resolver).collect())
        endpoints = [
            SaasEndpoint("LMS", "https://lms.universite.example", "personal"),
            SaasEndpoint("Zoom", "https://universite-example.zoom.us", "personal"),
        ]
        found += SaasProbe(endpoints, resolver).collect()
        yield found


def attrs(items: list[Asset | Gap], asset_id: str) -> dict[str, object]:
    return next(dict(i.attributes) for i in items if isinstance(i, Asset) and i.id == asset_id)


def test_the_demo_sees_everything_without_a_gap(items: list[Asset | Gap]) -> None:
    assert [i for i in items if isinstance(i, Gap)] == []
    kinds = sorted({i.kind for i in items if isinstance(i, Asset)})
    assert kinds == [
        "dns.caa",
        "dns.dkim",
        "dns.dmarc",
        "dns.host",
        "dns.mx",
        "dns.ns",
        "dns.soa",
        "dns.spf",
        "dns.txt",
        "saas.endpoint",
    ]


def test_universite_mail_on_microsoft_365_and_dns_on_route_53(items: list[Asset | Gap]) -> None:
    mx = attrs(items, "dns:universite.example:mx:universite-example.mail.protection.outlook.com")
    assert mx["addresses"] == ("40.107.22.49", "104.47.51.20")
    ns = sorted(
        i.name
        for i in items
        if isinstance(i, Asset) and i.kind == "dns.ns" and i.id.startswith("dns:universite.")
    )
    assert ns == [
        "ns-1234.awsdns-12.org",
        "ns-1890.awsdns-07.co.uk",
        "ns-567.awsdns-34.com",
        "ns-89.awsdns-56.net",
    ]
    tokens = sorted(
        i.id.rsplit(":", 1)[1]
        for i in items
        if isinstance(i, Asset) and i.kind == "dns.txt" and i.id.startswith("dns:universite.")
    )
    assert tokens == [
        "atlassian-domain-verification",
        "docusign",
        "google-site-verification",
        "ms",
        "zoom_verify",
    ]
    dmarc = attrs(items, "dns:universite.example:dmarc")
    assert dmarc["report_domains"] == ("rua.agari.com", "ruf.agari.com")
    dkim = attrs(items, "dns:universite.example:dkim:selector1")
    assert dkim["cname_chain"] == (
        "selector1-universite-example._domainkey.universiteexample.onmicrosoft.com",
    )
    assert dkim["tenant"] == "universiteexample.onmicrosoft.com"


def test_lms_and_www_on_a_ca_central_1_load_balancer(items: list[Asset | Gap]) -> None:
    elb = ("lms-prod-1234567890.ca-central-1.elb.amazonaws.com",)
    for asset_id in (
        "dns:universite.example:host:www.universite.example",
        "dns:universite.example:host:lms.universite.example",
        "saas:lms.universite.example",
    ):
        found = attrs(items, asset_id)
        assert (found["cname_chain"], found["addresses"]) == (elb, ("3.96.112.45", "3.98.201.17"))
    assert attrs(items, "saas:lms.universite.example")["classification"] == "personal"
    zoom = attrs(items, "saas:universite-example.zoom.us")
    assert (zoom["cname_chain"], zoom["addresses"]) == (("zoom.us",), ("206.247.115.10",))


def test_faculte_gateway_proofpoint_in_front_of_microsoft_365(items: list[Asset | Gap]) -> None:
    mx = sorted(
        i.name
        for i in items
        if isinstance(i, Asset) and i.kind == "dns.mx" and i.id.startswith("dns:faculte")
    )
    assert mx == ["mx0a-00000000.pphosted.com", "mx0b-00000000.pphosted.com"]
    spf = attrs(items, "dns:faculte-gateway.example:spf")
    assert spf["spf_includes"] == ("spf.protection.outlook.com", "spf-00000000.pphosted.com")
    autodiscover = attrs(
        items, "dns:faculte-gateway.example:host:autodiscover.faculte-gateway.example"
    )
    assert autodiscover["cname_chain"] == ("autodiscover.outlook.com",)
    ns = attrs(items, "dns:faculte-gateway.example:ns:ada.ns.cloudflare.com")
    assert ns["addresses"] == ("173.245.58.101",)
