"""Microsoft 365 tenants from the public OpenID configuration, served by a real HTTPS server on
127.0.0.1 as login.microsoftonline.com (a loopback DNS server and a test CA make it so)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dns.resolver
import pytest

from sovscan.model import Asset, Confidence, Gap, Method
from sovscan.probes.https import HttpsOptions
from sovscan.probes.tenant import MAX_BODY, M365TenantProbe
from sovscan.resolve import load_knowledge
from sovscan.resolve.resolver import resolve, resolve_all
from tests.probes.https_fixtures import (
    HttpsServer,
    LocalCa,
    Route,
    ca,
    resolver,
    server,
)

__all__ = ["ca", "resolver", "server"]

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TENANT = "6f3c2a1b-9d8e-4f70-a1b2-c3d4e5f60718"
PATH = "/{domain}/v2.0/.well-known/openid-configuration"


def openid(tenant: str = TENANT, scope: str = "NA", **extra: str) -> Route:
    document = {
        "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
        "token_endpoint": f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "tenant_region_scope": scope,
        "cloud_instance_name": "microsoftonline.com",
        **extra,
    }
    return Route(200, (("Content-Type", "application/json"),), json.dumps(document).encode())


INVALID = Route(
    400,
    (("Content-Type", "application/json"),),
    b'{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant not found."}',
)


def route(server: HttpsServer, domain: str, answer: Route) -> None:
    server.routes[PATH.format(domain=domain)] = answer


def collect(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa, *domains: str
) -> list[Asset | Gap]:
    url = f"https://login.microsoftonline.com:{server.port}{PATH}"
    options = HttpsOptions(timeout=2.0, ca_file=ca.ca_file)
    return list(M365TenantProbe(domains, resolver, options, url, clock=lambda: NOW).collect())


def test_domains_of_one_tenant_are_one_asset_with_its_region_scope(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    route(server, "universite.test", openid())
    route(server, "faculte.test", openid())
    route(server, "autre.test", INVALID)
    items = collect(resolver, server, ca, "universite.test", "faculte.test", "autre.test")
    (tenant,) = items
    assert isinstance(tenant, Asset)
    assert tenant.id == f"m365:tenant:{TENANT}"
    assert tenant.kind == "saas.tenant"
    assert tenant.attributes == {
        "provider": "microsoft",
        "tenant_id": TENANT,
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "domains": ("universite.test", "faculte.test"),
    }
    assert [e.source for e in tenant.evidence] == ["https:openid-configuration"] * 2
    assert tenant.evidence[0].detail.endswith(f"tenant {TENANT}, region scope NA")


def test_a_tenant_resolves_to_microsoft_and_its_region_scope_not_a_country(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    route(server, "universite.test", openid(scope="EU", tenant_region_sub_scope="EUDB"))
    (tenant,) = collect(resolver, server, ca, "universite.test")
    assert isinstance(tenant, Asset)
    kb = load_knowledge()
    answer = resolve(tenant, kb)
    assert answer.control.operator == kb.providers["microsoft"].operator
    assert "US" in (answer.control.jurisdictions or ())
    assert answer.location.region == "tenant-scope:EU"
    assert answer.location.country is None
    assert answer.location.method is Method.CLOUD_API
    assert answer.location.confidence is Confidence.MEDIUM
    assert "(EUDB)" in answer.location.evidence[0].detail


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Route(200, (), b"<html>portal</html>"), "is not a JSON object (HTTP 200)"),
        (Route(200, (), b'{"issuer": "https://evil.example/v2.0"}'), "names no tenant id"),
        (Route(503, (), b"{}"), "HTTP 503 from the OpenID endpoint"),
        (Route(200, (), b"{" + b" " * (MAX_BODY + 10) + b"}"), "a body larger than"),
        (Route(200, (), b"[" * 60000), "is not a JSON object (HTTP 200)"),
        (Route(200, (), b"1" * 5000), "is not a JSON object (HTTP 200)"),
        (Route(200, (), b"\xff\xfe{}"), "is not a JSON object (HTTP 200)"),
    ],
    ids=["html", "no-tenant", "503", "oversized", "deep", "huge-number", "not-utf8"],
)
def test_bad_answers_are_gaps(
    resolver: dns.resolver.Resolver,
    server: HttpsServer,
    ca: LocalCa,
    answer: Route,
    reason: str,
) -> None:
    route(server, "universite.test", answer)
    (gap,) = collect(resolver, server, ca, "universite.test")
    assert isinstance(gap, Gap)
    assert gap.scope == "m365-tenant:universite.test"
    assert reason in gap.reason


def test_hostile_fields_are_dropped_not_kept(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    route(server, "universite.test", openid(scope="<script>NA", cloud_instance_name="x" * 900))
    (tenant,) = collect(resolver, server, ca, "universite.test")
    assert isinstance(tenant, Asset)
    assert "tenant_region_scope" not in tenant.attributes
    assert "cloud_instance_name" not in tenant.attributes


def test_tenants_that_differ_only_in_sub_scope_get_their_own_evidence() -> None:
    kb = load_knowledge()
    base = {"provider": "microsoft", "tenant_region_scope": "EU"}

    def tenant(tenant_id: str, **extra: str) -> Asset:
        attributes = {**base, "tenant_id": tenant_id, **extra}
        return Asset(f"m365:tenant:{tenant_id}", "saas.tenant", "t", attributes, ())

    first, second = resolve_all([tenant("a", tenant_region_sub_scope="EUDB"), tenant("b")], kb)
    assert "(EUDB)" in first.location.evidence[0].detail
    assert "(EUDB)" not in second.location.evidence[0].detail
    # The same attributes on another kind are not a tenant.
    other = Asset("saas:x", "saas.endpoint", "x", dict(base), ())
    (answer,) = resolve_all([tenant("c"), other], kb)[1:]
    assert answer.location.region != "tenant-scope:EU"
