"""Resolution of assets: location and control, each with its method, confidence and evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from sovscan.model import Asset, Confidence, Method
from sovscan.resolve import KnowledgeBase, RdapNetwork, law_summaries, resolve, resolve_all


def _ip(address: str) -> Asset:
    return Asset(f"ip:{address}", "dns.host", address, {"addresses": (address,)})


def test_montreal_aws_address(kb: KnowledgeBase) -> None:
    r = resolve(_ip("3.96.0.1"), kb)
    loc, ctl = r.location, r.control
    assert (loc.provider, loc.region, loc.country, loc.subdivision) == (
        "aws",
        "ca-central-1",
        "CA",
        "CA-QC",
    )
    assert not loc.edge
    assert loc.method is Method.PUBLISHED_RANGES and loc.confidence is Confidence.HIGH
    assert ctl.operator == "Amazon Web Services, Inc."
    assert ctl.parent == "Amazon.com, Inc."
    assert ctl.jurisdictions == ("US",)
    assert ctl.laws is not None and "us-cloud-act" in ctl.laws
    assert ctl.method is Method.PUBLISHED_RANGES
    assert any("3.96.0.0/15" in e.detail for e in loc.evidence)


def test_s3_bucket_from_the_cloud_api(kb: KnowledgeBase) -> None:
    bucket = Asset(
        "aws:123456789012:s3:research-data",
        "aws.s3.bucket",
        "research-data",
        {"provider": "aws", "partition": "aws", "region": "ca-central-1"},
    )
    r = resolve(bucket, kb)
    assert (r.location.country, r.location.subdivision) == ("CA", "CA-QC")
    assert r.location.method is Method.CLOUD_API and r.location.confidence is Confidence.HIGH
    assert r.control.jurisdictions is not None and "US" in r.control.jurisdictions
    assert r.control.laws is not None and "us-cloud-act" in r.control.laws
    assert all(e.observed_at.tzinfo is UTC for e in r.location.evidence + r.control.evidence)


@pytest.mark.parametrize(
    ("provider", "region", "subdivision"),
    [
        ("aws", "ca-west-1", "CA-AB"),
        ("microsoft", "canadaeast", "CA-QC"),
        ("microsoft", "canadacentral", "CA-ON"),
        ("google", "northamerica-northeast1", "CA-QC"),
        ("google", "northamerica-northeast2", "CA-ON"),
        ("oracle", "ca-montreal-1", "CA-QC"),
        ("oracle", "ca-toronto-1", "CA-ON"),
    ],
)
def test_canadian_regions_have_their_province(
    kb: KnowledgeBase, provider: str, region: str, subdivision: str
) -> None:
    asset = Asset("a", "cloud.thing", "a", {"provider": provider, "region": region})
    loc = resolve(asset, kb).location
    assert (loc.country, loc.subdivision) == ("CA", subdivision)


@pytest.mark.parametrize(
    ("partition", "region", "operator_word", "jurisdiction", "law"),
    [
        ("aws-eusc", "eusc-de-east-1", "Sovereign", "DE", "us-cloud-act"),
        ("aws-cn", "cn-north-1", "Sinnet", "CN", "cn-nil"),
        ("aws-cn", "cn-northwest-1", "NWCD", "CN", "cn-nil"),
        ("aws-us-gov", "us-gov-west-1", "Amazon Web Services", "US", "us-cloud-act"),
    ],
)
def test_partitions_change_the_operator(
    kb: KnowledgeBase, partition: str, region: str, operator_word: str, jurisdiction: str, law: str
) -> None:
    asset = Asset(
        "a", "aws.s3.bucket", "a", {"provider": "aws", "partition": partition, "region": region}
    )
    r = resolve(asset, kb)
    assert r.control.operator is not None and operator_word in r.control.operator
    assert r.control.jurisdictions is not None and r.control.jurisdictions[0] == jurisdiction
    assert r.control.laws is not None and law in r.control.laws
    assert r.location.country == ("DE" if partition == "aws-eusc" else jurisdiction)


def test_eusc_parent_is_still_amazon(kb: KnowledgeBase) -> None:
    asset = Asset(
        "a",
        "aws.s3.bucket",
        "a",
        {"provider": "aws", "partition": "aws-eusc", "region": "eusc-de-east-1"},
    )
    ctl = resolve(asset, kb).control
    assert ctl.parent == "Amazon.com, Inc."
    assert ctl.jurisdictions is not None and "US" in ctl.jurisdictions


def test_local_zone_in_another_country_than_its_parent_region(kb: KnowledgeBase) -> None:
    groups = {key[1]: place for key, place in kb.regions.items() if key[0] == "aws"}
    assert groups["us-east-1-bue-1"].country == "AR"
    asset = Asset("a", "aws.ec2.instance", "a", {"provider": "aws", "region": "us-east-1-bue-1"})
    assert resolve(asset, kb).location.country == "AR"


@pytest.mark.parametrize(
    ("address", "provider"),
    [
        ("13.32.0.1", "aws"),  # CloudFront
        ("99.84.0.1", "aws"),  # CloudFront
        ("104.16.0.1", "cloudflare"),
        ("2606:4700::1", "cloudflare"),
        ("151.101.1.1", "fastly"),  # offline, Fastly is known by its ASN only
    ],
)
def test_global_edges_claim_no_country(kb: KnowledgeBase, address: str, provider: str) -> None:
    loc = resolve(_ip(address), kb).location
    assert loc.edge and loc.provider == provider
    assert loc.country is None and loc.subdivision is None
    assert loc.method in (Method.PUBLISHED_RANGES, Method.ASN_TABLE)


@pytest.mark.parametrize(
    ("address", "operator_word"),
    [
        ("24.200.0.1", "Vidéotron"),
        ("24.235.7.1", "Micro Logic"),
        ("64.15.64.1", "eStruxture"),
    ],
)
def test_quebec_provider_addresses_have_a_canadian_operator(
    kb: KnowledgeBase, address: str, operator_word: str
) -> None:
    r = resolve(_ip(address), kb)
    assert r.control.operator is not None and operator_word in r.control.operator
    assert r.control.jurisdictions is not None and set(r.control.jurisdictions) <= {"CA", "CA-QC"}
    assert r.control.laws == ()
    assert r.control.method is Method.ASN_TABLE
    # An ASN says who routes the network, not where the data is.
    assert r.location.country is None and r.location.method is Method.UNKNOWN
    assert any("not where data is" in e.detail for e in r.location.evidence)


@pytest.mark.parametrize(
    ("address", "operator"),
    [("132.203.0.1", "Universite Laval"), ("142.80.0.1", "Government of Quebec")],
)
def test_quebec_public_bodies_asns_answer_to_quebec(
    kb: KnowledgeBase, address: str, operator: str
) -> None:
    """Their rows named only CA, while RISQ and Vidéotron's name CA-QC: a Quebec institution's
    own network read as merely Canadian."""
    control = resolve(_ip(address), kb).control
    assert control.operator == operator
    assert control.jurisdictions == ("CA-QC",)


def test_cologix_canada_has_a_us_parent(kb: KnowledgeBase) -> None:
    cologix = kb.providers["cologix"]
    assert "US" in cologix.jurisdictions and "CA" in cologix.jurisdictions


@pytest.mark.parametrize(
    ("address", "operator", "jurisdictions"),
    [
        # AS32613 is Leaseweb Canada's own (Montréal): Canadian law reaches it, Dutch law its
        # parent.
        ("23.26.32.10", "Leaseweb Canada Inc.", {"CA", "NL", "EU"}),
        ("2.56.100.10", "Leaseweb Netherlands B.V.", {"NL", "EU"}),
    ],
)
def test_leaseweb_canada_is_told_apart_by_its_own_as(
    kb: KnowledgeBase, address: str, operator: str, jurisdictions: set[str]
) -> None:
    r = resolve(_ip(address), kb)
    assert r.control.operator == operator
    assert r.control.parent == "Leaseweb Global B.V."
    assert set(r.control.jurisdictions or ()) == jurisdictions


@pytest.mark.parametrize(
    ("address", "operator", "parent"),
    [
        # AS2200 read "Renater: operator's parent and home unknown"; AS50624 control-unknown.
        ("81.194.0.1", "GIP RENATER", "GIP RENATER"),
        ("5.104.96.1", "3DS OUTSCALE", "Dassault Systèmes SE"),
        # A French OVH address read "OVH SAS (OVH Hosting Inc. in Canada)".
        ("2.26.132.1", "OVH SAS", "OVH Groupe SA"),
    ],
)
def test_french_operators_answer_to_france_and_the_eu(
    kb: KnowledgeBase, address: str, operator: str, parent: str
) -> None:
    control = resolve(_ip(address), kb).control
    assert (control.operator, control.parent) == (operator, parent)
    assert control.jurisdictions == ("FR", "EU")
    assert control.laws is not None and "eu-e-evidence" in control.laws


@pytest.mark.parametrize("address", ["10.0.0.1", "192.0.2.1", "2001:db8::1", "not-an-ip"])
def test_unknown_addresses_stay_unknown(kb: KnowledgeBase, address: str) -> None:
    r = resolve(_ip(address), kb)
    assert r.location.country is None and r.location.method is Method.UNKNOWN
    assert r.location.confidence is Confidence.NONE
    assert r.control.jurisdictions is None and r.control.laws is None
    assert r.control.method is Method.UNKNOWN
    assert r.location.evidence and r.control.evidence  # what was tried is recorded


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.1", "a private address (RFC 1918)"),
        ("172.31.255.255", "a private address (RFC 1918)"),
        ("192.168.1.1", "a private address (RFC 1918)"),
        ("100.64.0.1", "a carrier-grade NAT address (RFC 6598)"),
        ("192.0.2.1", "a documentation address (RFC 5737)"),
        ("127.0.0.1", "a loopback address"),
        ("fd12:3456::1", "a unique local address (RFC 4193)"),
        ("2001:db8::1", "a documentation address (RFC 3849)"),
        ("::ffff:10.1.2.3", "a private address (RFC 1918), mapped into IPv6"),
    ],
)
def test_a_special_use_address_is_named_in_the_evidence(
    kb: KnowledgeBase, address: str, kind: str
) -> None:
    # The unknown is the nature of the address, not a hole in sovscan's data: say so.
    r = resolve(_ip(address), kb)
    assert r.location.method is Method.UNKNOWN and r.control.method is Method.UNKNOWN
    for evidence in (*r.location.evidence, *r.control.evidence):
        assert f": {kind}, not reachable from the internet" in evidence.detail


@pytest.mark.parametrize("address", ["172.32.0.1", "11.0.0.1", "100.128.0.1", "2001:db9::1"])
def test_a_routable_address_outside_every_range_is_not_called_special(
    kb: KnowledgeBase, address: str
) -> None:
    r = resolve(_ip(address), kb)
    details = [e.detail for e in (*r.location.evidence, *r.control.evidence)]
    assert details and all("not reachable" not in detail for detail in details)


@pytest.mark.parametrize(("partition", "offer"), [("aws", "aws"), ("aws-eusc", "aws-eusc")])
def test_an_account_has_its_partitions_offer_and_no_place(
    kb: KnowledgeBase, partition: str, offer: str
) -> None:
    account = Asset(
        "aws:123456789012:account",
        "aws.account",
        "123456789012",
        {"provider": "aws", "partition": partition, "account": "123456789012"},
    )
    r = resolve(account, kb)
    assert (r.location.provider, r.location.region, r.location.country) == (offer, None, None)
    assert r.location.method is Method.CLOUD_API
    assert r.control.operator == kb.providers[offer].operator


@pytest.mark.parametrize(
    ("attributes", "offer"),
    [
        ({"partition": "aws-eusc", "region": "eusc-de-east-1"}, "aws-eusc"),
        # CloudFront and other edge services carry the pseudo-region GLOBAL: the partition decides.
        ({"partition": "aws-eusc", "region": "GLOBAL"}, "aws-eusc"),
        # No partition: the region table's row for the region names it.
        ({"region": "eusc-de-east-1"}, "aws-eusc"),
        ({"partition": "aws-cn", "region": "cn-north-1"}, "aws-cn-sinnet"),
        ({"partition": "aws", "region": "eu-central-1"}, "aws"),
    ],
)
def test_every_asset_of_an_offer_names_the_offer_as_its_provider(
    kb: KnowledgeBase, attributes: dict[str, str], offer: str
) -> None:
    """Only the account named aws-eusc, so a sovereign-cloud bucket passed the rule about
    sovereign offers (it reads location.provider) as plain AWS."""
    bucket = Asset("a", "aws.s3.bucket", "a", {"provider": "aws", **attributes})
    r = resolve(bucket, kb)
    assert r.location.provider == offer
    assert r.control.operator == kb.providers[offer].operator


def test_an_asset_with_nothing_to_resolve(kb: KnowledgeBase) -> None:
    r = resolve(Asset("x", "saas.endpoint", "x", {}), kb)
    assert r.location.method is Method.UNKNOWN and r.control.method is Method.UNKNOWN


@pytest.mark.parametrize(
    ("host", "operator"),
    [
        ("universite-example.mail.protection.outlook.com", "Microsoft Corporation"),
        ("ns-1234.awsdns-12.org", "Amazon Web Services, Inc."),
        ("ns-12.awsdns-01.co.uk", "Amazon Web Services, Inc."),
        ("mx0a-001.pphosted.com", "Proofpoint, Inc."),
        ("selector1-univ._domainkey.univ.onmicrosoft.com", "Microsoft Corporation"),
        ("d111111abcdef8.cloudfront.net", "Amazon Web Services, Inc."),
    ],
)
def test_hostname_fingerprints(kb: KnowledgeBase, host: str, operator: str) -> None:
    r = resolve(Asset("h", "dns.mx", host, {"hostname": host}), kb)
    assert r.control.operator == operator
    assert r.control.method is Method.CATALOGUE


@pytest.mark.parametrize(
    "host",
    [
        "cloudfront.net.evil.example",
        "d111.cloudfront.net.evil.example",
        "evilcloudfront.net",
        "mail.protection.outlook.com.attacker.example",
        "awsdns-12.org.example",
        "xpphosted.com",
    ],
)
def test_hostname_patterns_are_anchored_on_labels(kb: KnowledgeBase, host: str) -> None:
    r = resolve(Asset("h", "dns.host", host, {"hostname": host}), kb)
    assert r.control.method is Method.UNKNOWN
    assert not r.location.edge


@pytest.mark.parametrize(
    ("cname", "provider", "region", "subdivision"),
    [
        ("lb-123.ca-central-1.elb.amazonaws.com", "aws", "ca-central-1", "CA-QC"),
        ("web.canadacentral.cloudapp.azure.com", "microsoft", "canadacentral", "CA-ON"),
        ("bucket.s3.ca-west-1.amazonaws.com", "aws", "ca-west-1", "CA-AB"),
    ],
)
def test_regions_in_hostnames(
    kb: KnowledgeBase, cname: str, provider: str, region: str, subdivision: str
) -> None:
    asset = Asset(
        "h",
        "dns.host",
        "www.universite.example",
        {"hostname": "www.universite.example", "cname_chain": (cname,)},
    )
    r = resolve(asset, kb)
    loc = r.location
    assert (loc.provider, loc.region, loc.subdivision) == (provider, region, subdivision)
    assert loc.method is Method.HOSTNAME_REGION
    assert r.control.laws is not None and "us-cloud-act" in r.control.laws


def test_a_fake_region_in_a_hostname_is_not_a_place(kb: KnowledgeBase) -> None:
    host = "lb.moon-base-1.elb.amazonaws.com"
    r = resolve(Asset("h", "dns.host", host, {"hostname": host}), kb)
    assert r.location.country is None
    assert r.control.operator == "Amazon Web Services, Inc."


def test_mimecast_grid_prefix(kb: KnowledgeBase) -> None:
    host = "ca-smtp-inbound-1.mimecast.com"
    r = resolve(Asset("h", "dns.mx", host, {"hostname": host}), kb)
    assert r.location.country == "CA" and r.location.method is Method.HOSTNAME_REGION
    assert r.control.jurisdictions == ("GB",) and r.control.laws == ("uk-ipa", "eu-e-evidence")


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        ("MS=ms12345678", "Microsoft Corporation"),
        ("google-site-verification=abcDEF123", "Google LLC"),
        ("ZOOM_verify_abc123", "Zoom Communications, Inc."),
        ("atlassian-domain-verification=xyz", "Atlassian US, Inc."),
        ("docusign=1234-5678", "DocuSign, Inc."),
        ("adobe-idp-site-verification=abc", "Adobe Inc."),
        ("pardot_12345_*=abc", "Salesforce, Inc."),
        ("v=spf1 include:spf.protection.outlook.com -all", "Microsoft Corporation"),
    ],
)
def test_txt_tokens_give_control_only(kb: KnowledgeBase, text: str, operator: str) -> None:
    r = resolve(Asset("t", "dns.txt", "t", {"text": text}), kb)
    assert r.control.operator == operator
    assert r.control.method is Method.CATALOGUE
    assert r.location.country is None and r.location.method is Method.UNKNOWN


def test_vendor_outside_the_catalogue_gets_its_home_laws(kb: KnowledgeBase) -> None:
    r = resolve(Asset("t", "dns.txt", "t", {"text": "yandex-verification: 123"}), kb)
    assert r.control.jurisdictions == ("RU",)
    assert r.control.laws == ("ru-yarovaya",)


def test_saas_on_aws_carries_the_hosts_laws(kb: KnowledgeBase) -> None:
    asset = Asset(
        "s",
        "saas.endpoint",
        "lms",
        {"hostname": "lms.universite.example", "cname_chain": ("univ.brightspace.com",)},
    )
    ctl = resolve(asset, kb).control
    assert ctl.operator == "D2L Corporation"
    assert ctl.jurisdictions is not None and {"CA", "US"} <= set(ctl.jurisdictions)
    assert ctl.laws is not None and "us-cloud-act" in ctl.laws
    assert any("runs on Amazon Web Services" in e.detail for e in ctl.evidence)


def test_conflicting_signals_are_recorded(kb: KnowledgeBase) -> None:
    # The API says Montréal but the address is in Frankfurt: keep the API, record the conflict.
    frankfurt = kb.index.lookup("3.120.0.1")
    assert frankfurt.cloud is not None and frankfurt.cloud.region == "eu-central-1"
    asset = Asset(
        "a",
        "aws.ec2.instance",
        "a",
        {"provider": "aws", "region": "ca-central-1", "addresses": ("3.120.0.1",)},
    )
    loc = resolve(asset, kb).location
    assert loc.method is Method.CLOUD_API and loc.subdivision == "CA-QC"
    assert any(e.source == "resolve:conflict" and "DE" in e.detail for e in loc.evidence)


def test_a_saas_vendor_on_a_cloud_is_the_operator_not_the_cloud(kb: KnowledgeBase) -> None:
    # The address is AWS's and ranks first; it made D2L's Brightspace "run by Amazon Web
    # Services, Inc.", D2L appearing only as a conflict. The vendor runs the service; the
    # cloud's laws still reach it, and the cloud is named as its infrastructure.
    asset = Asset(
        "saas:portail.u.example",
        "saas.endpoint",
        "Portail",
        {
            "hostname": "portail.u.example",
            "cname_chain": ("u.brightspace.com",),
            "addresses": ("3.96.0.10",),
        },
    )
    resolved = resolve(asset, kb)
    control = resolved.control
    assert control.operator == "D2L Corporation"
    assert control.jurisdictions is not None and {"CA", "US"} <= set(control.jurisdictions)
    assert control.laws is not None and "us-cloud-act" in control.laws
    infrastructure = [e.detail for e in control.evidence if e.source == "resolve:infrastructure"]
    assert infrastructure == [
        "D2L Corporation runs on Amazon Web Services, Inc. (published-ranges, jurisdictions US)"
    ]
    assert not any(e.source == "resolve:conflict" for e in control.evidence)
    assert resolved.location.subdivision == "CA-QC"  # its front end, from the address
    # The same address without the vendor's name is AWS's alone.
    bare = resolve(Asset("ip", "dns.host", "ip", {"addresses": ("3.96.0.10",)}), kb).control
    assert bare.operator == "Amazon Web Services, Inc."


def test_a_declared_storage_place_is_kept_beside_the_place_seen(kb: KnowledgeBase) -> None:
    # The declaration once replaced the observed location: a CloudFront front end lost its
    # edge and provider (global-edge-sensitive-data turned ok), a Virginia one its place.
    seen = {"hostname": "lms.u.example", "addresses": ("13.32.0.10",)}
    plain = resolve(Asset("saas:lms.u.example", "saas.endpoint", "lms", seen), kb).location
    declared = resolve(
        Asset("saas:lms.u.example", "saas.endpoint", "lms", {**seen, "data_location": "CA-QC"}),
        kb,
    ).location
    assert plain.edge and plain.provider == "aws" and plain.declared is None
    assert declared == replace(plain, declared="CA-QC")


def test_agreeing_signals_are_kept_as_evidence(kb: KnowledgeBase) -> None:
    asset = Asset(
        "h",
        "dns.host",
        "www",
        {
            "hostname": "www.u.example",
            "cname_chain": ("lb.ca-central-1.elb.amazonaws.com",),
            "addresses": ("3.98.1.1",),
        },
    )
    loc = resolve(asset, kb).location
    assert loc.method is Method.PUBLISHED_RANGES
    assert {e.source for e in loc.evidence} >= {
        "published-ranges:aws-ip-ranges",
        "catalogue:hostnames",
    }
    assert not any(e.source == "resolve:conflict" for e in loc.evidence)


def test_resolve_all_keeps_order(kb: KnowledgeBase) -> None:
    assets = [_ip("3.96.0.1"), _ip("10.0.0.1"), _ip("104.16.0.1"), _ip("3.96.0.1")]
    out = resolve_all(assets, kb)
    assert [r.asset for r in out] == assets
    assert [r.location.country for r in out] == ["CA", None, None, "CA"]


def test_hostile_attributes_are_bounded(kb: KnowledgeBase) -> None:
    host = "a." * 5000 + "example"
    asset = Asset(
        "h", "dns.host", "h", {"hostname": host, "addresses": tuple(["x" * 10_000] * 500)}
    )
    r = resolve(asset, kb)
    assert all(len(e.detail) <= 512 for e in r.location.evidence + r.control.evidence)
    assert len(r.location.evidence) <= 40


class _FakeRdap:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def lookup(self, address: str) -> RdapNetwork | None:
        self.calls.append(address)
        return RdapNetwork.make(
            "192.0.2.0/24", "EXAMPLE-NET", "Example Hosting Inc.", "ca", None, "arin"
        )


def test_rdap_only_for_what_offline_data_does_not_know(kb: KnowledgeBase) -> None:
    rdap = _FakeRdap()
    out = resolve_all([_ip("192.0.2.1"), _ip("192.0.2.1"), _ip("3.96.0.1")], kb, rdap)
    assert rdap.calls == ["192.0.2.1"]  # once per address, never for a known one
    ctl = out[0].control
    assert ctl.operator == "Example Hosting Inc." and ctl.method is Method.RDAP
    assert ctl.confidence is Confidence.LOW
    assert ctl.jurisdictions is None  # a registrant country is not the parent's home
    assert "registrant country CA" in ctl.evidence[0].detail


def test_law_summaries(kb: KnowledgeBase) -> None:
    laws = law_summaries(kb)
    assert laws["us-cloud-act"]["citation"].startswith("18 U.S.C. § 2713")
    assert "1881a" in laws["us-fisa-702"]["citation"]
    assert "art. 7" in laws["cn-nil"]["citation"]
    assert set(laws["us-cloud-act"]) == {"name", "jurisdiction", "citation", "reach"}


def test_wavelength_address_announced_by_a_carrier(kb: KnowledgeBase) -> None:
    # AWS publishes this Wavelength prefix; Verizon announces it. The published range wins and
    # the carrier's ASN is kept as a conflicting signal (ASN is not provider).
    r = resolve(_ip("155.146.88.1"), kb)
    assert r.location.region == "us-east-1-wl1-mia-wlz-1" and r.location.subdivision == "US-FL"
    assert r.control.operator == "Amazon Web Services, Inc."
    assert r.control.method is Method.PUBLISHED_RANGES
    assert any(e.source == "resolve:conflict" and "Verizon" in e.detail for e in r.control.evidence)


def test_aws_china_address_is_operated_in_china(kb: KnowledgeBase) -> None:
    r = resolve(_ip("54.222.88.129"), kb)
    assert r.location.country == "CN" and r.location.method is Method.PUBLISHED_RANGES
    assert r.control.jurisdictions == ("CN",) and r.control.laws is not None
    assert "cn-nil" in r.control.laws and "Sinnet" in (r.control.operator or "")


_OFFERS = {
    "cn-north-1": "aws-cn-sinnet",
    "cn-northwest-1": "aws-cn-nwcd",
    "eusc-de-east-1": "aws-eusc",
}


@pytest.mark.parametrize("address", ["51.0.31.128", "2001:3fc7:1880::"])
def test_a_sovereign_cloud_address_names_the_sovereign_cloud(
    kb: KnowledgeBase, address: str
) -> None:
    """AWS publishes the European Sovereign Cloud's ranges with its own: the region says whose."""
    r = resolve(_ip(address), kb)
    assert (r.location.provider, r.location.region) == ("aws-eusc", "eusc-de-east-1")
    assert r.control.operator == kb.providers["aws-eusc"].operator


def test_every_published_region_resolves_to_its_place(kb: KnowledgeBase) -> None:
    # One address per AWS border group, Azure region and GCP region (tests/resolve/data).
    samples = json.loads((Path(__file__).parent / "data" / "samples.json").read_text("utf-8"))
    results = resolve_all([_ip(s["address"]) for s in samples], kb)
    unplaced = []
    for sample, r in zip(samples, results, strict=True):
        loc = r.location
        assert loc.method is Method.PUBLISHED_RANGES, sample
        # A region another catalogue entry operates names that offer, not the range's publisher.
        assert loc.provider == _OFFERS.get(sample["region"], sample["provider"])
        if sample["edge"]:
            assert loc.edge and loc.country is None
            continue
        if not sample["region"]:  # only in the global AzureCloud tag: no region published
            assert loc.country is None and loc.confidence is Confidence.LOW
            continue
        place = kb.regions.get((sample["provider"], sample["region"]))
        assert place is not None, f"{sample['provider']} {sample['region']} not in regions.csv"
        assert loc.region == sample["region"]
        assert loc.country == place.country and loc.subdivision == place.subdivision
        if place.country is None:
            assert loc.confidence is Confidence.LOW
            unplaced.append(sample["region"])
    # Only regions whose place is not published stay without a country.
    assert set(unplaced) <= {"us-south-1", "us-east-2-jan-1", "northeurope2", "europe-west15"}


def test_fingerprint_caveats_reach_the_evidence(kb: KnowledgeBase) -> None:
    r = resolve(Asset("t", "dns.txt", "t", {"text": "google-site-verification=abc"}), kb)
    assert any("not proof of Workspace mail" in e.detail for e in r.control.evidence)


def test_shared_names_are_resolved_once_with_each_asset_kept(kb: KnowledgeBase) -> None:
    host = "universite-example.mail.protection.outlook.com"
    a = Asset("dns:a.example:mx:h", "dns.mx", host, {"hostname": host, "domain": "a.example"})
    b = Asset("dns:b.example:mx:h", "dns.mx", host, {"hostname": host, "domain": "b.example"})
    weird = Asset("w", "dns.host", "w", {"hostname": ["not", "a", "tuple"]})  # type: ignore[dict-item]
    out = resolve_all([a, b, weird], kb)
    assert [r.asset for r in out] == [a, b, weird]
    assert out[0].control == out[1].control and out[0].control.operator == "Microsoft Corporation"
    assert out[2].control.method is Method.UNKNOWN


OVH_ADDRESS = "51.91.20.20"  # announced by OVH's AS16276: the catalogue's hosting company


def _endpoint(**attributes: object) -> Asset:
    seen = {"hostname": "app.edtech.example", "addresses": (OVH_ADDRESS,), **attributes}
    return Asset("saas:app.edtech.example", "saas.endpoint", "EdTech", seen)  # type: ignore[arg-type]


def test_a_saas_endpoint_s_host_is_not_taken_for_its_vendor(kb: KnowledgeBase) -> None:
    # A US vendor renting servers at OVH: the address names OVH (France), and
    # foreign-law-reach said ok. Who controls the data is the vendor, whom no address names.
    control = resolve(_endpoint(), kb).control
    assert control.operator is not None and control.operator.startswith("OVH SAS")
    assert control.jurisdictions == ("FR", "EU")  # the host's reach is real, and kept
    assert control.confidence is Confidence.LOW  # as the vendor: an inference
    note = control.evidence[-1]
    assert note.source == "resolve:saas-vendor" and "vendor is not identified" in note.detail
    # The same address as a host of the institution's own domain is OVH's, as before.
    own = resolve(Asset("h", "dns.host", "h", {"addresses": (OVH_ADDRESS,)}), kb).control
    assert own.confidence is Confidence.MEDIUM
    assert not any(e.source == "resolve:saas-vendor" for e in own.evidence)


def test_a_declared_saas_vendor_adds_its_laws_to_the_host_s(kb: KnowledgeBase) -> None:
    declared = {
        "vendor": "EdTech Inc.",
        "vendor_parent": "EdTech Holdings Inc.",
        "vendor_jurisdictions": ("US",),
        "vendor_basis": "contract s. 12",
    }
    control = resolve(_endpoint(**declared), kb).control
    assert (control.operator, control.parent) == ("EdTech Inc.", "EdTech Holdings Inc.")
    assert control.jurisdictions == ("US", "FR", "EU")  # both can be compelled
    assert control.laws is not None and {"us-cloud-act", "eu-e-evidence"} <= set(control.laws)
    assert (control.method, control.confidence) == (Method.DECLARED, Confidence.MEDIUM)
    sources = [e.source for e in control.evidence]
    assert sources[:2] == ["inventory:vendor", "resolve:saas-host"]
    assert "contract s. 12" in control.evidence[0].detail
    # A vendor at home on a host at home: known and confirmed.
    french = {**declared, "vendor_jurisdictions": ("FR", "EU"), "vendor_parent": None}
    control = resolve(_endpoint(**{k: v for k, v in french.items() if v}), kb).control
    assert control.jurisdictions == ("FR", "EU") and control.confidence is Confidence.MEDIUM
    assert control.parent is None
    # With no address, whose servers hold the data is unknown: never confirmed.
    hostless = {k: v for k, v in french.items() if v}
    unhosted = resolve(
        Asset("saas:x.example", "saas.endpoint", "x", hostless),  # type: ignore[arg-type]
        kb,
    ).control
    assert unhosted.jurisdictions == ("FR", "EU") and unhosted.confidence is Confidence.LOW


def test_a_catalogued_saas_vendor_stays_confirmed(kb: KnowledgeBase) -> None:
    asset = Asset(
        "saas:portail.u.example",
        "saas.endpoint",
        "Portail",
        {"hostname": "portail.u.example", "cname_chain": ("u.brightspace.com",)},
    )
    control = resolve(asset, kb).control
    assert control.operator == "D2L Corporation" and control.confidence is not Confidence.LOW


PLANETHOSTER_ADDRESS = "64.95.196.1"  # AS53589: an AS-table row marked low ("verify")


def test_a_declared_vendor_does_not_confirm_a_host_known_only_by_inference(
    kb: KnowledgeBase,
) -> None:
    # The host's laws reach the data it holds too; a host at home only by a low AS-table row
    # (PlanetHoster: address space in FR, CA and CH) is an inference, which the vendor's
    # declaration does not make confirmed: foreign-law-reach must say unknown, not ok.
    declared = {
        "vendor": "EdTech Québec inc.",
        "vendor_jurisdictions": ("CA-QC", "CA"),
        "vendor_basis": "contract s. 12",
        "addresses": (PLANETHOSTER_ADDRESS,),
    }
    host = resolve(Asset("h", "dns.host", "h", {"addresses": (PLANETHOSTER_ADDRESS,)}), kb)
    assert host.control.jurisdictions == ("CA",) and host.control.confidence is Confidence.LOW
    control = resolve(_endpoint(**declared), kb).control
    assert control.operator == "EdTech Québec inc." and control.jurisdictions == ("CA-QC", "CA")
    assert control.confidence is Confidence.LOW
    assert any(
        e.source == "resolve:saas-host" and "inference" in e.detail for e in control.evidence
    )


@pytest.mark.parametrize(
    ("target", "operator", "named"),
    [
        ("docs.gitbook.io", "GitBook", True),  # a product's own zone names its vendor
        ("d1.cloudfront.net", "Amazon Web Services, Inc.", False),  # a CDN's zone does not
    ],
)
def test_a_name_into_a_product_s_zone_names_the_vendor(
    kb: KnowledgeBase, target: str, operator: str, named: bool
) -> None:
    seen = {"hostname": "x.u.example", "cname_chain": (target,)}
    control = resolve(Asset("saas:x.u.example", "saas.endpoint", "x", seen), kb).control
    assert control.operator is not None and control.operator.startswith(operator)
    assert (control.confidence is not Confidence.LOW) == named
    assert any(e.source == "resolve:saas-vendor" for e in control.evidence) != named
