"""The SaaS probe resolves each inventory endpoint on the loopback server and keeps its label."""

from __future__ import annotations

from datetime import UTC, datetime

import dns.resolver

from sovscan.config import SaasEndpoint
from sovscan.model import Asset, Confidence, Evidence, Gap
from sovscan.probes.saas import SaasProbe

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def collect(resolver: dns.resolver.Resolver, *endpoints: SaasEndpoint) -> list[Asset | Gap]:
    return list(SaasProbe(endpoints, resolver, clock=lambda: NOW).collect())


def test_an_lms_behind_a_ca_central_1_load_balancer(resolver: dns.resolver.Resolver) -> None:
    items = collect(resolver, SaasEndpoint("LMS", "https://LMS.m365.example/login", "personal"))
    assert items == [
        Asset(
            id="saas:lms.m365.example",
            kind="saas.endpoint",
            name="LMS",
            attributes={
                "hostname": "lms.m365.example",
                "name": "LMS",
                "url": "https://lms.m365.example/login",  # as shown: host in lower case
                "classification": "personal",
                "addresses": ("3.96.112.45", "3.98.201.17"),
                "cname_chain": ("lms-prod-1234567890.ca-central-1.elb.amazonaws.com",),
            },
            evidence=(
                Evidence(
                    "dns:A",
                    "lms.m365.example. 300 IN CNAME "
                    "lms-prod-1234567890.ca-central-1.elb.amazonaws.com. | "
                    "lms-prod-1234567890.ca-central-1.elb.amazonaws.com. 60 IN A 3.96.112.45\n"
                    "lms-prod-1234567890.ca-central-1.elb.amazonaws.com. 60 IN A 3.98.201.17",
                    NOW,
                    Confidence.HIGH,
                ),
                Evidence(
                    "dns:AAAA",
                    "lms.m365.example. 300 IN CNAME "
                    "lms-prod-1234567890.ca-central-1.elb.amazonaws.com.",
                    NOW,
                    Confidence.HIGH,
                ),
            ),
        )
    ]


def test_an_endpoint_that_does_not_exist_is_a_gap_with_its_addresses_unknown(
    resolver: dns.resolver.Resolver,
) -> None:
    # It was an empty address list and no gap: a misspelt [[saas]] url gave a "complete" scan,
    # score 0/100 and exit 0.
    gap, asset = collect(resolver, SaasEndpoint("Old", "https://gone.m365.example", "public"))
    assert gap == Gap(
        "dns:gone.m365.example",
        "the name does not exist (NXDOMAIN); check the [[saas]] url in the inventory",
    )
    assert isinstance(asset, Asset)  # the inventory says it exists: still reported
    assert "addresses" not in asset.attributes  # unknown, not "none"
    assert asset.attributes["cname_chain"] == ()
    assert asset.attributes["classification"] == "public"


def test_an_endpoint_whose_alias_leads_to_no_address_is_a_gap_naming_the_chain_end(
    resolver: dns.resolver.Resolver,
) -> None:
    host = "selector1._domainkey.m365.example"  # a CNAME to a name holding only TXT
    gap, asset = collect(resolver, SaasEndpoint("Odd", f"https://{host}", "personal"))
    end = "selector1-m365-example._domainkey.m365example.onmicrosoft.com"
    assert gap == Gap(
        f"dns:{host}",
        f"the name has no address (no A or AAAA record) (its alias chain ends at {end}); "
        "check the [[saas]] url in the inventory",
    )
    assert isinstance(asset, Asset) and "addresses" not in asset.attributes
    assert asset.attributes["cname_chain"] == (end,)


def test_an_alias_into_a_zone_the_server_refuses_is_a_gap_not_a_missing_address(
    resolver: dns.resolver.Resolver,
) -> None:
    # The server answers with the CNAME alone (provider.example is no zone of its): asking the
    # end is refused, so the addresses are unknown, not absent, and the url is not to blame.
    gap_a, gap_aaaa, asset = collect(
        resolver, SaasEndpoint("App", "https://www.alias.example", "personal")
    )
    reason = "CNAME target foo.provider.example. could not be resolved: REFUSED"
    assert [gap_a, gap_aaaa] == [
        Gap("dns:www.alias.example:A", reason),
        Gap("dns:www.alias.example:AAAA", reason),
    ]
    assert isinstance(asset, Asset) and "addresses" not in asset.attributes
    assert asset.attributes["cname_chain"] == ("foo.provider.example",)
    assert [e.detail.endswith(reason) for e in asset.evidence] == [True, True]


def test_a_failing_lookup_leaves_addresses_unknown_and_is_a_gap(
    impatient: dns.resolver.Resolver,
) -> None:
    items = collect(
        impatient,
        SaasEndpoint("Mail", "https://mx.servfail.example", "personal"),
        SaasEndpoint("Slow", "https://app.timeout.example", "confidential"),
    )
    gaps = [i for i in items if isinstance(i, Gap)]
    assets = [i for i in items if isinstance(i, Asset)]
    assert gaps == [
        Gap("dns:mx.servfail.example:A", "SERVFAIL"),
        Gap("dns:mx.servfail.example:AAAA", "SERVFAIL"),
        Gap("dns:app.timeout.example:A", "timeout: no answer within 0.6s"),
        Gap("dns:app.timeout.example:AAAA", "timeout: no answer within 0.6s"),
    ]
    assert [a.id for a in assets] == ["saas:mx.servfail.example", "saas:app.timeout.example"]
    assert all("addresses" not in a.attributes and a.evidence == () for a in assets)
    # Each gap names its endpoint as the unit it leaves incomplete: "dns:<host>" alone could be
    # a domain's.
    assert [g.unit for g in gaps] == [
        *["saas:mx.servfail.example"] * 2,
        *["saas:app.timeout.example"] * 2,
    ]


def test_the_same_host_twice_is_one_asset_with_the_first_entry(
    resolver: dns.resolver.Resolver,
) -> None:
    items = collect(
        resolver,
        SaasEndpoint("Web", "https://www.gws.example/", "public"),
        SaasEndpoint("Web again", "https://www.gws.example/admin", "personal"),
    )
    assert [(i.id, i.name) for i in items if isinstance(i, Asset)] == [
        ("saas:www.gws.example", "Web")
    ]


def test_an_address_in_the_url_is_taken_as_is_without_a_lookup(
    resolver: dns.resolver.Resolver,
) -> None:
    (asset,) = collect(resolver, SaasEndpoint("Lab", "https://192.0.2.44:8443/app", "internal"))
    assert isinstance(asset, Asset)
    assert asset.id == "saas:192.0.2.44"
    assert asset.attributes["addresses"] == ("192.0.2.44",)
    assert [e.source for e in asset.evidence] == ["inventory:url"]


def test_secrets_in_an_endpoint_url_never_reach_the_asset(resolver: dns.resolver.Resolver) -> None:
    url_with_tokens = "https://admin:P4ss@{}/p;jsessionid=AB?token=S3CR3T#frag"
    for host, shown in (
        ("lms.m365.example", "https://lms.m365.example/p"),
        ("192.0.2.44:8443", "https://192.0.2.44:8443/p"),  # the address path: no lookup
    ):
        items = collect(resolver, SaasEndpoint("LMS", url_with_tokens.format(host), "personal"))
        asset = next(item for item in items if isinstance(item, Asset))
        assert asset.attributes["url"] == shown
        text = repr(asset)
        for secret in ("P4ss", "admin", "jsessionid", "S3CR3T", "frag"):
            assert secret not in text, (host, secret)
