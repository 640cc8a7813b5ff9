"""Reports say why a finding matters: the rule's rationale, its remedy, the framework controls
it maps to and the laws the report names, once per rule and law, not per finding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from sovscan.engine import default_rules_dir, load_rules
from sovscan.model import Finding, Reference, RuleInfo, Scan, Severity, Status, WaiverMark
from sovscan.report import REPORTERS
from sovscan.scan import rule_infos
from tests.factories import make_scan, resolved_bucket

S70 = (
    "CQLR c. A-2.1, s. 70.1 (a2.1-s70.1): Public bodies: before releasing personal information "
    "outside Québec"
)
FOREIGN = "foreign-law-reach: Data held by an operator that a foreign law can compel"
CLOUD_ACT = "Clarifying Lawful Overseas Use of Data Act (CLOUD Act)"


@pytest.fixture(scope="module")
def infos() -> Mapping[str, RuleInfo]:
    return rule_infos(load_rules(default_rules_dir()))


def shipped_scan(infos: Mapping[str, RuleInfo], buckets: int = 1) -> Scan:
    """Buckets with a foreign-law-reach risk each, one location-unknown unknown, and an ok
    finding of data-outside-allowed-locations, with the shipped rules' words and a law
    catalogue that names the CLOUD Act."""
    items = tuple(resolved_bucket(f"bucket-{i:05d}") for i in range(buckets))
    rule = infos["foreign-law-reach"]
    findings = [
        Finding(
            "foreign-law-reach",
            item.asset.id,
            Status.RISK,
            Severity.HIGH,
            f"{item.asset.name} is reachable",
            references=tuple(Reference(c.framework, c.control) for c in rule.references),
        )
        for item in items
    ]
    findings += [
        Finding("location-unknown", items[0].asset.id, Status.UNKNOWN, Severity.INFO, "?"),
        Finding(
            "data-outside-allowed-locations", items[0].asset.id, Status.OK, Severity.HIGH, "ok"
        ),
    ]
    laws = {
        "us-cloud-act": {
            "name": CLOUD_ACT,
            "jurisdiction": "US",
            "citation": "18 U.S.C. § 2713",
            "reach": "Providers subject to US jurisdiction must disclose data wherever stored.",
        },
        "cn-nil": {"name": "National Intelligence Law", "jurisdiction": "CN"},
    }
    scan = make_scan(assets=items, findings=tuple(findings))
    return replace(scan, rules=infos, laws=laws)


def test_a_scans_rule_info_words_its_controls_as_frameworks_yaml_does() -> None:
    ruleset = load_rules(default_rules_dir())
    rule = next(r for r in ruleset.rules if r.id == "foreign-law-reach")
    info = rule_infos(ruleset)["foreign-law-reach"]
    cited = [(c.framework, c.control) for c in info.references]
    assert cited == [(r.framework, r.control) for r in rule.references]
    s70 = next(c for c in info.references if c.control == "a2.1-s70.1")
    assert s70.framework_title.startswith("Quebec Law 25 (S.Q. 2021, c. 25)")
    assert s70.citation == "CQLR c. A-2.1, s. 70.1"
    assert s70.title.startswith("Public bodies: before releasing personal information outside")


def test_markdown_explains_each_rule_that_found_something(infos: Mapping[str, RuleInfo]) -> None:
    text = REPORTERS["markdown"](shipped_scan(infos))
    why = text.split("## Why these findings matter\n", 1)[1]
    assert f"### {FOREIGN}\n" in why
    assert "Severity high; in this scan: 1 risk finding." in why
    assert "**Why it matters.** Physical location does not settle control." in why
    assert "**What to do.** Record a transfer or privacy impact assessment" in why
    assert "- Quebec Law 25 (S.Q. 2021, c. 25): personal information leaving Québec\n" in why
    assert f"  - {S70}" in why
    assert "  - Regulation (EU) 2016/679, art. 48 (art-48): Transfers or disclosures" in why
    assert "### location-unknown: Where the data is could not be determined" in why
    # The most severe rule first; a rule whose findings are all ok is not explained.
    assert why.index("### foreign-law-reach") < why.index("### location-unknown")
    assert "data-outside-allowed-locations" not in why


def test_markdown_lists_the_laws_the_report_names(infos: Mapping[str, RuleInfo]) -> None:
    text = REPORTERS["markdown"](shipped_scan(infos))
    laws = text.split("## Laws named in this report\n", 1)[1]
    assert (
        f"| us-cloud-act | {CLOUD_ACT} | US | Providers subject to US jurisdiction must disclose "
        "data wherever stored. | 18 U.S.C. § 2713 |"
    ) in laws
    # Named beside an asset but missing from the catalogue: said, not dropped.
    assert "| us-fisa-702 | not in this scan's law catalogue | - | - | - |" in laws
    assert "cn-nil" not in laws  # in the catalogue, but no asset's operator answers to it


def test_html_explains_each_rule_and_lists_the_laws(infos: Mapping[str, RuleInfo]) -> None:
    text = REPORTERS["html"](shipped_scan(infos))
    why = text.split('<div id="why">', 1)[1].split("</div>", 1)[0]
    assert "<h3><code>foreign-law-reach</code>: Data held by an operator" in why
    assert "<strong>Why it matters.</strong> Physical location does not settle control." in why
    assert "<strong>What to do.</strong> Record a transfer" in why
    assert "<li>Quebec Law 25 (S.Q. 2021, c. 25): personal information leaving Québec<ul>" in why
    assert f"<li>{S70}" in why
    assert "data-outside-allowed-locations" not in why
    laws = text.split('<table id="laws">', 1)[1].split("</table>", 1)[0]
    assert f"<tr><td><code>us-cloud-act</code></td><td>{CLOUD_ACT}</td><td>US</td>" in laws
    assert "cn-nil" not in laws and "us-fisa-702" in laws


@pytest.mark.parametrize("name", ["markdown", "html"])
def test_the_sections_hold_one_entry_per_rule_and_law_not_per_finding(
    name: str, infos: Mapping[str, RuleInfo]
) -> None:
    small = REPORTERS[name](shipped_scan(infos, buckets=1))
    large = REPORTERS[name](shipped_scan(infos, buckets=2000))
    rationale = "Physical location does not settle control."
    assert small.count(rationale) == large.count(rationale) == 1
    assert small.count(CLOUD_ACT) == large.count(CLOUD_ACT) == 1
    assert "2000 risk findings" in large


@pytest.mark.parametrize("name", ["markdown", "html"])
def test_a_scan_with_nothing_found_has_no_sections(name: str) -> None:
    bucket = resolved_bucket()
    ok = Finding("foreign-law-reach", bucket.asset.id, Status.OK, Severity.HIGH, "fine")
    text = REPORTERS[name](make_scan(assets=(bucket,), findings=(ok,)))
    assert "Why these findings matter" not in text


def test_markdown_findings_name_their_references_and_waiver_in_the_row(
    infos: Mapping[str, RuleInfo],
) -> None:
    scan = shipped_scan(infos)
    mark = WaiverMark("EFVP-2026-03 assessed the transfer", "dpo@universite.example", "2027-06-30")
    waived = replace(scan.findings[0], waiver=mark)
    text = REPORTERS["markdown"](replace(scan, findings=(waived, *scan.findings[1:])))
    assert "| Severity | Status | Rule | Asset | Finding | References |" in text
    row = next(line for line in text.splitlines() if "bucket-00000 is reachable" in line)
    assert "| risk (waived) |" in row
    assert "accepted by dpo@universite.example until 2027-06-30" in row
    assert row.endswith(
        " | qc-law25 p39.1-s17, a2.1-s70.1; gdpr art-48; secnumcloud 19.6; eu-csf SOV-2 |"
    )
    unknown = next(line for line in text.splitlines() if "| location-unknown |" in line)
    assert unknown.endswith(" | - |")  # no reference mapped
    assert "in this scan: 1 risk finding (1 waived)." in text
