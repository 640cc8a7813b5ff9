"""The curated tables: coverage the project promises, validation errors, and the data digest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sovscan.errors import ResolveError
from sovscan.places import is_place
from sovscan.resolve import KnowledgeBase, load_knowledge
from sovscan.resolve.catalog import compile_host_pattern

REQUIRED_PROVIDERS = [
    "aws",
    "microsoft",
    "google",
    "oracle",
    "ibm",
    "alibaba",
    "cloudflare",
    "akamai",
    "fastly",
    "ovhcloud",
    "scaleway",
    "hetzner",
    "infomaniak",
    "proton",
    "zoom",
    "atlassian",
    "salesforce",
    "instructure",
    "d2l",
    "proofpoint",
    "mimecast",
    "docusign",
    "adobe",
    "micrologic",
    "estruxture",
    "thinkon",
    "cologix",
    "sherweb",
    "videotron",
    "risq",
    "aws-eusc",
    "aws-cn-sinnet",
    "aws-cn-nwcd",
    "azure-china-21vianet",
    "bleu",
    "delos",
    "s3ns",
    "renater",
    "outscale",
]


@pytest.mark.parametrize("pid", REQUIRED_PROVIDERS)
def test_required_providers_are_catalogued_with_sources(kb: KnowledgeBase, pid: str) -> None:
    provider = kb.providers[pid]
    assert provider.sources and provider.operator and provider.parent
    assert all(is_place(j) for j in provider.jurisdictions)
    assert all(law in kb.laws for law in provider.laws)


@pytest.mark.parametrize("offer", ["aws-eusc"])
def test_a_sovereign_offer_has_its_us_parents_us_laws(kb: KnowledgeBase, offer: str) -> None:
    """The European Sovereign Cloud had the CLOUD Act and FISA 702 but not NSLs: each reaches it
    the same way, through its US parent, so it answers to all of its licensor's US laws."""
    provider = kb.providers[offer]
    assert provider.licensor is not None
    us_laws = {
        law for law in kb.providers[provider.licensor].laws if kb.laws[law].jurisdiction == "US"
    }
    assert us_laws and us_laws <= set(provider.laws)


@pytest.mark.parametrize("pid", ["aws", "microsoft", "google", "zoom", "mimecast", "proton"])
def test_e_evidence_reaches_non_eu_providers_offering_services_in_the_eu(
    kb: KnowledgeBase, pid: str
) -> None:
    """Regulation (EU) 2023/1543 reaches a provider offering services in the Union whatever its
    place of establishment; only EU providers listed it."""
    assert "EU" not in kb.providers[pid].jurisdictions
    assert "eu-e-evidence" in kb.providers[pid].laws


def test_e_evidence_summary_names_notification_and_refusal(kb: KnowledgeBase) -> None:
    summary = kb.laws["eu-e-evidence"].summary
    assert "notified (art. 8)" in summary and "grounds for refusal (art. 12)" in summary
    assert "18 August 2026" in summary


def test_laws_have_citations(kb: KnowledgeBase) -> None:
    assert {"us-cloud-act", "us-fisa-702", "cn-nil"} <= set(kb.laws)
    for law in kb.laws.values():
        assert law.citation and law.reach and law.source.startswith("http")


def test_every_region_of_the_feeds_is_placed_or_explained(kb: KnowledgeBase) -> None:
    for place in kb.regions.values():
        assert place.country or place.kind in {"edge", "unknown"} or place.note, place


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("*.cloudfront.net", "d1.cloudfront.net", True),
        ("*.cloudfront.net", "a.b.cloudfront.net", True),
        ("*.cloudfront.net", "cloudfront.net", False),
        ("*.cloudfront.net", "cloudfront.net.evil.example", False),
        ("*.cloudfront.net", "xcloudfront.net", False),
        ("ns-*.awsdns-*.org", "ns-1.awsdns-22.org", True),
        ("ns-*.awsdns-*.org", "ns-1.awsdns-22.org.example", False),
        ("alt?.aspmx.l.google.com", "alt1.aspmx.l.google.com", True),
        ("alt?.aspmx.l.google.com", "alt12.aspmx.l.google.com", False),
        ("*.<region>.elb.amazonaws.com", "x.ca-central-1.elb.amazonaws.com", True),
        ("*.<region>.elb.amazonaws.com", "ca-central-1.elb.amazonaws.com", False),
    ],
)
def test_host_patterns_match_whole_labels(pattern: str, host: str, matches: bool) -> None:
    assert bool(compile_host_pattern(pattern).match(host)) is matches


def _copy(tmp_path: Path, kb: KnowledgeBase) -> Path:
    target = tmp_path / "data"
    shutil.copytree(kb.data_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def test_digest_changes_when_data_changes(tmp_path: Path, kb: KnowledgeBase) -> None:
    data = _copy(tmp_path, kb)
    assert load_knowledge(data).digest == kb.digest
    regions = data / "regions.csv"
    regions.write_text(
        regions.read_text(encoding="utf-8") + "aws,xx-test-1,aws,CA,,,region,,test\n",
        encoding="utf-8",
    )
    changed = load_knowledge(data)
    assert changed.digest != kb.digest
    assert changed.regions[("aws", "xx-test-1")].country == "CA"


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (
            "providers.yaml",
            "laws: [us-cloud-act, us-fisa-702, us-nsl, eu-e-evidence]",
            "laws: [us-nope]",
            "unknown law id 'us-nope'",
        ),
        (
            "providers.yaml",
            "jurisdictions: [US]",
            "jurisdictions: [XX]",
            "'XX' is not an ISO 3166 code",
        ),
        (
            "regions.csv",
            "ca-central-1,aws,CA,CA-QC",
            "ca-central-1,aws,CA,US-QC",
            "subdivision 'US-QC'",
        ),
        (
            "hostnames.csv",
            "MX,*.pphosted.com,proofpoint",
            "MX,*.pphosted.com,nobody",
            "provider 'nobody'",
        ),
        ("laws.yaml", "jurisdiction: US", "jurisdiction: [", "invalid YAML"),
    ],
)
def test_bad_data_gives_one_line_naming_the_file(
    tmp_path: Path, kb: KnowledgeBase, name: str, old: str, new: str, message: str
) -> None:
    data = _copy(tmp_path, kb)
    path = data / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ResolveError) as info:
        load_knowledge(data)
    assert name in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_data_is_a_resolve_error(tmp_path: Path, kb: KnowledgeBase) -> None:
    data = _copy(tmp_path, kb)
    (data / "ipindex.npz").unlink()
    with pytest.raises(ResolveError, match=r"ipindex\.npz"):
        load_knowledge(data)


def test_corrupt_index_is_a_resolve_error(tmp_path: Path, kb: KnowledgeBase) -> None:
    data = _copy(tmp_path, kb)
    (data / "ipindex.npz").write_bytes(b"not a zip")
    with pytest.raises(ResolveError, match=r"ipindex\.npz"):
        load_knowledge(data)


def test_dataset_provenance_is_recorded(kb: KnowledgeBase) -> None:
    for dataset in kb.datasets.values():
        assert dataset.source and dataset.date and dataset.licence
        for name in dataset.files:
            assert (kb.data_dir / name).is_file(), name
    assert "DB-IP" in kb.datasets["ip-asn"].licence
