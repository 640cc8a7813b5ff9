"""[[networks]]: the institution's declared address space, between cloud ranges and routing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sovscan.engine import evaluate, load_rules
from sovscan.model import (
    Asset,
    Confidence,
    DeclaredNetwork,
    Method,
    Policy,
    ResolvedAsset,
    Status,
)
from sovscan.resolve import KnowledgeBase, declared_table, resolve_all
from sovscan.scan import network_notices

AS_OF = datetime(2026, 9, 1, tzinfo=UTC)
CAMPUS = DeclaredNetwork(
    "Campus data centre",
    ("132.204.0.0/16", "2001:db8:100::/48"),
    "Université Exemple",
    "Université Exemple",
    ("CA-QC", "CA"),
    "CA-QC",
    "asset register 2026-09, data centre lease",
)
# A block of the campus rented to a French host: a carve-out, more specific than the campus.
RENTED = DeclaredNetwork(
    "Rented rack", ("132.204.7.0/24",), "OVH SAS", "OVH Groupe SA", ("FR", "EU"), None, "lease 114"
)
# A declaration over AWS's published range (a mistake, or a range the cloud runs for us).
OVER_AWS = DeclaredNetwork(
    "Cloud block", ("3.96.0.0/16",), "Université Exemple", None, ("CA-QC", "CA"), None, "memo 7"
)
# A Quebec host known to the ASN table only by a row marked low (PlanetHoster, AS53589).
HOSTED = DeclaredNetwork(
    "Web host", ("146.19.134.0/24",), "PlanetHoster Inc.", None, ("CA-QC", "CA"), None, "contract"
)
# A block rented from an ISP whose AS only the AS name table knows (AS54706).
RENTED_BLOCK = DeclaredNetwork(
    "ISP block", ("104.36.24.0/24",), "FAI Exemple inc.", None, ("CA-QC", "CA"), None, "lease 9"
)


def host(address: str) -> Asset:
    return Asset(
        f"dns:universite.example:host:{address}",
        "dns.host",
        "www.universite.example",
        {"addresses": (address,)},
    )


def resolved(kb: KnowledgeBase, address: str, *networks: DeclaredNetwork) -> ResolvedAsset:
    table = declared_table(networks, AS_OF) if networks else None
    return resolve_all((host(address),), kb, None, table)[0]


@pytest.mark.parametrize("address", ["132.204.1.10", "2001:db8:100::25", "::ffff:132.204.1.10"])
def test_an_address_inside_a_declared_prefix_is_the_declarations(
    kb: KnowledgeBase, address: str
) -> None:
    r = resolved(kb, address, CAMPUS, RENTED)
    control, location = r.control, r.location
    assert (control.operator, control.parent) == ("Université Exemple", "Université Exemple")
    assert control.jurisdictions == ("CA-QC", "CA") and control.laws == ()
    assert (control.method, control.confidence) == (Method.DECLARED, Confidence.MEDIUM)
    first = control.evidence[0]
    prefix = "2001:db8:100::/48" if ":" in address and "." not in address else "132.204.0.0/16"
    assert first.source == "inventory:networks"
    assert first.detail == (
        f"{address} in {prefix}, declared in the inventory as 'Campus data centre' (basis: asset "
        "register 2026-09, data centre lease): operator Université Exemple; jurisdictions "
        "CA-QC, CA"
    )
    assert first.observed_at == AS_OF
    assert (location.place, location.method, location.provider) == ("CA-QC", Method.DECLARED, None)


def test_the_most_specific_declaration_wins_and_laws_follow_its_homes(kb: KnowledgeBase) -> None:
    r = resolved(kb, "132.204.7.20", CAMPUS, RENTED)
    assert (r.control.operator, r.control.jurisdictions) == ("OVH SAS", ("FR", "EU"))
    assert r.control.laws == ("eu-e-evidence",)  # as for a catalogue operator in France
    # No place stated: none claimed (the campus's CA-QC is not inherited by the carve-out).
    assert r.location.method is not Method.DECLARED


def test_a_declared_us_operator_carries_us_laws(kb: KnowledgeBase) -> None:
    us = DeclaredNetwork("Colo", ("203.0.113.0/24",), "Colo Inc.", None, ("US",), "US", "lease")
    r = resolved(kb, "203.0.113.9", us)
    assert r.control.jurisdictions == ("US",)
    assert {"us-cloud-act", "us-fisa-702"} <= set(r.control.laws or ())


def test_an_address_outside_every_declaration_is_resolved_as_before(kb: KnowledgeBase) -> None:
    before = resolved(kb, "132.205.1.1")
    after = resolved(kb, "132.205.1.1", CAMPUS, RENTED)
    assert after == before
    assert after.control.method is not Method.DECLARED


def test_a_declaration_beats_the_asn_table_which_stays_as_evidence(kb: KnowledgeBase) -> None:
    plain = resolved(kb, "146.19.134.10")
    assert (plain.control.method, plain.control.confidence) == (Method.ASN_TABLE, Confidence.LOW)
    r = resolved(kb, "146.19.134.10", HOSTED)
    assert (r.control.operator, r.control.method) == ("PlanetHoster Inc.", Method.DECLARED)
    conflicts = [e.detail for e in r.control.evidence if e.source == "resolve:conflict"]
    assert conflicts == ["other signal (asn-table): operator PlanetHoster, jurisdictions CA"]


def test_a_published_cloud_range_wins_over_a_declaration(kb: KnowledgeBase) -> None:
    plain = resolved(kb, "3.96.0.10")
    r = resolved(kb, "3.96.0.10", OVER_AWS)
    assert r.control.operator == plain.control.operator == "Amazon Web Services, Inc."
    assert r.control.method is Method.PUBLISHED_RANGES
    assert replace(r.location, evidence=()) == replace(plain.location, evidence=())
    assert r.control.evidence[:-1] == plain.control.evidence
    told = (
        "3.96.0.10 in 3.96.0.0/16, declared in the inventory as 'Cloud block' (basis: memo 7): "
        "not used: the address is in aws's published range 3.96.0.0/15, which wins over a "
        "declaration (a range the cloud runs for the institution, or a mistake in the declaration)"
    )
    for answer in (r.control, r.location):
        assert [(e.source, e.detail) for e in answer.evidence][-1] == ("resolve:conflict", told)


def test_a_declaration_over_a_cloud_range_is_a_notice(kb: KnowledgeBase) -> None:
    (notice,) = network_notices((CAMPUS, OVER_AWS), kb)
    assert notice.startswith(
        "networks[1].prefixes[0] 3.96.0.0/16 (Cloud block) shares addresses with published cloud "
        "ranges: aws 3.96.0.0/15 (EC2)"
    )
    assert notice.endswith(
        "there the provider's range is used, not the declaration (a range the cloud runs for "
        "the institution, or a mistake in the declaration)"
    )


def verdict(kb: KnowledgeBase, address: str, *networks: DeclaredNetwork) -> Status:
    policy = Policy("Université Exemple", "CA-QC", ("CA-QC",), ("CA-QC", "CA"), "personal")
    findings = evaluate(load_rules(), (resolved(kb, address, *networks),), policy)
    (finding,) = [f for f in findings if f.rule_id == "foreign-law-reach"]
    return finding.status


@pytest.mark.parametrize(
    ("address", "declaration"),
    [
        ("104.36.24.10", RENTED_BLOCK),  # an AS name only: the operator's home is unknown
        ("146.19.134.10", HOSTED),  # a catalogue row marked low: at home, not confirmed
    ],
)
def test_a_declared_quebec_operator_makes_foreign_law_reach_ok(
    kb: KnowledgeBase, address: str, declaration: DeclaredNetwork
) -> None:
    assert verdict(kb, address) is Status.UNKNOWN
    assert verdict(kb, address, declaration) is Status.OK


def test_the_table_does_not_scan_every_prefix(kb: KnowledgeBase) -> None:
    # Many prefixes of one length: one dict look-up per length present, not one per prefix.
    many = DeclaredNetwork(
        "Many",
        tuple(f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)),
        "U",
        None,
        ("CA",),
        None,
        "b",
    )
    table = declared_table((many, CAMPUS), AS_OF)
    assert table.lengths == {4: (24, 16), 6: (48,)}
    found = table.lookup("10.3.231.5")
    assert found is not None and found.prefix == "10.3.231.0/24"
    assert table.lookup("10.4.0.1") is None and table.lookup("not an address") is None
