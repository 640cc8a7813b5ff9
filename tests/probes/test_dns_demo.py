"""The embedded demo's zones give the DNS and SaaS probes the estate the demo is meant to show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from sovscan.config import SaasEndpoint
from sovscan.demo import demo_config
from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.engine import default_rules_dir, evaluate, load_rules
from sovscan.model import Asset, Confidence, Gap, Method, ResolvedAsset, Status
from sovscan.probes.dns import DnsProbe
from sovscan.probes.saas import SaasProbe
from sovscan.resolve import default_data_dir, load_knowledge, resolve_all

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
        "dns.mailbox",
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


@pytest.fixture(scope="module")
def resolved(items: list[Asset | Gap]) -> dict[str, ResolvedAsset]:
    assets = [i for i in items if isinstance(i, Asset)]
    return {r.asset.id: r for r in resolve_all(assets, load_knowledge(default_data_dir()))}


def test_faculte_gateway_mailbox_is_microsoft_365_seen_through_proofpoint(
    resolved: dict[str, ResolvedAsset],
) -> None:
    mailbox = resolved["dns:faculte-gateway.example:mailbox"]
    control = mailbox.control
    assert (control.operator, control.parent) == ("Microsoft Corporation", "Microsoft Corporation")
    assert control.jurisdictions == ("US",)
    assert control.laws is not None and "us-cloud-act" in control.laws
    assert (control.method, control.confidence) == (Method.CATALOGUE, Confidence.HIGH)
    decided = control.evidence[0]
    assert decided.source == "resolve:mailbox:dkim"
    assert "facultegateway.onmicrosoft.com" in decided.detail
    assert any("Proofpoint" in e.detail for e in control.evidence if "gateway" in e.source)
    # Microsoft 365 does not publish the tenant's region in DNS: the place stays unknown.
    assert mailbox.location.method is Method.UNKNOWN and mailbox.location.country is None
    # The gateway keeps its own attribution.
    mx = resolved["dns:faculte-gateway.example:mx:mx0a-00000000.pphosted.com"].control
    assert (mx.operator, mx.jurisdictions) == ("Proofpoint, Inc.", ("US",))
    universite = resolved["dns:universite.example:mailbox"].control
    assert (universite.operator, universite.evidence[0].source) == (
        "Microsoft Corporation",
        "resolve:mailbox:mx",
    )


def test_dmarc_reports_abroad_decides_on_the_demo(resolved: dict[str, ResolvedAsset]) -> None:
    dmarcs = [r for r in resolved.values() if r.asset.kind == "dns.dmarc"]
    findings = evaluate(load_rules(default_rules_dir()), dmarcs, demo_config().policy)
    status = {f.asset_id: f.status for f in findings if f.rule_id == "dmarc-reports-abroad"}
    # Agari (Fortra, US) for the university; the faculty's own address, i.e. its Microsoft 365
    # mailbox behind Proofpoint: both under US control, neither left unknown.
    assert status == {
        "dns:universite.example:dmarc": Status.RISK,
        "dns:faculte-gateway.example:dmarc": Status.RISK,
    }
    agari = resolved["dns:universite.example:dmarc"].control
    assert (agari.operator, agari.parent, agari.jurisdictions) == ("Agari", "Fortra LLC", ("US",))
    own = resolved["dns:faculte-gateway.example:dmarc"].control
    assert own.operator == "Microsoft Corporation"
    assert own.evidence[0].source == "resolve:dmarc"
