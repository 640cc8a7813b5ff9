"""The embedded demo end to end: what a student should learn, and how profiles, custom rules and
waivers change the report."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.demo import demo_config, run_demo
from sovscan.engine import RuleSet, Waiver, default_rules_dir, load_rules
from sovscan.history import diff_scans, save_scan
from sovscan.model import Scan, Status
from sovscan.report import REPORTERS
from sovscan.resolve import KnowledgeBase, load_knowledge
from sovscan.scan import apply_profile_name, assess
from tests.conftest import REPO, StepClock

MONTREAL_BUCKET = "ue-research-data"


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(default_rules_dir())


@pytest.fixture(scope="module")
def demo_document() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["demo", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def asset_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [a for a in document["assets"] if a["name"] == name]
    assert len(matches) == 1, [a["name"] for a in document["assets"]]
    return matches[0]


def test_montreal_bucket_is_in_quebec_yet_reachable_by_us_law(
    demo_document: dict[str, Any],
) -> None:
    bucket = asset_named(demo_document, MONTREAL_BUCKET)
    assert bucket["kind"] == "aws.s3.bucket"
    assert bucket["location"]["country"] == "CA"
    assert bucket["location"]["subdivision"] == "CA-QC"
    assert bucket["location"]["method"] == "cloud-api"
    assert "US" in bucket["control"]["jurisdictions"]
    assert "us-cloud-act" in bucket["control"]["laws"]
    statuses = {
        f["rule_id"]: f["status"]
        for f in demo_document["findings"]
        if f["asset_id"] == bucket["id"]
    }
    assert statuses["data-outside-allowed-locations"] == "ok"
    assert statuses["foreign-law-reach"] == "risk"


def test_published_data_abroad_is_not_a_compelled_access_risk(
    demo_document: dict[str, Any],
) -> None:
    # Both buckets sit in Virginia under Amazon; only the one holding personal data is at risk.
    statuses = {}
    for name in ("ue-web-assets", "ue-research-data-replica"):
        bucket = asset_named(demo_document, name)
        statuses[name] = {
            f["rule_id"]: f["status"]
            for f in demo_document["findings"]
            if f["asset_id"] == bucket["id"]
        }
    assert statuses["ue-web-assets"]["foreign-law-reach"] == "ok"
    assert statuses["ue-web-assets"]["data-outside-allowed-locations"] == "ok"
    assert statuses["ue-research-data-replica"]["foreign-law-reach"] == "risk"
    assert statuses["ue-research-data-replica"]["data-outside-allowed-locations"] == "risk"


def test_demo_is_complete_and_never_calls_the_unseen_ok(demo_document: dict[str, Any]) -> None:
    assert demo_document["complete"] is True and demo_document["gaps"] == []
    by_id = {a["id"]: a for a in demo_document["assets"]}
    for finding in demo_document["findings"]:
        asset = by_id[finding["asset_id"]]
        if finding["rule_id"] == "data-outside-allowed-locations" and finding["status"] == "ok":
            assert asset["location"]["country"] is not None
        if finding["rule_id"] == "foreign-law-reach" and finding["status"] == "ok":
            assert asset["control"]["jurisdictions"] is not None
        if finding["status"] == "unknown":
            assert finding["missing"]


def test_demo_shows_the_whole_estate(demo_document: dict[str, Any]) -> None:
    kinds = {a["kind"] for a in demo_document["assets"]}
    assert {"aws.s3.bucket", "aws.rds.instance", "aws.ec2.instance", "dns.mx", "dns.ns"} <= kinds
    assert {"saas.endpoint", "dns.txt"} <= kinds
    places = {
        a["name"]: a["location"]["subdivision"] or a["location"]["country"]
        for a in demo_document["assets"]
        if a["kind"] == "aws.s3.bucket"
    }
    assert places["ue-research-data"] == "CA-QC"
    assert places["ue-web-assets"].startswith("US")
    assert places["ue-partner-exchange"].startswith("FR")
    # a small estate a student can read: moto's public snapshots are not the university's
    assert len(demo_document["assets"]) < 100


def findings_of(scan: Scan, rule_id: str) -> dict[str, Status]:
    return {f.asset_id: f.status for f in scan.findings if f.rule_id == rule_id}


@pytest.fixture(scope="module")
def demo_scan(knowledge: KnowledgeBase, ruleset: RuleSet) -> Scan:
    return run_demo(knowledge, ruleset, clock=StepClock(datetime(2026, 11, 24, 12, tzinfo=UTC)))


def reassess(
    demo_scan: Scan,
    knowledge: KnowledgeBase,
    ruleset: RuleSet,
    *,
    profile: str | None = None,
    waivers: tuple[Waiver, ...] = (),
) -> Scan:
    # The demo's observations evaluated again, as a replay does: one probe run serves every case.
    config = replace(demo_config(), waivers=waivers)
    rules, policy = apply_profile_name(config, ruleset, profile)
    return assess(
        policy,
        [item.asset for item in demo_scan.assets],
        demo_scan.gaps,
        knowledge,
        rules,
        started=demo_scan.started_at,
        finished=demo_scan.finished_at,
        waivers=waivers,
        profile=profile,
    )


def test_run_demo_applies_a_profile_to_the_same_estate(
    demo_scan: Scan, knowledge: KnowledgeBase, ruleset: RuleSet
) -> None:
    scan = run_demo(knowledge, ruleset, profile="gc-protected-b")
    assert scan.profile == "gc-protected-b" and scan.complete
    # The demo's own allowed_locations (CA-QC) win over the profile's (CA): the report says so.
    assert scan.policy.allowed_locations == ("CA-QC",)
    said = (
        "profile gc-protected-b sets allowed_locations to CA, but the inventory's own "
        "allowed_locations (CA-QC) is used: an institution's values win over its profile; "
        "remove allowed_locations from the inventory to use the profile's"
    )
    assert [n for n in scan.notices if n.startswith("profile ")] == [said]
    assert not [n for n in demo_scan.notices if n.startswith("profile ")]  # no profile, no notice
    # moto's ids are seeded: a second run is the same estate, so diffs between runs are empty
    assert [a.asset.id for a in scan.assets] == [a.asset.id for a in demo_scan.assets]


def test_a_profile_changes_policy_and_severities(
    demo_scan: Scan, knowledge: KnowledgeBase, ruleset: RuleSet
) -> None:
    protected_b = reassess(demo_scan, knowledge, ruleset, profile="gc-protected-b")
    assert protected_b.profile == "gc-protected-b"
    # what the inventory sets itself wins over the profile; the rest comes from the profile
    assert protected_b.policy.allowed_locations == ("CA-QC",)
    assert "protected-b" in protected_b.policy.sensitive_classifications
    assert "personal" not in protected_b.policy.sensitive_classifications
    outside = [f for f in protected_b.findings if f.rule_id == "data-outside-allowed-locations"]
    assert outside and all(f.severity.value == "critical" for f in outside)
    # gc-protected-b does not select the foreign-law rule
    assert findings_of(demo_scan, "foreign-law-reach")
    assert not findings_of(protected_b, "foreign-law-reach")


def test_a_custom_rule_directory_adds_findings(
    demo_scan: Scan, knowledge: KnowledgeBase, tmp_path: Path
) -> None:
    custom = tmp_path / "our-rules"
    custom.mkdir()
    (custom / "no-us-buckets.yaml").write_text(
        "id: no-us-buckets\ntitle: No bucket in the United States\nseverity: critical\n"
        "applies_to: [aws.s3.bucket]\n"
        "match: {field: location.country, op: equals, value: US}\n"
        "message: '{asset.name} is in the United States'\n"
        "rationale: Our board said so.\nremediation: Move it.\nreferences: []\ntags: [local]\n",
        encoding="utf-8",
    )
    scan = reassess(demo_scan, knowledge, load_rules(default_rules_dir(), custom))
    statuses = findings_of(scan, "no-us-buckets")
    risky = sorted(asset_id for asset_id, status in statuses.items() if status is Status.RISK)
    # the two buckets in Virginia: the web assets, and the research data's replica
    assert [asset_id.rsplit(":", 1)[1] for asset_id in risky] == [
        "ue-research-data-replica",
        "ue-web-assets",
    ]
    assert not findings_of(demo_scan, "no-us-buckets")


def test_a_waiver_applies_until_it_expires(
    demo_scan: Scan, knowledge: KnowledgeBase, ruleset: RuleSet
) -> None:
    target = next(
        f
        for f in demo_scan.findings
        if f.rule_id == "foreign-law-reach" and f.asset_id.endswith(MONTREAL_BUCKET)
    )
    today = demo_scan.started_at.date()
    waiver = Waiver(
        "Assessed under s. 17, TIA-2026-04",
        "dpo@universite.example",
        today + timedelta(days=30),
        finding=target.key,
    )
    waived = reassess(demo_scan, knowledge, ruleset, waivers=(waiver,))
    marked = next(f for f in waived.findings if f.key == target.key)
    assert marked.status is Status.RISK and marked.waiver is not None
    assert marked.waiver.owner == "dpo@universite.example"
    assert waived.score.value <= demo_scan.score.value
    assert not waived.notices

    expired = replace(waiver, expires=today - timedelta(days=1))
    late = reassess(demo_scan, knowledge, ruleset, waivers=(expired,))
    unmarked = next(f for f in late.findings if f.key == target.key)
    assert unmarked.waiver is None
    assert late.score == demo_scan.score
    assert late.notices == (
        f"waiver expired on {expired.expires}: finding {target.key} (dpo@universite.example)",
    )

    # Renewed, with the expired one kept as a record: the renewal applies, and nothing is told.
    renewed = reassess(demo_scan, knowledge, ruleset, waivers=(expired, waiver))
    assert next(f for f in renewed.findings if f.key == target.key).waiver is not None
    assert renewed.score == waived.score
    assert not renewed.notices


def test_two_demo_scans_with_a_change_give_the_expected_diff(
    demo_scan: Scan, knowledge: KnowledgeBase, ruleset: RuleSet, tmp_path: Path
) -> None:
    # Between the two scans the university deletes its Paris bucket and creates an archive
    # bucket in Virginia.
    observed = [item.asset for item in demo_scan.assets]
    paris = next(a for a in observed if a.name == "ue-partner-exchange")
    montreal = next(a for a in observed if a.name == MONTREAL_BUCKET)
    archive = replace(
        montreal,
        id=montreal.id.replace(MONTREAL_BUCKET, "ue-archive"),
        name="ue-archive",
        attributes={**montreal.attributes, "region": "us-east-1"},
    )
    later = demo_scan.started_at + timedelta(days=7)
    second = assess(
        demo_scan.policy,
        [a for a in observed if a is not paris] + [archive],
        demo_scan.gaps,
        knowledge,
        ruleset,
        started=later,
        finished=later,
    )
    store = tmp_path / "history.sqlite"
    save_scan(store, demo_scan)
    save_scan(store, second)
    diff = diff_scans(store)
    assert {(c.asset_id, c.change) for c in diff.assets} == {
        (paris.id, "removed"),
        (archive.id, "new"),
    }
    new = {(c.rule_id, c.asset_id) for c in diff.findings if c.change == "new"}
    resolved = {(c.rule_id, c.asset_id) for c in diff.findings if c.change == "resolved"}
    assert ("data-outside-allowed-locations", archive.id) in new
    assert ("foreign-law-reach", archive.id) in new
    assert ("foreign-law-reach", paris.id) in resolved
    assert all(c.asset_id in (paris.id, archive.id) for c in diff.findings)
    first_seen = {c.asset_id: c.first_seen for c in diff.assets}
    assert first_seen[archive.id] == later.isoformat()


def test_every_demo_run_is_the_same_estate(
    demo_scan: Scan, knowledge: KnowledgeBase, ruleset: RuleSet
) -> None:
    # The golden observations were recorded by a process's first demo run; a later run in this
    # process (the fixture's came first) must observe the very same resources, moto's ids included.
    recorded = json.loads(
        (REPO / "tests" / "golden" / "demo-observations.json").read_text(encoding="utf-8")
    )
    again = run_demo(knowledge, ruleset, clock=StepClock(datetime(2026, 11, 24, 12, tzinfo=UTC)))
    ids = [item.asset.id for item in again.assets]
    assert ids == [item.asset.id for item in demo_scan.assets]
    assert ids == [asset["id"] for asset in recorded["assets"]]


def test_the_demo_account_region_guardrail_is_unknown_not_unchecked(demo_scan: Scan) -> None:
    # A single account's SCPs cannot be read from it: Guardrail 5 is answered "unknown".
    (finding,) = [f for f in demo_scan.findings if f.rule_id == "account-without-region-guardrail"]
    assert finding.asset_id == "aws:123456789012:account"
    assert finding.status is Status.UNKNOWN
    assert finding.missing == ("asset.attr.region_guardrail",)


def test_an_ok_owed_to_a_public_label_says_so(demo_scan: Scan) -> None:
    # The public web bucket sits in Virginia under US control: its OK must not read as if it
    # were in the right place, only as exempt.
    messages = {
        (f.rule_id, f.asset_id): f.message for f in demo_scan.findings if f.status is Status.OK
    }
    web = "aws:123456789012:s3:ue-web-assets"
    assert messages[("foreign-law-reach", web)] == (
        "Data held by an operator that a foreign law can compel: does not apply to "
        "ue-web-assets, classified public (not sensitive data)"
    )
    # An OK for a sensitive asset has no such reason.
    assert messages[("data-outside-allowed-locations", "aws:123456789012:s3:ue-research-data")] == (
        "Data at rest outside the allowed locations: not the case for ue-research-data"
    )


def test_no_evidence_chain_repeats_a_step(demo_scan: Scan) -> None:
    # Resolution cites a step that decided both the place and the operator (a mailbox's deciding
    # signal, a documentation address) in both answers, and the HTML page showed a finding's
    # chain as its asset's chain followed by the finding's evidence, taken from the same asset:
    # each step the rule read was listed twice.
    for finding in demo_scan.findings:
        assert len(set(finding.evidence)) == len(finding.evidence), finding.key
    page = REPORTERS["html"](demo_scan)
    found = re.search(r'<pre id="report-data" hidden>(.*?)</pre>', page, re.DOTALL)
    assert found is not None
    data = json.loads(html.unescape(found.group(1)))
    assets, findings = data["assets"], data["findings"]
    # The page's row: [severity, status, waived, rule, asset index, asset id, ..., evidence].
    chains = {(f[3], f[5]): (assets[f[4]][8] if f[4] >= 0 else []) + f[10] for f in findings}
    for item in (*chains.values(), *(a[8] for a in assets)):
        steps = [tuple(step) for step in item]
        assert len(set(steps)) == len(steps), steps
    # Nothing was lost: every finding still shows each step its rule read.
    for finding in demo_scan.findings:
        shown = {(step[0], step[2]) for step in chains[(finding.rule_id, finding.asset_id)]}
        assert shown >= {(e.source, e.detail) for e in finding.evidence}
