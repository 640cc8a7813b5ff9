"""The DNS probe against fixture zones that mirror real set-ups, through dnspython's real client."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import dns.resolver
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.model import Asset, Confidence, Gap
from sovscan.probes.dns import DnsProbe, dmarc_report_domains, verification_key
from sovscan.probes.dnslookup import Lookup, follow, lookup, lookup_to_end
from tests.conftest import StepClock
from tests.probes.dns_fixtures import DANGLING_TARGET, UNSERVED_TARGET, counting

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def scan(
    resolver: dns.resolver.Resolver, domains: Sequence[str], names: Sequence[str] = ()
) -> tuple[dict[str, Asset], list[Gap]]:
    items = list(DnsProbe(domains, names, resolver, clock=StepClock(START)).collect())
    assets = {item.id: item for item in items if isinstance(item, Asset)}
    assert len(assets) == sum(isinstance(item, Asset) for item in items), "duplicate asset ids"
    return assets, [item for item in items if isinstance(item, Gap)]


def test_microsoft_365_direct_with_route53_and_an_lms_on_a_ca_central_1_elb(
    resolver: dns.resolver.Resolver,
) -> None:
    assets, gaps = scan(resolver, ["m365.example"], ["lms"])
    assert gaps == []
    prefix = "dns:m365.example:"
    assert sorted(assets) == sorted(
        prefix + key
        for key in (
            "soa",
            "ns:ns-1234.awsdns-12.org",
            "ns:ns-567.awsdns-34.com",
            "mx:m365-example.mail.protection.outlook.com",
            "txt:ms",
            "spf",
            "dmarc",
            "dkim:selector1",
            "dkim:selector2",
            "caa",
            "srv:_sip._tls:sipdir.online.lync.com",
            "srv:_sipfederationtls._tcp:sipfed.online.lync.com",
            "host:autodiscover.m365.example",
            "host:lyncdiscover.m365.example",
            "host:enterpriseenrollment.m365.example",
            "host:sip.m365.example",
            "host:lms.m365.example",
            "mailbox",
        )
    )
    mx = assets[prefix + "mx:m365-example.mail.protection.outlook.com"]
    assert mx.kind == "dns.mx"
    assert mx.name == "m365-example.mail.protection.outlook.com"
    assert dict(mx.attributes) == {
        "hostname": "m365-example.mail.protection.outlook.com",
        "addresses": ("40.107.22.49",),
        "cname_chain": (),
        "domain": "m365.example",
        "preference": 0,
    }
    assert [e.source for e in mx.evidence] == ["dns:MX", "dns:A"]
    assert mx.evidence[0].detail == (
        "m365.example. 300 IN MX 0 m365-example.mail.protection.outlook.com."
    )
    assert all(e.confidence is Confidence.HIGH for e in mx.evidence)
    ns = assets[prefix + "ns:ns-1234.awsdns-12.org"]
    assert ns.kind == "dns.ns"
    assert dict(ns.attributes) == {
        "hostname": "ns-1234.awsdns-12.org",
        "addresses": ("205.251.196.210",),
        "domain": "m365.example",
    }
    soa = assets[prefix + "soa"]
    assert soa.attributes["hostname"] == "ns-1234.awsdns-12.org"
    assert soa.attributes["soa_rname"] == "awsdns-hostmaster.amazon.com"
    lms = assets[prefix + "host:lms.m365.example"]
    assert (lms.kind, lms.name) == ("dns.host", "lms.m365.example")
    assert lms.attributes["cname_chain"] == ("lms-prod-1234567890.ca-central-1.elb.amazonaws.com",)
    assert lms.attributes["addresses"] == ("3.96.112.45", "3.98.201.17")
    autodiscover = assets[prefix + "host:autodiscover.m365.example"]
    assert autodiscover.attributes["cname_chain"] == (
        "autodiscover.outlook.com",
        "autod.ha-autod.office.com",
    )
    assert autodiscover.attributes["addresses"] == ("52.96.88.130", "2603:1036:303:3050::2")
    assert [e.source for e in autodiscover.evidence] == ["dns:A", "dns:AAAA"]
    enrollment = assets[prefix + "host:enterpriseenrollment.m365.example"]
    assert enrollment.attributes["cname_chain"] == ("enterpriseenrollment.manage.microsoft.com",)
    assert enrollment.attributes["addresses"] == ("52.167.4.20",)


def test_mail_authentication_records_of_microsoft_365(resolver: dns.resolver.Resolver) -> None:
    assets, _ = scan(resolver, ["m365.example"])
    prefix = "dns:m365.example:"
    token = assets[prefix + "txt:ms"]
    assert (token.kind, token.name) == ("dns.txt", "m365.example")
    assert dict(token.attributes) == {
        "text": "MS=ms11112222",
        "token_key": "ms",
        "domain": "m365.example",
    }
    spf = assets[prefix + "spf"]
    assert spf.kind == "dns.spf"
    assert spf.attributes["spf_includes"] == ("spf.protection.outlook.com",)
    assert spf.attributes["spf_all"] == "-"
    assert spf.attributes["spf_lookups"] == 1
    assert [e.detail for e in spf.evidence] == [
        "m365.example: v=spf1 include:spf.protection.outlook.com -all",
        (
            "spf.protection.outlook.com: "
            "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 -all"
        ),
    ]
    dmarc = assets[prefix + "dmarc"]
    assert dmarc.kind == "dns.dmarc"
    assert dmarc.attributes["report_domains"] == (
        "m365.example",
        "rua.agari.com",
        "ruf.dmarcian.com",
    )
    assert dmarc.attributes["dmarc_policy"] == "reject"
    selector1 = assets[prefix + "dkim:selector1"]
    assert selector1.kind == "dns.dkim"
    assert dict(selector1.attributes) == {
        "hostname": "selector1._domainkey.m365.example",
        "cname_chain": ("selector1-m365-example._domainkey.m365example.onmicrosoft.com",),
        "selector": "selector1",
        "text": "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDm365",
        "tenant": "m365example.onmicrosoft.com",
        "domain": "m365.example",
    }
    # selector2's target does not exist (NXDOMAIN): the alias alone still names the tenant.
    selector2 = assets[prefix + "dkim:selector2"]
    assert selector2.attributes["cname_chain"] == (
        "selector2-m365-example._domainkey.m365example.onmicrosoft.com",
    )
    assert "text" not in selector2.attributes
    caa = assets[prefix + "caa"]
    assert caa.attributes["caa_issuers"] == ("digicert.com", "letsencrypt.org")
    sip = assets[prefix + "srv:_sip._tls:sipdir.online.lync.com"]
    assert sip.kind == "dns.srv"
    assert dict(sip.attributes) == {
        "hostname": "sipdir.online.lync.com",
        "addresses": ("52.112.196.11",),
        "cname_chain": (),
        "port": 443,
        "service": "_sip._tls",
        "domain": "m365.example",
    }


def test_google_workspace(resolver: dns.resolver.Resolver) -> None:
    assets, gaps = scan(resolver, ["gws.example"])
    assert gaps == []
    prefix = "dns:gws.example:"
    mx = {a.name: a.attributes for a in assets.values() if a.kind == "dns.mx"}
    assert {name: (attrs["preference"], attrs["addresses"]) for name, attrs in mx.items()} == {
        "aspmx.l.google.com": (1, ("142.250.101.26",)),
        "alt1.aspmx.l.google.com": (5, ("142.251.9.27",)),
    }
    spf = assets[prefix + "spf"].attributes
    assert spf["spf_includes"] == (
        "_spf.google.com",
        "_netblocks.google.com",
        "_netblocks2.google.com",
        "_netblocks3.google.com",
    )
    assert (spf["spf_lookups"], spf["spf_all"]) == (4, "~")
    assert str(assets[prefix + "dkim:google"].attributes["text"]).startswith("v=DKIM1; k=rsa;")
    assert assets[prefix + "dkim:google"].attributes["cname_chain"] == ()
    assert "tenant" not in assets[prefix + "dkim:google"].attributes
    assert assets[prefix + "txt:google-site-verification"].attributes["text"] == (
        "google-site-verification=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    )
    www = assets[prefix + "host:www.gws.example"].attributes
    assert (www["cname_chain"], www["addresses"]) == (
        ("ghs.googlehosted.com",),
        ("142.250.65.179",),
    )


def test_proofpoint_gateway_in_front_of_microsoft_365(resolver: dns.resolver.Resolver) -> None:
    assets, gaps = scan(resolver, ["gateway.example"])
    prefix = "dns:gateway.example:"
    mx_a = assets[prefix + "mx:mx0a-00000000.pphosted.com"].attributes
    assert mx_a["addresses"] == ("148.163.150.10",)
    # The server fails mx0b's AAAA: its addresses are unknown (absent), never a partial list.
    mx_b = assets[prefix + "mx:mx0b-00000000.pphosted.com"].attributes
    assert "addresses" not in mx_b
    assert gaps == [Gap("dns:mx0b-00000000.pphosted.com:AAAA", "SERVFAIL")]
    spf = assets[prefix + "spf"].attributes
    assert spf["spf_includes"] == ("spf.protection.outlook.com", "spf-00000000.pphosted.com")
    assert spf["spf_non_pass_includes"] == ("_spf.google.com",)
    assert spf["spf_lookups"] == 3
    assert assets[prefix + "dkim:selector1"].attributes["cname_chain"] == (
        "selector1-gateway-example._domainkey.gatewayexample.onmicrosoft.com",
    )
    assert assets[prefix + "host:autodiscover.gateway.example"].attributes["cname_chain"] == (
        "autodiscover.outlook.com",
        "autod.ha-autod.office.com",
    )
    assert assets[prefix + "txt:ms"].attributes["text"] == "MS=ms33334444"
    # The mailbox gathers the signals above, in the order resolution weighs them; the ~include
    # of Google is not an authorisation and does not reach it.
    mailbox = assets[prefix + "mailbox"]
    assert (mailbox.kind, mailbox.name) == ("dns.mailbox", "gateway.example")
    assert dict(mailbox.attributes) == {
        "mx_hosts": ("mx0a-00000000.pphosted.com", "mx0b-00000000.pphosted.com"),
        "spf_includes": ("spf.protection.outlook.com", "spf-00000000.pphosted.com"),
        "dkim_targets": ("selector1-gateway-example._domainkey.gatewayexample.onmicrosoft.com",),
        "autodiscover_chain": ("autodiscover.outlook.com", "autod.ha-autod.office.com"),
        "verification_tokens": ("ms",),
        "dkim_selectors": (),  # selector1 is a CNAME: its target is the signal, not its name
        "classification": "personal",  # mail is personal information, whatever the default
        "tenant": "gatewayexample.onmicrosoft.com",
        "domain": "gateway.example",
    }
    # Each signal's record is its evidence, once (both MX assets share the MX answer).
    assert [e.source for e in mailbox.evidence] == [
        "dns:MX",
        "dns:TXT",
        "dns:TXT",
        "dns:A",
        "dns:TXT",
    ]
    assert mailbox.evidence[2].detail.startswith(
        "selector1._domainkey.gateway.example. 300 IN CNAME"
    )


def test_mimecast_canadian_region(resolver: dns.resolver.Resolver) -> None:
    assets, gaps = scan(resolver, ["mimecast-ca.example"])
    assert gaps == []
    mx = sorted(
        (a.attributes["preference"], a.attributes["hostname"], a.attributes["addresses"])
        for a in assets.values()
        if a.kind == "dns.mx"
    )
    assert mx == [
        (10, "ca-smtp-inbound-1.mimecast.com", ("207.211.30.40",)),
        (20, "ca-smtp-inbound-2.mimecast.com", ("207.211.30.41",)),
    ]
    spf = assets["dns:mimecast-ca.example:spf"].attributes
    assert spf["spf_includes"] == ("ca._netblocks.mimecast.com", "spf.protection.outlook.com")
    mailbox = assets["dns:mimecast-ca.example:mailbox"].attributes
    assert mailbox["mx_hosts"] == (
        "ca-smtp-inbound-1.mimecast.com",
        "ca-smtp-inbound-2.mimecast.com",
    )
    assert (mailbox["dkim_targets"], mailbox["autodiscover_chain"]) == ((), ())
    assert "tenant" not in mailbox


def test_cloudflare_dns_cdn_and_a_null_mx(resolver: dns.resolver.Resolver) -> None:
    assets, gaps = scan(resolver, ["cloudflare-dns.example"])
    assert gaps == []
    prefix = "dns:cloudflare-dns.example:"
    assert [a.kind for a in assets.values()].count("dns.mx") == 0  # RFC 7505 "MX 0 ."
    assert prefix + "mailbox" not in assets  # a domain that accepts no mail has no mailbox
    assert assets[prefix + "ns:ada.ns.cloudflare.com"].attributes["addresses"] == (
        "173.245.58.101",
    )
    apex = assets[prefix + "host:cloudflare-dns.example"].attributes
    assert apex["addresses"] == ("104.21.16.1", "2606:4700:3030::6815:1001")
    www = assets[prefix + "host:www.cloudflare-dns.example"].attributes
    assert www["cname_chain"] == ("www.cloudflare-dns.example.cdn.cloudflare.net",)
    assert www["addresses"] == ("104.21.16.1", "172.67.160.1")


def test_saas_verification_tokens(resolver: dns.resolver.Resolver) -> None:
    assets, gaps = scan(resolver, ["tokens.example"])
    assert gaps == []
    tokens = {
        key.removeprefix("dns:tokens.example:txt:"): asset.attributes["text"]
        for key, asset in assets.items()
        if asset.kind == "dns.txt"
    }
    assert tokens == {
        "zoom_verify": "ZOOM_verify_QwErTy1234567890AbCd",
        "zoom-domain-verification": "zoom-domain-verification=1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
        "atlassian-domain-verification": "atlassian-domain-verification=Z9y8X7w6V5u4T3s2R1q0",
        "docusign": "docusign=7e8f9a0b-1c2d-3e4f-5a6b-7c8d9e0f1a2b",
        "adobe-idp-site-verification": (
            "adobe-idp-site-verification=0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        ),
        "sfmc": "SFMC-d1E2f3G4h5I6j7K8l9M0",
        "pardot-domain-verification": "pardot-domain-verification=9a8b7c6d5e4f",
        # Two tokens with one key: a digest of each text keeps both ids stable.
        "google-site-verification:30b291b7": (
            "google-site-verification=first-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ),
        "google-site-verification:986900ca": (
            "google-site-verification=second-token-bbbbbbbbbbbbbbbbbbbbbbbbbbb"
        ),
    }


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("MS=ms12345678", "ms"),
        ("yandex-verification: 0123456789abcdef", "yandex-verification"),
        ("ZOOM_verify_abcdefgh", "zoom_verify"),
        ("v=spf1 -all", None),
        ("v=DMARC1; p=none", None),
        ("v=STSv1; id=1", None),
        ("some free text", None),
        ("", None),
        ("x" * 2000 + "=y", None),
        ("a" * 70 + "_verify_abcdefgh", None),
    ],
)
def test_verification_key(text: str, key: str | None) -> None:
    assert verification_key(text) == key


@pytest.mark.parametrize(
    ("record", "domains"),
    [
        (
            "v=DMARC1; p=none; rua=mailto:a@X.example,mailto:b@y.example!10m; ruf=mailto:c@x.ex",
            ("x.ex", "x.example", "y.example"),
        ),
        ("v=DMARC1; rua=https://reports.example/dmarc", ("reports.example",)),
        ("v=DMARC1; rua=mailto:no-at-sign, mailto:d@evil\x00.example; p=reject", ()),
        ("v=DMARC1; p=reject", ()),
    ],
)
def test_dmarc_report_domains(record: str, domains: tuple[str, ...]) -> None:
    assert dmarc_report_domains(record) == domains


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_txt_parsers_take_any_text(text: str) -> None:
    key = verification_key(text)
    assert key is None or (key == key.lower() and len(key) <= 64 and " " not in key)
    for domain in dmarc_report_domains("v=DMARC1; rua=" + text):
        assert domain == domain.lower()
        assert all(c.isalnum() or c in "._-" for c in domain)


def test_a_domain_whose_server_fails_is_one_gap_and_nothing_else(
    resolver: dns.resolver.Resolver,
) -> None:
    assets, gaps = scan(resolver, ["servfail.example", "refused.example"])
    assert assets == {}
    assert gaps == [
        Gap("dns:servfail.example", "SOA: SERVFAIL; the domain was not probed further"),
        Gap("dns:refused.example", "SOA: REFUSED; the domain was not probed further"),
    ]


def test_a_domain_that_never_answers_is_a_gap_within_the_lifetime(
    impatient: dns.resolver.Resolver,
) -> None:
    started = time.monotonic()
    assets, gaps = scan(impatient, ["timeout.example"])
    assert time.monotonic() - started < 1.5
    assert assets == {}
    assert gaps == [
        Gap(
            "dns:timeout.example",
            "SOA: timeout: no answer within 0.6s; the domain was not probed further",
        )
    ]


def test_a_server_that_stops_answering_costs_at_most_three_timeouts_per_domain(
    impatient: dns.resolver.Resolver,
) -> None:
    started = time.monotonic()
    assets, gaps = scan(impatient, ["dropa.example"])
    assert time.monotonic() - started < 3.5  # three lifetimes (0.6 s, plus backoff), not 40
    timeout = "timeout: no answer within 0.6s"
    skipped = "not asked: 3 look-ups for dropa.example timed out"
    assert [g.reason for g in gaps].count(timeout) == 3
    assert gaps[:4] == [
        Gap("dns:ns1.dropa.example:A", timeout),
        Gap("dns:mx.dropa.example:A", timeout),
        Gap("dns:dropa.example:A", timeout),
        Gap("dns:dropa.example:AAAA", skipped),
    ]
    assert {g.reason for g in gaps[4:]} == {skipped}
    # What was seen before the server went quiet is kept; unknown addresses stay unknown.
    assert "addresses" not in assets["dns:dropa.example:ns:ns1.dropa.example"].attributes
    assert "dns:dropa.example:soa" in assets


CUT_TXT = Gap(
    "dns:hostile.example:TXT",
    "a TXT record of 59925 bytes; only the first 4096 were read: the rest was not judged",
)
"""hostile.example's 60 KB TXT record, read up to its first 4,096 bytes."""


def test_garbage_and_wrong_id_answers_are_timeouts_and_truncation_falls_back_to_tcp(
    impatient: dns.resolver.Resolver,
) -> None:
    assets, gaps = scan(impatient, ["hostile.example"], ["tc", "garbage", "badid"])
    timeout = "timeout: no answer within 0.6s"
    # dnspython drops answers that do not parse or carry another id, and keeps waiting; the
    # third timeout stops the domain's questions.
    assert gaps == [
        Gap("dns:garbage.hostile.example:A", timeout),
        Gap("dns:garbage.hostile.example:AAAA", timeout),
        Gap("dns:badid.hostile.example:A", timeout),
        Gap(
            "dns:badid.hostile.example:AAAA", "not asked: 3 look-ups for hostile.example timed out"
        ),
        CUT_TXT,
    ]
    assert "dns:hostile.example:host:tc.hostile.example" not in assets  # TXT only, no address
    # Every UDP answer for tc.hostile.example has TC set: the answer comes over TCP.
    result = lookup(impatient, "tc.hostile.example", "TXT", lambda: START)
    assert (result.outcome, result.detail) == (
        "answer",
        'tc.hostile.example. 300 IN TXT "tcp only"',
    )


def test_a_slow_answer_within_the_timeout_is_used_and_a_slower_one_is_a_gap(
    server: ZoneServer,
) -> None:
    # The 0.2 s answer must fit in the timeout even on a loaded machine; the 2 s one never does.
    resolver = make_resolver(server.host, server.port, timeout=0.8, lifetime=1.0)
    # The gaps' text shows the 1 s lifetime cut the 2 s answers short; no wall-clock bound here.
    assets, gaps = scan(resolver, ["hostile.example"], ["slow", "veryslow"])
    assert assets["dns:hostile.example:host:slow.hostile.example"].attributes["addresses"] == (
        "192.0.2.69",
    )
    timeout = "timeout: no answer within 1s"
    assert gaps == [
        Gap("dns:veryslow.hostile.example:A", timeout),
        Gap("dns:veryslow.hostile.example:AAAA", timeout),
        CUT_TXT,
    ]


def test_a_failing_record_type_is_a_gap_and_the_rest_is_still_seen(
    resolver: dns.resolver.Resolver,
) -> None:
    assets, gaps = scan(resolver, ["txtfail.example"])
    assert "dns:txtfail.example:mx:mx.txtfail.example" in assets
    assert not any(a.kind in {"dns.txt", "dns.spf"} for a in assets.values())
    assert Gap("dns:txtfail.example:TXT", "SERVFAIL") in gaps
    assert Gap("dns:_dmarc.txtfail.example:TXT", "SERVFAIL") in gaps
    assert {g.reason for g in gaps} == {"SERVFAIL"}


def test_a_domain_that_does_not_exist_is_a_gap_not_silence(
    resolver: dns.resolver.Resolver,
) -> None:
    # Nothing under it can be inventoried: a report that only left it out would read like a
    # domain with nothing to report (a mistyped name in the inventory, say).
    assets, gaps = scan(resolver, ["nope.m365.example"])
    reason = "the domain does not exist (NXDOMAIN); check its name in the inventory or domains file"
    assert (assets, gaps) == ({}, [Gap("dns:nope.m365.example", reason)])


def test_cname_loops_and_overlong_chains_are_gaps_with_the_reason(
    resolver: dns.resolver.Resolver,
) -> None:
    assets, gaps = scan(resolver, ["faults.example"], ["loop", "long", "short"])
    loop = (
        "CNAME loop: loop.faults.example -> loop-a.faults.example -> loop-b.faults.example"
        " -> loop.faults.example"
    )
    assert gaps == [
        Gap("dns:loop.faults.example:A", loop),
        Gap("dns:loop.faults.example:AAAA", loop),
        Gap("dns:long.faults.example:A", "CNAME chain longer than 8 names"),
        Gap("dns:long.faults.example:AAAA", "CNAME chain longer than 8 names"),
    ]
    short = assets["dns:faults.example:host:short.faults.example"].attributes
    assert short["cname_chain"] == ("c7.faults.example", "c8.faults.example", "c9.faults.example")
    assert short["addresses"] == ("192.0.2.9",)
    assert "dns:faults.example:host:loop.faults.example" not in assets


def test_a_cname_whose_end_the_server_will_not_give_is_a_gap_carried_by_the_asset(
    resolver: dns.resolver.Resolver,
) -> None:
    # An authoritative-only server answers www with the CNAME alone: the end's zone is not its.
    # That answer used to read as "no address", silently; the end is now asked, and its
    # REFUSED (or SERVFAIL) is a gap, with the asset's addresses unknown, not empty.
    assets, gaps = scan(resolver, ["alias.example"])
    refused = f"CNAME target {UNSERVED_TARGET}. could not be resolved: REFUSED"
    servfail = "CNAME target sip.servfail.example. could not be resolved: SERVFAIL"
    dkim = (
        "CNAME target selector1-alias._domainkey.provider.example. could not be resolved: REFUSED"
    )
    assert gaps == [
        Gap("dns:selector1._domainkey.alias.example:TXT", dkim),
        Gap("dns:www.alias.example:A", refused),
        Gap("dns:www.alias.example:AAAA", refused),
        Gap("dns:sip.alias.example:A", servfail),
        Gap("dns:sip.alias.example:AAAA", servfail),
    ]
    www = assets["dns:alias.example:host:www.alias.example"]
    assert www.attributes["cname_chain"] == (UNSERVED_TARGET,)
    assert "addresses" not in www.attributes
    # The asset says what was seen and why it stops there, in its own evidence.
    assert [e.detail for e in www.evidence] == [
        f"www.alias.example. 300 IN CNAME {UNSERVED_TARGET}. | {refused}"
    ] * 2
    assert "addresses" not in assets["dns:alias.example:host:sip.alias.example"].attributes
    # The DKIM alias still names where the key is kept; the key itself is the gap.
    selector = assets["dns:alias.example:dkim:selector1"].attributes
    assert selector["cname_chain"] == ("selector1-alias._domainkey.provider.example",)
    assert "text" not in selector


def test_a_dangling_cname_is_no_gap_and_an_end_asked_on_gives_its_address(
    resolver: dns.resolver.Resolver,
) -> None:
    assets, _gaps = scan(resolver, ["alias.example"])
    # NXDOMAIN at the end is the end's own answer: the alias leads nowhere, so the host has no
    # address, which is known (and a name no one serves is no data kept anywhere).
    mail = assets["dns:alias.example:host:mail.alias.example"].attributes
    assert (mail["cname_chain"], mail["addresses"]) == ((DANGLING_TARGET,), ())
    # A server that stops short of a name that does answer: asking the end finds its address.
    auto = assets["dns:alias.example:host:autodiscover.alias.example"]
    assert auto.attributes["cname_chain"] == ("edge.tcp-only.example",)
    assert auto.attributes["addresses"] == ("192.0.2.80",)
    assert auto.evidence[0].detail == (
        "autodiscover.alias.example. 300 IN CNAME edge.tcp-only.example."
        " | edge.tcp-only.example. 300 IN A 192.0.2.80"
    )


def test_a_nodata_that_names_the_end_s_zone_asks_nothing_more(server: ZoneServer) -> None:
    # The LMS's load balancer has no AAAA: the answer's SOA is its zone's, so that NODATA is the
    # end's own (as a recursive resolver's is) and the end is not asked again.
    resolver = counting(server, 1.0, 3.0)
    found = lookup_to_end(resolver, "lms.m365.example", "AAAA", StepClock(START))
    assert (found.outcome, found.chain_open) == ("nodata", False)
    assert found.cname_chain == ("lms-prod-1234567890.ca-central-1.elb.amazonaws.com",)
    assert [name for name, _type in resolver.asked] == ["lms.m365.example."]
    # A CNAME alone, nothing said of the end: the end is asked.
    resolver.asked.clear()
    found = lookup_to_end(resolver, "www.alias.example", "AAAA", StepClock(START))
    assert found.failed and found.cname_chain == (UNSERVED_TARGET,)
    assert [name for name, _type in resolver.asked] == ["www.alias.example.", UNSERVED_TARGET + "."]


def _stopped(name: str, *chain: str) -> Lookup:
    """A server's NODATA after `chain`, which says nothing of the chain's end."""
    return Lookup(name, "A", "nodata", (), chain, f"{name} CNAME", START, chain_open=bool(chain))


@pytest.mark.parametrize(
    ("answers", "outcome", "reason"),
    [
        # Each end is asked in turn, and the chain grows as each server stops short again.
        ({"b.example": _stopped("b.example", "c.example"), "c.example": _stopped("c.example")},
         "nodata", ""),
        # An end whose chain leads back: a loop across answers is a loop too.
        ({"b.example": _stopped("b.example", "a.example")}, "error",
         "CNAME target b.example. could not be resolved: CNAME loop: "
         + "a.example -> b.example -> a.example"),
        # Followed on and on, a chain is bounded as one answer's is.
        ({f"n{i}.example": _stopped(f"n{i}.example", f"n{i + 1}.example") for i in range(20)}
         | {"b.example": _stopped("b.example", "n0.example")}, "error",
         "could not be resolved: CNAME chain longer than 8 names"),
    ],
)  # fmt: skip
def test_following_a_chain_across_answers_is_bounded(
    answers: dict[str, Lookup], outcome: str, reason: str
) -> None:
    asked: list[str] = []

    def ask(name: str, rdtype: str) -> Lookup:
        asked.append(name)
        return answers[name]

    found = follow(_stopped("a.example", "b.example"), ask)
    assert found.outcome == outcome and found.reason.endswith(reason)
    assert found.qname == "a.example" and found.cname_chain[0] == "b.example"
    assert len(asked) <= 9 and not found.chain_open


def test_hostile_txt_records_are_bounded_and_kept_as_data(
    resolver: dns.resolver.Resolver,
) -> None:
    assets, gaps = scan(resolver, ["hostile.example"])
    assert gaps == [CUT_TXT]  # what lies past the cut was not judged
    evil = assets["dns:hostile.example:txt:evil-verification"].attributes["text"]
    assert evil == "evil-verification=abc\x00def\x1b[31mred"
    bad = assets["dns:hostile.example:txt:bad-utf8-verification"].attributes["text"]
    assert bad == "bad-utf8-verification=\ufffd\ufffd\ufffd(zz"
    for asset in assets.values():
        for value in asset.attributes.values():
            texts = value if isinstance(value, tuple) else (value,)
            assert all(len(t) <= 512 for t in texts if isinstance(t, str))
        assert all(len(e.detail) <= 512 for e in asset.evidence)
    # The 60 KB record is read (over TCP) but is no token; the SPF with a BEL byte is kept.
    assert sorted(a.kind for a in assets.values() if a.kind in {"dns.txt", "dns.spf"}) == [
        "dns.spf",
        "dns.txt",
        "dns.txt",
    ]
    assert assets["dns:hostile.example:spf"].attributes["spf_includes"] == ()


def test_evidence_times_come_from_the_injected_clock(resolver: dns.resolver.Resolver) -> None:
    assets, _ = scan(resolver, ["mimecast-ca.example"])
    times = {e.observed_at for a in assets.values() for e in a.evidence}
    assert times
    assert all(START <= t < START.replace(minute=1) for t in times)


def test_concurrent_scan_gives_the_same_items_in_the_same_order(
    resolver: dns.resolver.Resolver,
) -> None:
    # A more patient resolver still: one run's answer must not be the other run's Gap.
    patient = make_resolver(str(resolver.nameservers[0]), resolver.port, timeout=2.0, lifetime=4.0)
    domains = ["m365.example", "gws.example", "gateway.example", "servfail.example"] * 3
    sequential = list(DnsProbe(domains, [], patient, clock=lambda: START).collect())
    concurrent = list(DnsProbe(domains, [], patient, clock=lambda: START, workers=4).collect())
    assert concurrent == sequential
    assert len(sequential) > 40
