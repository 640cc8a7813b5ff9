"""Mail attribution, DMARC report processors, SPF/DKIM signals and replica places, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sovscan.demo import demo_config
from sovscan.engine import default_rules_dir, evaluate, load_rules
from sovscan.errors import ResolveError
from sovscan.model import Asset, AttrValue, Confidence, Control, Method, Status
from sovscan.probes.dns import verification_key
from sovscan.resolve import KnowledgeBase, load_knowledge, resolve, resolve_all
from sovscan.resolve.catalog import token_key
from sovscan.resolve.mail import attribute_mailbox

M365_MX = "contoso-edu.mail.protection.outlook.com"
PROOFPOINT_MX = "mx0a-00000000.pphosted.com"
DKIM_M365 = "selector1-contoso-edu._domainkey.contosoedu.onmicrosoft.com"


def mailbox(domain: str = "contoso.example", /, **attributes: AttrValue) -> Asset:
    attrs: dict[str, AttrValue] = {
        "mx_hosts": (PROOFPOINT_MX,),
        "spf_includes": (),
        "dkim_targets": (),
        "autodiscover_chain": (),
        "verification_tokens": (),
        "domain": domain,
    }
    attrs.update(attributes)
    return Asset(f"dns:{domain}:mailbox", "dns.mailbox", domain, attrs)


def deciding(control: Control) -> tuple[str, Confidence]:
    source = control.evidence[0].source
    assert source.startswith("resolve:mailbox:"), source
    return source.rsplit(":", 1)[1], control.confidence


def conflicts(control: Control) -> list[str]:
    return [e.detail for e in control.evidence if e.source == "resolve:conflict"]


# --- the deciding signal ------------------------------------------------------------------------


def test_look_through_order_dkim_before_autodiscover_before_spf_before_tokens(
    kb: KnowledgeBase,
) -> None:
    everything = {
        "dkim_targets": (DKIM_M365,),
        "autodiscover_chain": ("autodiscover.outlook.com",),
        "spf_includes": ("spf.protection.outlook.com",),
        "verification_tokens": ("ms",),
    }
    expected = [
        ("dkim", Confidence.HIGH),
        ("autodiscover", Confidence.MEDIUM),
        ("spf", Confidence.MEDIUM),
        ("token", Confidence.LOW),
    ]
    # Remove the strongest signal each time: the next one decides, at its own confidence.
    for start, want in enumerate(expected):
        keys = list(everything)[start:]
        control = resolve(mailbox(**{k: everything[k] for k in keys}), kb).control
        assert control.operator == "Microsoft Corporation"
        assert deciding(control) == want


def test_a_conflicting_signal_lowers_the_confidence_and_is_recorded(kb: KnowledgeBase) -> None:
    control = resolve(
        mailbox(
            autodiscover_chain=("autodiscover.outlook.com",),
            spf_includes=("_spf.google.com",),
        ),
        kb,
    ).control
    assert control.operator == "Microsoft Corporation"
    assert deciding(control) == ("autodiscover", Confidence.LOW)  # MEDIUM, one step down
    assert any("Google" in detail for detail in conflicts(control))


def test_the_mx_decides_even_when_another_signal_disagrees(kb: KnowledgeBase) -> None:
    control = resolve(
        mailbox(mx_hosts=("aspmx.l.google.com",), dkim_targets=(DKIM_M365,)), kb
    ).control
    assert (control.operator, deciding(control)) == ("Google LLC", ("mx", Confidence.HIGH))
    assert any("Microsoft" in detail for detail in conflicts(control))


def test_spf_with_two_mailbox_providers_cannot_decide(kb: KnowledgeBase) -> None:
    both = ("spf.protection.outlook.com", "_spf.google.com")
    control = resolve(mailbox(spf_includes=both), kb).control
    assert (control.operator, control.jurisdictions, control.method) == (
        None,
        None,
        Method.UNKNOWN,
    )
    assert any("several mailbox providers" in e.detail for e in control.evidence)
    # A weaker signal then decides, at its own (low) confidence.
    control = resolve(mailbox(spf_includes=both, verification_tokens=("ms",)), kb).control
    assert (control.operator, deciding(control)) == (
        "Microsoft Corporation",
        ("token", Confidence.LOW),
    )


def test_senders_and_gateways_in_spf_are_not_mailbox_providers(kb: KnowledgeBase) -> None:
    spf = ("sendgrid.net", "spf-00000000.pphosted.com", "spf.protection.outlook.com")
    control = resolve(mailbox(spf_includes=spf), kb).control
    assert (control.operator, deciding(control)) == (
        "Microsoft Corporation",
        ("spf", Confidence.MEDIUM),
    )


def test_google_site_verification_is_never_a_mail_signal(kb: KnowledgeBase) -> None:
    found = attribute_mailbox(
        mailbox(verification_tokens=("google-site-verification",)).attributes, kb
    )
    assert found.decided is None and found.others == ()
    assert any("google-site-verification" in note for note in found.notes)
    control = resolve(mailbox(verification_tokens=("google-site-verification", "ms")), kb).control
    # It neither decides nor conflicts with the Microsoft token.
    assert (control.operator, deciding(control)) == (
        "Microsoft Corporation",
        ("token", Confidence.LOW),
    )
    assert conflicts(control) == []


def test_workspace_recovery_token_is_a_google_mail_signal(kb: KnowledgeBase) -> None:
    tokens = ("google-gws-recovery-domain-verification",)
    control = resolve(mailbox(verification_tokens=tokens), kb).control
    assert (control.operator, deciding(control)) == ("Google LLC", ("token", Confidence.LOW))


def test_an_unknown_mx_host_is_not_looked_through(kb: KnowledgeBase) -> None:
    # The institution's own server with a Microsoft 365 DKIM delegation (a hybrid set-up): the
    # mailbox may be on premises, so the DKIM signal is reported but does not decide.
    control = resolve(
        mailbox(mx_hosts=("mail.contoso.example",), dkim_targets=(DKIM_M365,)), kb
    ).control
    assert (control.operator, control.jurisdictions) == (None, None)
    assert any(
        e.source == "resolve:mailbox:dkim" and "not used" in e.detail for e in control.evidence
    )


def _own_mx(domain: str, host: str, address: str) -> Asset:
    return Asset(
        f"dns:{domain}:mx:{host}", "dns.mx", host, {"addresses": (address,), "domain": domain}
    )


@pytest.mark.parametrize(
    ("address", "operator", "foreign_law"),
    [
        ("24.200.0.1", "Vidéotron", Status.UNKNOWN),  # at home, but only inferred
        ("5.101.96.10", "DigitalOcean", Status.RISK),  # hosted abroad: a risk, no longer unknown
    ],
)
def test_with_no_other_signal_the_mailboxes_are_taken_to_be_on_the_mx_host(
    kb: KnowledgeBase, address: str, operator: str, foreign_law: Status
) -> None:
    box = mailbox("ville.example", mx_hosts=("mail.ville.example",))
    mx = _own_mx("ville.example", "mail.ville.example", address)
    resolved = {r.asset.kind: r for r in resolve_all([box, mx], kb)}
    control = resolved["dns.mailbox"].control
    assert control.operator is not None and operator in control.operator
    assert control.confidence is Confidence.LOW  # the mail server may relay elsewhere
    assert control.evidence[0].source == "resolve:mailbox:mx-host"
    assert control.jurisdictions == resolved["dns.mx"].control.jurisdictions
    findings = evaluate(load_rules(), [resolved["dns.mailbox"]], demo_config().policy)
    law = next(f for f in findings if f.rule_id == "foreign-law-reach")
    assert law.status is foreign_law


def test_a_mailbox_with_other_signals_or_a_gateway_is_not_put_on_the_mx_host(
    kb: KnowledgeBase,
) -> None:
    # A Microsoft 365 DKIM delegation may mean a relay to a cloud mailbox: still unknown.
    hybrid = mailbox("h.example", mx_hosts=("mail.h.example",), dkim_targets=(DKIM_M365,))
    gated = mailbox("g.example", mx_hosts=(PROOFPOINT_MX,))
    assets = [
        hybrid,
        _own_mx("h.example", "mail.h.example", "24.200.0.1"),
        gated,
        _own_mx("g.example", PROOFPOINT_MX, "24.200.0.1"),
    ]
    boxes = [r for r in resolve_all(assets, kb) if r.asset.kind == "dns.mailbox"]
    assert [b.control.operator for b in boxes] == [None, None]


def test_microsoft_365_dkim_in_the_2025_target_format(kb: KnowledgeBase) -> None:
    target = "selector1-contoso-example._domainkey.contosoedu.n-v1.dkim.mail.microsoft"
    control = resolve(mailbox(dkim_targets=(target,)), kb).control
    assert (control.operator, deciding(control)) == (
        "Microsoft Corporation",
        ("dkim", Confidence.HIGH),
    )


def test_google_workspace_behind_a_gateway_by_its_dkim_selector(kb: KnowledgeBase) -> None:
    control = resolve(
        mailbox(dkim_selectors=("google",), autodiscover_chain=("autodiscover.outlook.com",)), kb
    ).control
    # The selector's name is a weaker DKIM signal (medium) than a CNAME into the provider; it
    # still comes first, and the disagreeing autodiscover lowers it one step.
    assert (control.operator, deciding(control)) == ("Google LLC", ("dkim", Confidence.LOW))
    assert any("Microsoft" in detail for detail in conflicts(control))
    alone = resolve(mailbox(dkim_selectors=("google", "s1")), kb).control
    assert (alone.operator, deciding(alone)) == ("Google LLC", ("dkim", Confidence.MEDIUM))
    # A selector name nobody owns is no signal at all.
    assert resolve(mailbox(dkim_selectors=("s1", "default")), kb).control.operator is None


def test_the_tenant_alone_is_a_dkim_signal(kb: KnowledgeBase) -> None:
    control = resolve(mailbox(tenant="contosoedu.onmicrosoft.com"), kb).control
    assert deciding(control) == ("dkim", Confidence.HIGH)


def test_a_mailbox_host_with_a_region_gives_the_location(kb: KnowledgeBase) -> None:
    r = resolve(mailbox(mx_hosts=("inbound-smtp.ca-central-1.amazonaws.com",)), kb)
    assert (r.control.operator, r.control.parent, r.control.jurisdictions) == (
        "Amazon Web Services, Inc.",
        "Amazon.com, Inc.",
        ("US",),
    )
    assert deciding(r.control) == ("mx", Confidence.HIGH)
    loc = r.location
    assert (loc.provider, loc.region, loc.country, loc.subdivision) == (
        "aws",
        "ca-central-1",
        "CA",
        "CA-QC",
    )
    assert (loc.method, loc.confidence) == (Method.HOSTNAME_REGION, Confidence.MEDIUM)


def test_a_sophos_gateway_region_locates_the_mx_not_the_mailbox(kb: KnowledgeBase) -> None:
    host = "mx-01-ca-central-1.prod.hydra.sophos.com"
    mx = resolve(Asset(f"dns:c.example:mx:{host}", "dns.mx", host, {"hostname": host}), kb)
    assert (mx.control.operator, mx.control.jurisdictions) == ("Sophos", ("GB",))
    assert (mx.location.region, mx.location.subdivision) == ("ca-central-1", "CA-QC")
    r = resolve(mailbox(mx_hosts=(host,), autodiscover_chain=("autodiscover.outlook.com",)), kb)
    assert deciding(r.control) == ("autodiscover", Confidence.MEDIUM)
    assert r.location.country is None


def test_mailboxes_with_equal_signals_share_one_answer(kb: KnowledgeBase) -> None:
    first, second = resolve_all(
        [
            mailbox("a.example", dkim_targets=(DKIM_M365,)),
            mailbox("b.example", dkim_targets=(DKIM_M365,)),
        ],
        kb,
    )
    assert first.control is second.control
    assert (first.asset.name, second.asset.name) == ("a.example", "b.example")


# --- DMARC report processors -------------------------------------------------------------------


def dmarc(domain: str, *report_domains: str) -> Asset:
    attrs: dict[str, AttrValue] = {"report_domains": report_domains, "domain": domain}
    return Asset(f"dns:{domain}:dmarc", "dns.dmarc", domain, attrs)


def test_reports_to_a_known_processor(kb: KnowledgeBase) -> None:
    control = resolve(dmarc("a.example", "rua.agari.com", "ruf.agari.com"), kb).control
    assert (control.operator, control.parent, control.jurisdictions) == (
        "Agari",
        "Fortra LLC",
        ("US",),
    )
    assert control.laws is not None and "us-cloud-act" in control.laws


def test_reports_to_the_domain_itself_are_its_mailbox_providers(kb: KnowledgeBase) -> None:
    own_m365 = mailbox("a.example", dkim_targets=(DKIM_M365,))
    own_unknown = mailbox("b.example")
    results = resolve_all(
        [dmarc("a.example", "a.example"), dmarc("b.example", "b.example"), own_m365, own_unknown],
        kb,
    )
    a, b = results[0].control, results[1].control
    assert (a.operator, a.jurisdictions) == ("Microsoft Corporation", ("US",))
    assert a.evidence[0].source == "resolve:dmarc"
    # Same report domains relative to the domain, different mailbox: a different answer.
    assert (b.operator, b.jurisdictions) == (None, None)


def test_every_processor_must_be_known_for_the_control_to_be(kb: KnowledgeBase) -> None:
    both = resolve(dmarc("a.example", "rua.agari.com", "reports.unknown-processor.example"), kb)
    assert both.control.jurisdictions is None and both.control.operator == "Agari"
    assert any("unknown-processor" in e.detail for e in both.control.evidence)
    two = resolve(dmarc("a.example", "rua.agari.com", "x.dmarcanalyzer.com"), kb).control
    assert two.operator == "Agari; Mimecast Services Limited"
    assert two.jurisdictions == ("US", "GB")


def test_no_report_address_is_unknown(kb: KnowledgeBase) -> None:
    r = resolve(dmarc("a.example"), kb)
    assert (r.control.jurisdictions, r.location.country) == (None, None)
    assert any("no report address" in e.detail for e in r.control.evidence)


def test_dmarc_rule_on_resolved_processors(kb: KnowledgeBase) -> None:
    resolved = resolve_all(
        [dmarc("a.example", "rua.agari.com"), dmarc("b.example", "b.example")], kb
    )
    findings = evaluate(load_rules(default_rules_dir()), resolved, demo_config().policy)
    status = {f.asset_id: f.status for f in findings if f.rule_id == "dmarc-reports-abroad"}
    assert status == {"dns:a.example:dmarc": Status.RISK, "dns:b.example:dmarc": Status.UNKNOWN}


# --- SPF and DKIM assets -----------------------------------------------------------------------


def test_spf_reads_the_expanded_pass_includes_not_the_text(kb: KnowledgeBase) -> None:
    spf = Asset(
        "dns:a.example:spf",
        "dns.spf",
        "a.example",
        {
            # The text's only include is a redirector; the expansion found Microsoft under it,
            # and the `~include` of Google was not expanded as a pass include.
            "text": "v=spf1 include:_spf.a.example ~include:_spf.google.com -all",
            "spf_includes": ("_spf.a.example", "spf.protection.outlook.com"),
        },
    )
    control = resolve(spf, kb).control
    assert (control.operator, control.jurisdictions) == ("Microsoft Corporation", ("US",))
    assert conflicts(control) == []


def test_spf_text_is_still_read_when_the_includes_are_absent(kb: KnowledgeBase) -> None:
    spf = Asset("x", "dns.spf", "a.example", {"text": "v=spf1 include:_spf.google.com -all"})
    assert resolve(spf, kb).control.operator == "Google LLC"


def test_dkim_tenant_names_microsoft(kb: KnowledgeBase) -> None:
    dkim = Asset(
        "dns:a.example:dkim:selector1",
        "dns.dkim",
        "selector1._domainkey.a.example",
        {
            "hostname": "selector1._domainkey.a.example",
            "cname_chain": (),
            "tenant": "contosoedu.onmicrosoft.com",
        },
    )
    control = resolve(dkim, kb).control
    assert (control.operator, control.jurisdictions) == ("Microsoft Corporation", ("US",))


def test_dmarc_processor_patterns_do_not_match_host_names(kb: KnowledgeBase) -> None:
    # A CNAME into a DMARC processor's domain says nothing about the host's operator.
    host = Asset("h", "dns.host", "x", {"hostname": "x.a.example", "cname_chain": ("x.agari.com",)})
    assert resolve(host, kb).control.operator is None


# --- replica places ----------------------------------------------------------------------------


def bucket(name: str, **attributes: AttrValue) -> Asset:
    attrs: dict[str, AttrValue] = {"provider": "aws", "partition": "aws", "region": "ca-central-1"}
    attrs.update(attributes)
    return Asset(f"aws:123456789012:s3:{name}", "aws.s3.bucket", name, attrs)


def test_replica_places_in_region_order(kb: KnowledgeBase) -> None:
    (r,) = resolve_all([bucket("b", replica_regions=("us-west-2", "ca-central-1"))], kb)
    assert r.asset.attributes["replica_places"] == ("US-OR", "CA-QC")
    assert r.asset.attributes["replica_places_complete"] is True
    assert r.asset.attributes["replica_regions"] == ("us-west-2", "ca-central-1")  # kept


def test_an_unknown_replica_region_gives_no_place_and_an_incomplete_list(
    kb: KnowledgeBase,
) -> None:
    (r,) = resolve_all([bucket("b", replica_regions=("ca-west-1", "xx-nowhere-9"))], kb)
    assert r.asset.attributes["replica_places"] == ("CA-AB",)
    assert "replica_places_complete" not in r.asset.attributes  # unknown, not "complete"


def test_no_replication_is_a_known_empty_list(kb: KnowledgeBase) -> None:
    (r,) = resolve_all([bucket("b", replica_regions=())], kb)
    assert (
        r.asset.attributes["replica_places"],
        r.asset.attributes["replica_places_complete"],
    ) == (
        (),
        True,
    )


def test_replica_places_need_a_provider_and_never_overwrite(kb: KnowledgeBase) -> None:
    orphan = Asset("o", "aws.s3.bucket", "o", {"replica_regions": ("us-west-2",)})
    given = bucket("g", replica_regions=("us-west-2",), replica_places=("CA-QC",))
    plain = bucket("p")
    results = resolve_all([orphan, given, plain], kb)
    assert [r.asset for r in results] == [orphan, given, plain]


def test_memoised_answers_keep_each_assets_own_replicas(kb: KnowledgeBase) -> None:
    a, b = resolve_all(
        [bucket("a", replica_regions=("us-west-2",)), bucket("b", replica_regions=("ca-west-1",))],
        kb,
    )
    assert a.location is b.location  # same region: resolved once
    assert (a.asset.attributes["replica_places"], b.asset.attributes["replica_places"]) == (
        ("US-OR",),
        ("CA-AB",),
    )


def replica_status(kb: KnowledgeBase, *regions: str) -> Status:
    resolved = resolve_all([bucket("b", replica_regions=regions)], kb)
    findings = evaluate(load_rules(default_rules_dir()), resolved, demo_config().policy)
    (finding,) = [f for f in findings if f.rule_id == "replica-outside-allowed-locations"]
    return finding.status


def test_replica_rule_reads_the_derived_places(kb: KnowledgeBase) -> None:
    # The demo policy allows CA-QC only.
    assert replica_status(kb, "us-west-2") is Status.RISK
    assert replica_status(kb, "ca-central-1") is Status.OK
    assert replica_status(kb, "ca-central-1", "xx-nowhere-9", "us-west-2") is Status.RISK


def test_replica_rule_does_not_call_an_incomplete_list_ok(kb: KnowledgeBase) -> None:
    assert replica_status(kb, "ca-central-1", "xx-nowhere-9") is Status.UNKNOWN


# --- the catalogue's mail roles ------------------------------------------------------------------


def test_the_usual_gateways_are_marked_as_gateways(kb: KnowledgeBase) -> None:
    gateways = {p.vendor.name for p in kb.host_patterns if p.record == "MX" and p.role == "gateway"}
    assert {
        "Proofpoint",
        "Mimecast",
        "Barracuda",
        "Cisco",
        "Trend Micro",
        "Hornetsecurity",
        "Sophos",
        "Fortinet",
    } <= gateways
    mailboxes = {
        p.vendor.name for p in kb.host_patterns if p.record == "MX" and p.role == "mailbox"
    }
    assert {"Microsoft", "Google", "Proton", "Zoho"} <= mailboxes
    assert not gateways & mailboxes
    # Every MX row says which it is: an MX row without a role could never be looked through.
    assert all(p.role for p in kb.host_patterns if p.record == "MX")


@pytest.mark.parametrize(
    "text",
    [
        "MS=ms12345678",
        "google-gws-recovery-domain-verification=12345678",
        "protonmail-verification=abcdef0123456789",
        "zoho-verification=zb12345678.zmverify.zoho.com",
    ],
)
def test_mailbox_token_keys_are_the_probes_keys(kb: KnowledgeBase, text: str) -> None:
    # The probe hands resolution only the key: the catalogue row matching the full text must
    # carry that same key, or the token could never count.
    (row,) = [
        t for t in kb.txt_tokens if (t.regex.match(text) if t.regex else text.startswith(t.pattern))
    ]
    assert (row.role, row.key) == ("mailbox", verification_key(text))


def test_token_key_of_patterns() -> None:
    assert [token_key(p) for p in ("^MS=ms[0-9]+$", "zoho-verification=", "ZOOM_verify_")] == [
        "ms",
        "zoho-verification",
        "zoom_verify",
    ]


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("hostnames.csv", ",false,high,,mailbox\n", ",false,high,,mailhost\n"),
        ("hostnames.csv", "DMARC,agari.com,", "SMTP,agari.com,"),
        ("txt_tokens.csv", "tenant signal,mailbox\n", "tenant signal,inbox\n"),
    ],
)
def test_bad_mail_data_is_refused(
    tmp_path: Path, kb: KnowledgeBase, name: str, old: str, new: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(kb.data_dir, data)
    path = data / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ResolveError) as info:
        load_knowledge(data)
    message = str(info.value)
    assert name in message and ("role" in message or "record" in message)
    assert "\n" not in message
