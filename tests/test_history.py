"""The history store keeps scans across runs; diff finds new, resolved and changed findings."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sovscan.cli import cli, exit_code
from sovscan.history import (
    NOT_JUDGED,
    SCHEMA_VERSION,
    Aspect,
    HistoryError,
    StoredWaiver,
    diff_scans,
    list_scans,
    load_document,
    new_risk_keys,
    relabelled_risks,
    save_scan,
)
from sovscan.model import (
    Asset,
    AwsScope,
    Finding,
    Gap,
    ResolvedAsset,
    RuleInfo,
    Scan,
    ScanScope,
    Severity,
    Status,
    WaiverMark,
)
from sovscan.report.diff import render_csv, render_json, render_markdown, render_table
from sovscan.scope import covers, dropped, scope_document, scope_from_document, scope_unit
from tests.factories import in_force, lms_inventory, make_scan, resolved_bucket, saas_endpoint
from tests.report.test_json import validate

ASSET = "aws:123456789012:s3:research-data"


def scan_at(minutes: int, findings: tuple[Finding, ...], scan_id: str) -> Scan:
    base = make_scan(findings=findings)
    start = base.started_at + timedelta(minutes=minutes)
    return replace(base, id=scan_id, started_at=start, finished_at=start)


def risk(rule: str, severity: Severity = Severity.HIGH, asset: str = ASSET) -> Finding:
    return Finding(rule, asset, Status.RISK, severity, f"{rule} on {asset}")


def ok(rule: str, asset: str = ASSET) -> Finding:
    return Finding(rule, asset, Status.OK, Severity.HIGH, f"{rule} ok")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite"


def test_new_resolved_and_changed_with_first_seen(store: Path) -> None:
    first = scan_at(0, (risk("a"), risk("b"), ok("c")), "scan-1")
    second = scan_at(10, (risk("a"), ok("b"), risk("c"), risk("d", Severity.LOW)), "scan-2")
    save_scan(store, first)
    save_scan(store, second)
    diff = diff_scans(store)
    assert (diff.old.id, diff.new.id) == ("scan-1", "scan-2")
    changes = {(c.rule_id, c.change) for c in diff.findings}
    assert changes == {("b", "resolved"), ("c", "new"), ("d", "new")}
    first_seen = {c.rule_id: c.first_seen for c in diff.findings}
    assert first_seen["c"] == second.started_at.isoformat()
    assert first_seen["b"] == first.started_at.isoformat()  # was a risk since the first scan
    assert {c.rule_id for c in diff.new_risks} == {"c", "d"}


def test_asset_moves_are_reported(store: Path) -> None:
    save_scan(store, scan_at(0, (), "scan-1"))
    moved = replace(
        scan_at(10, (), "scan-2"),
        assets=(resolved_bucket(), replace(resolved_bucket("archive"))),
    )
    save_scan(store, moved)
    diff = diff_scans(store)
    assert [(a.asset_id, a.change) for a in diff.assets] == [
        ("aws:123456789012:s3:archive", "new"),
        ("dns:universite.example:txt:acme", "removed"),
    ]


def partial(scan: Scan) -> Scan:
    """`scan` with gaps in every unit of its estate (the DNS probe's domain, and the AWS account
    it could not enter): what it lacks was not seen, not found absent."""
    return replace(
        scan,
        gaps=(
            Gap("dns:universite.example", "SOA: timeout"),
            Gap("aws:123456789012", "AccessDenied: sts:AssumeRole"),
        ),
    )


def test_a_partial_scan_neither_resolves_nor_renews_what_it_did_not_see(store: Path) -> None:
    both = (risk("a"), risk("b", asset="dns:universite.example:host:www.universite.example"))
    save_scan(store, scan_at(0, both, "scan-1"))
    save_scan(store, partial(scan_at(10, (risk("a"),), "scan-2")))
    outage = diff_scans(store)
    assert not outage.new.complete
    assert [(c.rule_id, c.change, c.old_status, c.new_status) for c in outage.findings] == [
        ("b", "unseen", "risk", None)
    ]
    assert outage.assets == ()  # both assets were seen: only the risk on www was not
    for text in (render_table(outage), render_markdown(outage)):
        assert "partial)" in text and "listed as unseen, not as resolved or removed" in text
    # The next complete scan sees b again, and a new risk c: only c is new, against the scan
    # before the outage for b (the partial scan could not say b was gone).
    save_scan(store, scan_at(20, (*both, risk("c")), "scan-3"))
    back = diff_scans(store)
    assert [(c.rule_id, c.change) for c in back.findings] == [("c", "new")]
    assert "listed as unseen" not in render_table(back)  # the newer scan is complete
    assert new_risk_keys(store, "scan-3") == {risk("c").key}
    # A complete scan without b resolves it, and b coming back after that is new again.
    save_scan(store, scan_at(30, (risk("a"), risk("c")), "scan-4"))
    assert [(c.rule_id, c.change) for c in diff_scans(store).findings] == [("b", "resolved")]
    save_scan(store, scan_at(40, (*both, risk("c")), "scan-5"))
    assert new_risk_keys(store, "scan-5") == {both[1].key}


def unknown(rule: str, asset: str = ASSET) -> Finding:
    return Finding(rule, asset, Status.UNKNOWN, Severity.HIGH, f"{rule} unknown")


def test_a_risk_a_partial_scan_could_not_tell_is_unseen_then_not_new(store: Path) -> None:
    # In an outage the asset often stays, its finding turned unknown (same key).
    save_scan(store, scan_at(0, (risk("a"),), "scan-1"))
    save_scan(store, partial(scan_at(10, (unknown("a"),), "scan-2")))
    assert [(c.rule_id, c.change) for c in diff_scans(store).findings] == [("a", "unseen")]
    save_scan(store, scan_at(20, (risk("a"),), "scan-3"))
    assert diff_scans(store).findings == ()
    assert new_risk_keys(store, "scan-3") == set()


def test_a_risk_first_seen_in_a_partial_scan_is_new_at_the_next_complete_one(
    store: Path,
) -> None:
    # The partial scan's run said only "partial" (exit 3): the new risk must still be told.
    save_scan(store, scan_at(0, (ok("a"),), "scan-1"))
    save_scan(store, partial(scan_at(10, (risk("a"),), "scan-2")))
    save_scan(store, scan_at(20, (risk("a"),), "scan-3"))
    assert new_risk_keys(store, "scan-3") == {risk("a").key}


def test_a_resolution_after_a_partial_scan_is_reported(store: Path) -> None:
    save_scan(store, scan_at(0, (risk("a"), risk("b")), "scan-1"))
    save_scan(store, partial(scan_at(10, (risk("b"),), "scan-2")))
    save_scan(store, scan_at(20, (risk("b"),), "scan-3"))
    assert [(c.rule_id, c.change) for c in diff_scans(store).findings] == [("a", "resolved")]


def test_an_asset_a_partial_scan_missed_is_unseen_not_removed(store: Path) -> None:
    save_scan(store, scan_at(0, (), "scan-1"))
    missed = replace(partial(scan_at(10, (), "scan-2")), assets=(resolved_bucket(),))
    save_scan(store, missed)
    assert [(a.asset_id, a.change) for a in diff_scans(store).assets] == [
        ("dns:universite.example:txt:acme", "unseen")
    ]
    save_scan(store, scan_at(20, (), "scan-3"))  # seen again, unchanged: nothing to report
    assert diff_scans(store).assets == ()


def test_diff_refuses_scans_of_two_institutions(store: Path) -> None:
    save_scan(store, scan_at(0, (), "scan-1"))
    other = scan_at(10, (), "scan-2")
    save_scan(store, replace(other, policy=replace(other.policy, institution="Autre")))
    with pytest.raises(HistoryError, match="diff compares two scans of one institution"):
        diff_scans(store, "scan-1", "scan-2")


def test_list_and_load(store: Path) -> None:
    save_scan(store, scan_at(0, (risk("a"),), "scan-1"))
    save_scan(store, scan_at(5, (), "scan-2"))
    listed = list_scans(store)
    assert [(s.id, s.risks) for s in listed] == [("scan-1", 1), ("scan-2", 0)]
    assert load_document(store, "scan-1")["schema"] == "sovscan.scan/1"


def test_errors_are_one_line(store: Path, tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history store here"):
        diff_scans(store)
    assert not store.exists()  # reading never creates a store
    save_scan(store, scan_at(0, (), "scan-1"))
    with pytest.raises(HistoryError, match="holds no earlier scan"):
        diff_scans(store)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match="not a sovscan history store"):
        list_scans(garbage)


def test_store_from_a_newer_sovscan_is_refused(store: Path) -> None:
    save_scan(store, scan_at(0, (), "scan-1"))
    with sqlite3.connect(store) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer than this sovscan"):
        list_scans(store)


def test_fail_on_new_counts_only_new_risks() -> None:
    scan = make_scan(findings=(risk("a"), risk("b")))
    keys = {risk("b").key}
    assert exit_code(scan, "high", keys) == 1
    assert exit_code(scan, "high", set()) == 0


def test_history_and_diff_commands(store: Path, tmp_path: Path) -> None:
    save_scan(store, scan_at(0, (risk("a"),), "scan-1"))
    save_scan(store, scan_at(10, (risk("a"), risk("new-rule")), "scan-2"))
    runner = CliRunner()
    listed = runner.invoke(cli, ["history", "--store", str(store)])
    assert listed.exit_code == 0 and "scan-1" in listed.stdout and "scan-2" in listed.stdout
    for fmt in ("table", "json", "csv", "markdown"):
        result = runner.invoke(cli, ["diff", "--store", str(store), "--format", fmt])
        assert result.exit_code == 0, result.stderr
        assert "new-rule" in result.stdout
    explicit = runner.invoke(cli, ["diff", "scan-1", "scan-2", "--store", str(store)])
    assert explicit.exit_code == 0 and "new-rule" in explicit.stdout
    # Backwards, every new risk would read as resolved: refused, in one line.
    backwards = runner.invoke(cli, ["diff", "scan-2", "scan-1", "--store", str(store)])
    assert backwards.exit_code == 2 and backwards.stdout == ""
    assert backwards.stderr.endswith("; give the older scan first\n")
    assert (
        "scan scan-2 (" in backwards.stderr and "is not older than scan scan-1" in backwards.stderr
    )
    empty = runner.invoke(cli, ["diff", "--store", str(tmp_path / "empty.sqlite")])
    assert empty.exit_code == 2
    assert empty.stderr.startswith("sovscan: error: ") and "no history store here" in empty.stderr
    assert not (tmp_path / "empty.sqlite").exists()


def test_a_bad_store_fails_before_the_scan_writes_anything(tmp_path: Path) -> None:
    inventory = lms_inventory(tmp_path)
    not_a_store = tmp_path / "passwd"
    not_a_store.write_text("root:x:0:0:root:/root:/bin/bash\n" * 50, encoding="utf-8")
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["scan", "-c", str(inventory), "--store", str(not_a_store), "--output", str(report)]
    )
    assert result.exit_code == 2
    assert "not a sovscan history store" in result.stderr
    assert not report.exists()
    missing_folder = CliRunner().invoke(
        cli, ["scan", "-c", str(inventory), "--store", str(tmp_path / "no" / "h.sqlite")]
    )
    assert missing_folder.exit_code == 2 and not (tmp_path / "no").exists()


def test_another_programs_database_is_never_written(tmp_path: Path) -> None:
    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (1)")
    before = foreign.read_bytes()
    with pytest.raises(
        HistoryError, match=r"not a sovscan history store \(it holds other tables: t\)"
    ):
        list_scans(foreign)
    with pytest.raises(HistoryError, match="not a sovscan history store"):
        save_scan(foreign, scan_at(0, (), "scan-1"))
    for command in (["history"], ["diff"]):
        result = CliRunner().invoke(cli, [*command, "--store", str(foreign)])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "not a sovscan history store" in result.stderr
    assert foreign.read_bytes() == before  # no table, no schema version, no journal mode change
    assert not Path(f"{foreign}-wal").exists()


def test_diff_rows_read_by_asset_then_rule(store: Path) -> None:
    assets = [f"dns:school{i}.example:mx" for i in (3, 1, 2)]
    save_scan(store, scan_at(0, (), "scan-1"))
    save_scan(
        store,
        scan_at(10, tuple(risk(rule, asset=a) for a in assets for rule in ("z", "m")), "scan-2"),
    )
    rows = [(c.asset_id, c.rule_id) for c in diff_scans(store).findings]
    assert rows == sorted((a, r) for a in assets for r in ("z", "m"))


def test_a_diff_names_the_settings_that_judged_the_scans_differently(store: Path) -> None:
    # A change of profile turned 23 findings over with nothing changed in the estate, and the
    # diff did not say so.
    first = scan_at(0, (ok("a"),), "scan-1")
    save_scan(store, first)
    policy = replace(first.policy, allowed_locations=("EU",), frameworks=("secnumcloud",))
    second = replace(
        scan_at(10, (risk("a"),), "scan-2"),
        policy=policy,
        profile="secnumcloud",
        rules_digest="f" * 64,
    )
    save_scan(store, second)
    diff = diff_scans(store)
    old_places = ", ".join(first.policy.allowed_locations)
    old_frameworks = ", ".join(first.policy.frameworks or ()) or "none"
    assert diff.settings_changed == (
        "profile: none -> secnumcloud",
        f"allowed locations: {old_places} -> EU",
        f"frameworks: {old_frameworks} -> secnumcloud",
        f"rules (digest): {first.rules_digest[:12]} -> ffffffffffff",
    )
    assert json.loads(render_json(diff))["settings_changed"] == list(diff.settings_changed)
    for text in (render_table(diff), render_markdown(diff)):
        assert "The two scans were judged with other settings: profile: none " in text
        assert "secnumcloud; allowed locations:" in text
    # The same settings: nothing said.
    save_scan(store, replace(second, id="scan-3", started_at=second.started_at + timedelta(1)))
    assert diff_scans(store).settings_changed == ()
    assert "judged with other settings" not in render_table(diff_scans(store))
    # A profile's rules digest differs by its suffix: shown, not cut away.
    later = second.started_at + timedelta(2)
    save_scan(store, replace(second, id="scan-4", started_at=later, rules_digest="f" * 64 + "+p"))
    assert diff_scans(store).settings_changed == ("rules (digest): ffffffffffff -> ffffffffffff+p",)


def judged_by(scan: Scan, *rules: str) -> Scan:
    """`scan` as if its rules were `rules` (a profile, or rule folders, selected them)."""
    info = {r: RuleInfo(r, r, Severity.HIGH, f"rules/{r}.yaml", "", "") for r in rules}
    return replace(scan, rules=info)


def test_a_rule_the_newer_scan_did_not_judge_by_resolves_nothing(store: Path) -> None:
    # A scan under a profile that leaves a rule out said each of its risks "resolved", and the
    # next scan without the profile said them "new" (a DPO's trial, eu-gdpr then secnumcloud).
    save_scan(store, judged_by(scan_at(0, (risk("a"), risk("b")), "scan-1"), "a", "b"))
    save_scan(store, judged_by(scan_at(10, (risk("a"),), "scan-2"), "a"))
    (change,) = diff_scans(store).findings
    assert (change.change, change.rule_id, change.reason) == (
        "unseen",
        "b",
        "not judged by the newer scan: its rules (a profile, or rules folders) leave the rule out",
    )
    save_scan(store, judged_by(scan_at(20, (risk("a"), risk("b")), "scan-3"), "a", "b"))
    assert diff_scans(store).findings == ()  # as last told, in scan-1: not new
    assert new_risk_keys(store, "scan-3") == set()
    # A scan that judged by the rule and lacks its finding did resolve it.
    save_scan(store, judged_by(scan_at(30, (risk("a"),), "scan-4"), "a", "b"))
    (gone,) = diff_scans(store).findings
    assert (gone.change, gone.rule_id) == ("resolved", "b")
    # Scans that name no rules (recorded before sovscan kept them) judged by every rule.
    save_scan(store, scan_at(40, (risk("a"),), "scan-5"))
    assert diff_scans(store).findings == ()


def test_markdown_diff_has_headed_sections_even_when_nothing_changed(store: Path) -> None:
    save_scan(store, scan_at(0, (risk("a"),), "scan-1"))
    save_scan(store, scan_at(10, (risk("a"),), "scan-2"))
    unchanged = render_markdown(diff_scans(store))
    assert "## Findings (0 changed, 0 new risks)\n\n(none)\n" in unchanged
    assert "## Assets (0 changed)\n\n(none)\n" in unchanged
    assert "|---" not in unchanged  # no empty tables
    save_scan(store, scan_at(20, (risk("a"), risk("b")), "scan-3"))
    changed = render_markdown(diff_scans(store))
    assert "## Findings (1 changed, 1 new risks)\n\n| change | severity | rule |" in changed


def test_a_foreign_database_with_a_schema_version_is_refused_unchanged(tmp_path: Path) -> None:
    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE scans (x INTEGER)")  # a name we use, not our table set
        connection.execute("PRAGMA user_version = 7")
    before = foreign.read_bytes()
    with pytest.raises(HistoryError, match="not a sovscan history store"):
        list_scans(foreign)
    assert foreign.read_bytes() == before
    with sqlite3.connect(foreign) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_hostile_text_with_a_lone_surrogate_is_stored(store: Path) -> None:
    odd = resolved_bucket("bad\ud800name")
    scan = replace(make_scan(assets=(odd,)), id="scan-odd")
    save_scan(store, scan)
    assert [s.id for s in list_scans(store)] == ["scan-odd"]


def test_a_foreign_table_name_reaches_the_error_escaped(tmp_path: Path) -> None:
    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute('CREATE TABLE "evil\x1b]0;pwned\x07" (x INTEGER)')
    with pytest.raises(HistoryError) as caught:
        list_scans(foreign)
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert "evil" in str(caught.value)


def test_a_risk_unknown_in_a_complete_scan_is_unseen_then_not_new(store: Path) -> None:
    save_scan(store, scan_at(0, (risk("a"),), "scan-1"))
    save_scan(store, scan_at(10, (unknown("a"),), "scan-2"))  # complete, but could not tell
    assert [(c.rule_id, c.change) for c in diff_scans(store).findings] == [("a", "unseen")]
    save_scan(store, scan_at(20, (risk("a"),), "scan-3"))
    back = diff_scans(store)
    assert [(c.rule_id, c.change, c.old_status, c.new_status) for c in back.findings] == [
        ("a", "changed", "unknown", "risk")
    ]
    assert back.new_risks == () and new_risk_keys(store, "scan-3") == set()
    # Told ok, then unknown, then risk: new, in both.
    save_scan(store, scan_at(30, (ok("b"),), "scan-4"))
    save_scan(store, scan_at(40, (unknown("b"),), "scan-5"))
    save_scan(store, scan_at(50, (risk("b"),), "scan-6"))
    assert [c.rule_id for c in diff_scans(store).new_risks] == ["b"]
    assert new_risk_keys(store, "scan-6") == {risk("b").key}


def test_the_default_diff_shows_what_fail_on_new_counts(store: Path) -> None:
    # ok, then a risk first seen by a scan with a gap in its unit (its run said only
    # "partial"), then the risk in a complete scan: --fail-on-new counts it, and the default
    # diff, compared with the partial scan unit by unit, shows it new, as last told before.
    save_scan(store, scan_at(0, (ok("a"),), "scan-1"))
    save_scan(store, partial(scan_at(10, (risk("a"),), "scan-2")))
    save_scan(store, scan_at(20, (risk("a"),), "scan-3"))
    assert new_risk_keys(store, "scan-3") == {risk("a").key}
    shown = diff_scans(store)
    assert (shown.old.id, shown.new.id) == ("scan-2", "scan-3") and shown.passed_over == ()
    (row,) = shown.new_risks
    assert (row.rule_id, row.change, row.old_status, row.new_status) == ("a", "new", "ok", "risk")
    assert row.reason == (
        "a gap in AWS account 123456789012 (account-wide services) in the older scan; as last "
        "told in scan scan-1 on 2026-11-24"
    )
    for text in (render_table(shown), render_markdown(shown)):
        assert "The older scan is partial: 3 units had gaps (AWS account 123456789012;" in text
        assert "as the latest earlier scan that saw its unit whole told it" in text
    # Asked for explicitly, it is the same comparison.
    assert diff_scans(store, "scan-2", "scan-3") == shown


def partial_elsewhere(scan: Scan) -> Scan:
    """`scan` with a gap in its DNS domain only: the bucket's account was seen whole."""
    return replace(scan, gaps=(Gap("dns:universite.example", "SOA: timeout"),))


def forget_units(store: Path, scan_id: str) -> None:
    """Make a recorded scan look as a sovscan before migration 7 recorded it (no units kept)."""
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE scans SET incomplete = NULL WHERE id = ?", (scan_id,))


def test_default_diff_and_fail_on_new_agree_on_random_histories(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    makers = {"risk": risk, "ok": ok, "unknown": unknown}
    relabelled = 0
    for history in range(40):
        store = tmp_path / f"h{history}.sqlite"
        baseline_seen = False  # an earlier scan complete, or one that kept its units
        recorded_before_units = rng.randint(0, 3)  # the first scans, by an older sovscan
        for number in range(rng.randint(2, 6)):
            # Some scans judge by fewer rules (a profile): they tell nothing of the others.
            rules = "abcd" if rng.random() < 0.7 else "".join(rng.sample("abcd", 2))
            findings = tuple(
                maybe_waived(makers[state](rule), rng)
                for rule in rules
                if (state := rng.choice(["risk", "ok", "unknown", "absent"])) != "absent"
            )
            # Labels come and go too: a risk gone under another label is relabelled in both.
            label = labelled(rng.choice(["personal", "public", "confidential"]))
            scan = replace(scan_at(10 * number, findings, f"scan-{number}"), assets=(label,))
            scan = judged_by(scan, *rules)
            is_partial = rng.random() < 0.35
            if is_partial:
                scan = rng.choice([partial, partial_elsewhere])(scan)
            save_scan(store, scan)
            tells = not is_partial or number >= recorded_before_units
            if not tells:
                forget_units(store, scan.id)
            if number == 0:
                baseline_seen = tells
                continue
            counted = new_risk_keys(store, scan.id)
            shown = diff_scans(store)
            if baseline_seen:
                assert counted == {c.key for c in shown.new_risks}, (history, number)
                assert not shown.no_complete_baseline
                relabels = {r.key for r in relabelled_risks(store, scan.id)}
                assert relabels == {c.key for c in shown.relabelled}, (history, number)
                relabelled += len(relabels)
            else:
                # No baseline: every risk counts as new, and the diff says so.
                assert counted is None and shown.no_complete_baseline
                assert "No earlier complete scan" in render_table(shown)
            baseline_seen = baseline_seen or tells
    assert relabelled  # the histories hold relabels: the agreement is not about empty sets


def maybe_waived(finding: Finding, rng: random.Random) -> Finding:
    """A risk or unknown finding, waived one time in three: waivers come and go in the random
    histories, so a lapsed one must count as new in both --fail-on-new and diff."""
    if finding.status is Status.OK or rng.random() < 2 / 3:
        return finding
    return waived(finding)


def test_an_asset_neither_partial_scan_saw_is_not_listed_again(store: Path) -> None:
    save_scan(store, scan_at(0, (), "scan-1"))
    for number in (2, 3):
        blind = replace(partial(scan_at(10 * number, (), f"scan-{number}")), assets=())
        save_scan(store, blind)
    missed = diff_scans(store, "scan-1", "scan-2").assets
    assert missed and {a.change for a in missed} == {"unseen"}
    assert diff_scans(store, "scan-2", "scan-3").assets == ()


def test_an_asset_gone_after_a_partial_scan_missed_it_is_removed(store: Path) -> None:
    # Only the scan before the partial one had it, and the complete newer scan has it no more:
    # the findings side said its risk was resolved while the assets side skipped it.
    save_scan(store, scan_at(0, (), "scan-1"))  # make_scan's assets: the demo-like estate
    blind = replace(partial(scan_at(10, (), "scan-2")), assets=())
    save_scan(store, blind)
    gone = replace(scan_at(20, (), "scan-3"), assets=())
    save_scan(store, gone)
    removed = diff_scans(store, "scan-2", "scan-3").assets
    assert removed and {a.change for a in removed} == {"removed"}
    assert {a.asset_id for a in removed} == {a.asset.id for a in scan_at(0, (), "x").assets}


def labelled(classification: str) -> ResolvedAsset:
    bucket = resolved_bucket()
    attributes = {**bucket.asset.attributes, "classification": classification}
    return replace(bucket, asset=replace(bucket.asset, attributes=attributes))


def test_a_relabelled_asset_is_a_change_that_explains_its_findings(store: Path) -> None:
    save_scan(store, replace(scan_at(0, (risk("a"),), "scan-1"), assets=(labelled("personal"),)))
    public = replace(scan_at(10, (ok("a"),), "scan-2"), assets=(labelled("public"),))
    save_scan(store, public)
    diff = diff_scans(store)
    assert [(a.change, a.old_classification, a.new_classification) for a in diff.assets] == [
        ("changed", "personal", "public")
    ]
    assert "personal -> public" in render_table(diff)
    assert "| personal → public |" in render_markdown(diff)
    # Unlabelled, the asset is judged by the policy's default, and that is what is kept.
    save_scan(store, replace(scan_at(20, (ok("a"),), "scan-3"), assets=(resolved_bucket(),)))
    default = make_scan().policy.default_classification
    assert [(a.old_classification, a.new_classification) for a in diff_scans(store).assets] == [
        ("public", default)
    ]


def test_a_store_from_before_classifications_is_migrated_without_false_changes(
    store: Path,
) -> None:
    from sovscan.history import _MIGRATIONS

    with sqlite3.connect(store) as connection:
        connection.executescript(_MIGRATIONS[0])
        connection.execute("PRAGMA user_version = 1")
        connection.execute(
            "INSERT INTO scans VALUES ('scan-1', 'Université Exemple', '2026-01-01T00:00:00+00:00',"
            " '2026-01-01T00:00:00+00:00', 0, 1, '{}')"
        )
        connection.execute(
            "INSERT INTO assets VALUES ('scan-1', ?, 'aws.s3.bucket', 'CA-QC', 'US')",
            (resolved_bucket().asset.id,),
        )
    save_scan(store, replace(scan_at(0, (), "scan-2"), assets=(resolved_bucket(),)))
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert diff_scans(store).assets == ()  # no classification kept then: not a change


def test_fail_on_new_without_the_store_is_a_usage_error(tmp_path: Path) -> None:
    inventory = lms_inventory(tmp_path)
    result = CliRunner().invoke(cli, ["scan", "-c", str(inventory), "--no-store", "--fail-on-new"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "--fail-on-new needs the history store" in result.stderr


def test_fail_on_new_without_a_baseline_says_so(tmp_path: Path) -> None:
    store = tmp_path / "history.sqlite"

    def run(name: str) -> str:
        inventory = lms_inventory(tmp_path, institution=name)
        result = CliRunner().invoke(
            cli, ["scan", "-c", str(inventory), "--store", str(store), "--fail-on-new"]
        )
        assert result.exit_code in (0, 1, 3), result.output
        return result.stderr

    first = run("Université Deux")
    assert "--fail-on-new: no earlier complete scan of 'Université Deux'" in first
    assert "the store holds scans of" not in first
    renamed = run("Universite Deux")
    assert "no earlier complete scan of 'Universite Deux'" in renamed
    assert "the store holds scans of 'Université Deux' (a renamed institution starts anew)" in (
        renamed
    )
    assert "no earlier complete scan" not in run("Universite Deux")  # now it has a baseline


def test_a_diff_from_a_partial_scan_looks_up_each_units_stand_in_once(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sovscan import history

    asked: list[str | None] = []
    last_whole = history._Pair.last_whole

    def counted(pair: history._Pair, asset_id: str) -> str | None:
        if pair.unit(asset_id) not in pair._whole_before:
            asked.append(pair.unit(asset_id))
        return last_whole(pair, asset_id)

    monkeypatch.setattr(history._Pair, "last_whole", counted)
    save_scan(store, scan_at(0, (risk("a"), risk("b")), "scan-1"))
    save_scan(store, replace(partial(scan_at(10, (risk("b"),), "scan-2")), assets=()))
    save_scan(store, scan_at(20, (risk("b"),), "scan-3"))
    explicit = diff_scans(store, "scan-2", "scan-3")
    assert [(c.rule_id, c.change) for c in explicit.findings] == [("a", "resolved")]
    assert explicit.assets == ()  # the assets scan-2 missed stand as scan-1 saw them
    # One walk back through the scans per unit (the bucket's account, the domain), however many
    # findings and assets lie there.
    assert sorted(map(str, asked)) == ["aws:123456789012", "dns:universite.example"]
    # A store with no scan that saw a unit whole compares with the partial scan, and says so.
    blind = store.with_name("blind.sqlite")
    save_scan(blind, partial(scan_at(0, (risk("a"),), "scan-1")))
    save_scan(blind, scan_at(10, (), "scan-2"))
    shown = diff_scans(blind)
    assert not shown.no_complete_baseline and (shown.old.id, shown.new.id) == ("scan-1", "scan-2")
    assert [(c.rule_id, c.change) for c in shown.findings] == [("a", "resolved")]
    assert shown.findings[0].reason == (
        "a gap in AWS account 123456789012 (account-wide services) in the older scan, and no "
        "earlier scan saw it whole"
    )


def of(institution: str, scan: Scan) -> Scan:
    return replace(scan, policy=replace(scan.policy, institution=institution))


def two_institutions(store: Path) -> None:
    """B gains risk b-new; A, whose scan is the newest of the store, gains risk a-new."""
    save_scan(store, of("A", scan_at(0, (risk("a"),), "a-1")))
    save_scan(store, of("B", scan_at(5, (risk("b"),), "b-1")))
    save_scan(store, of("B", scan_at(10, (risk("b"), risk("b-new")), "b-2")))
    save_scan(store, of("A", scan_at(15, (risk("a"), risk("a-new")), "a-2")))


def test_diff_of_one_institution_when_another_scanned_last(store: Path) -> None:
    two_institutions(store)
    newest = diff_scans(store)
    assert (newest.old.id, newest.new.id) == ("a-1", "a-2")
    shown = diff_scans(store, institution="B")
    assert (shown.old.id, shown.new.id) == ("b-1", "b-2")
    assert [c.rule_id for c in shown.new_risks] == ["b-new"]
    assert new_risk_keys(store, "b-2") == {c.key for c in shown.new_risks}
    # Ids of the institution asked for are compared as without it.
    assert diff_scans(store, "b-1", "b-2", institution="B") == diff_scans(store, "b-1", "b-2")


def test_diff_of_one_institution_keeps_the_fail_on_new_baseline(store: Path) -> None:
    # B's partial scan is compared with unit by unit, where its gaps hid b, b's last told status
    # (in b-2) stands in; A's scans play no part.
    two_institutions(store)
    save_scan(store, of("B", partial(scan_at(20, (risk("b-new"),), "b-3"))))
    save_scan(store, of("A", scan_at(25, (), "a-3")))
    save_scan(store, of("B", scan_at(30, (risk("b-new"), risk("b-late")), "b-4")))
    save_scan(store, of("A", scan_at(35, (risk("b-late"),), "a-4")))
    shown = diff_scans(store, institution="B")
    assert (shown.old.id, shown.new.id) == ("b-3", "b-4")
    assert shown.passed_over == () and not shown.no_complete_baseline
    assert [(c.rule_id, c.change) for c in shown.findings] == [
        ("b", "resolved"),
        ("b-late", "new"),
    ]
    assert shown.findings[0].reason is not None
    assert shown.findings[0].reason.endswith(
        "in the older scan; as last told in scan b-2 on 2026-11-24"
    )
    assert new_risk_keys(store, "b-4") == {c.key for c in shown.new_risks}


def test_diff_of_an_institution_with_one_scan_has_nothing_to_compare(store: Path) -> None:
    two_institutions(store)
    save_scan(store, of("C", scan_at(20, (), "c-1")))
    with pytest.raises(HistoryError, match="holds no earlier scan of this institution"):
        diff_scans(store, institution="C")


def test_diff_refuses_a_scan_of_another_institution_than_asked(store: Path) -> None:
    two_institutions(store)
    with pytest.raises(HistoryError, match=r"scan a-1 is of 'A', not of 'B'$"):
        diff_scans(store, "a-1", "b-2", institution="B")
    with pytest.raises(HistoryError, match=r"scan a-2 is of 'A', not of 'B'$"):
        diff_scans(store, "b-1", "a-2", institution="B")
    with pytest.raises(HistoryError, match=r"scan a-2 is of 'A', not of 'B'$"):
        diff_scans(store, new_id="a-2", institution="B")


def test_diff_of_an_institution_the_store_lacks_names_those_it_holds(store: Path) -> None:
    from sovscan.history import check_store

    check_store(store)  # an empty store
    with pytest.raises(HistoryError, match=r"holds no scan of 'B'; it holds no scan$"):
        diff_scans(store, institution="B")
    two_institutions(store)
    with pytest.raises(HistoryError) as caught:
        diff_scans(store, "b-1", "b-2", institution="b")  # checked before the ids
    assert str(caught.value) == (
        f"{store}: the history store holds no scan of 'b'; it holds scans of 'A', 'B'"
    )
    for number in range(6):
        save_scan(store, of(f"Z{number}", scan_at(20 + number, (), f"z-{number}")))
    with pytest.raises(HistoryError, match=r"'Z2' and 3 more \(sovscan history lists them\)$"):
        diff_scans(store, institution="Y")


# Scope: what a scan was configured to look at. A region, domain or endpoint taken out of the
# inventory was not looked at: what lay there is unseen, never resolved or removed.

ACCOUNT = "123456789012"


def aws_scope(
    *regions: str, domains: tuple[str, ...] = (), saas: tuple[str, ...] = ()
) -> ScanScope:
    source = AwsScope("aws:audit", tuple(regions), (ACCOUNT,))
    return ScanScope((source,), frozenset(domains), frozenset(saas))


def regional(name: str, region: str) -> ResolvedAsset:
    """A DynamoDB table: a regional resource, scanned only where the source's regions say."""
    bucket = resolved_bucket(name, region)
    asset = replace(
        bucket.asset, id=f"aws:{ACCOUNT}:dynamodb:{region}:{name}", kind="aws.dynamodb.table"
    )
    return replace(bucket, asset=asset)


def scoped(
    minutes: int,
    scan_id: str,
    assets: tuple[ResolvedAsset, ...],
    scope: ScanScope | None,
    findings: tuple[Finding, ...] | None = None,
) -> Scan:
    """A scan of `assets`, each with a risk "a" unless `findings` are given."""
    if findings is None:
        findings = tuple(risk("a", asset=item.asset.id) for item in assets)
    return replace(scan_at(minutes, findings, scan_id), assets=assets, scope=scope)


def test_a_region_dropped_from_the_scope_is_unseen_not_resolved(store: Path) -> None:
    east, central = regional("east", "us-east-1"), regional("central", "ca-central-1")
    both = aws_scope("ca-central-1", "us-east-1")
    save_scan(store, scoped(0, "scan-1", (east, central), both))
    save_scan(store, scoped(10, "scan-2", (central,), aws_scope("ca-central-1")))
    diff = diff_scans(store)
    assert diff.new.complete  # nothing failed: the scan was told to look at less
    assert [(c.asset_id, c.change, c.old_status, c.reason) for c in diff.findings] == [
        (east.asset.id, "unseen", "risk", "out of the newer scan's scope")
    ]
    assert [(a.asset_id, a.change, a.reason) for a in diff.assets] == [
        (east.asset.id, "unseen", "out of the newer scan's scope")
    ]
    assert diff.new_risks == () and diff.dropped_scope == (f"AWS account {ACCOUNT}: us-east-1",)
    head = f"The newer scan's scope dropped what the older one covered: AWS account {ACCOUNT}: "
    for text in (render_table(diff), render_markdown(diff)):
        assert head + "us-east-1. A risk or an asset there is listed as unseen" in text
    document = json.loads(render_json(diff))
    assert document["dropped_scope"] == [f"AWS account {ACCOUNT}: us-east-1"]
    assert document["findings"][0]["reason"] == "out of the newer scan's scope"
    # The region back in scope: its risk is not new (it was never seen gone), in both; the
    # risk and its asset are back, saying which scan saw them last.
    save_scan(store, scoped(20, "scan-3", (east, central), both))
    back = diff_scans(store)
    last_seen = "back in scope, last seen in scan scan-1 on 2026-11-24"
    assert [
        (c.asset_id, c.change, c.old_status, c.new_status, c.reason) for c in back.findings
    ] == [(east.asset.id, "back", "risk", "risk", last_seen)]
    assert back.new_risks == () and new_risk_keys(store, "scan-3") == set()
    assert [(a.asset_id, a.change, a.reason) for a in back.assets] == [
        (east.asset.id, "back", last_seen)
    ]
    # A complete scan that looked there and did not find it: resolved and removed.
    save_scan(store, scoped(30, "scan-4", (central,), both))
    gone = diff_scans(store)
    assert [(c.change, c.reason) for c in gone.findings] == [("resolved", None)]
    assert [(a.change, a.reason) for a in gone.assets] == [("removed", None)]
    assert gone.dropped_scope == ()


def test_back_in_scope_says_what_it_was_when_last_seen(store: Path) -> None:
    east, central = regional("east", "us-east-1"), regional("central", "ca-central-1")
    both, narrow = aws_scope("ca-central-1", "us-east-1"), aws_scope("ca-central-1")
    kept = risk("a", asset=central.asset.id)
    on_east = (kept, risk("gone", asset=east.asset.id), ok("came", asset=east.asset.id))
    save_scan(store, scoped(0, "scan-1", (labelled_as(east, "personal"), central), both, on_east))
    save_scan(store, scoped(10, "scan-2", (central,), narrow))
    # While out of view: the risk went, another came, and the table moved and was relabelled.
    moved_east = moved(labelled_as(east, "public"), "FR", "OVH SAS", ("FR", "EU"))
    now = (kept, ok("gone", asset=east.asset.id), risk("came", asset=east.asset.id))
    save_scan(store, scoped(20, "scan-3", (moved_east, central), both, now))
    diff = diff_scans(store)
    last_seen = "back in scope, last seen in scan scan-1 on 2026-11-24"
    assert [(c.rule_id, c.change, c.old_status, c.new_status, c.reason) for c in diff.findings] == [
        ("came", "new", "ok", "risk", last_seen),
        ("gone", "relabelled", "risk", "ok", last_seen),
    ]
    # A risk that was ok when last seen is new: it became one while nobody looked.
    assert {c.key for c in diff.new_risks} == new_risk_keys(store, "scan-3") == {now[2].key}
    (asset,) = [a for a in diff.assets if a.asset_id == east.asset.id]
    assert (asset.change, asset.old_place, asset.new_place, asset.reason) == (
        "back",
        "CA-QC",
        "FR",
        last_seen,
    )
    assert (asset.old_classification, asset.new_classification) == ("personal", "public")
    assert Aspect("operator", "Amazon Web Services, Inc.", "OVH SAS") in asset.aspects
    table, markdown = render_table(diff), render_markdown(diff)
    assert "back in scope, last seen in scan scan-1 on" in table
    assert (
        "| back | aws:123456789012:dynamodb:us-east-1:east | CA-QC | FR | personal → public |"
        in (markdown)
    )
    assert json.loads(render_json(diff))["assets"][0]["change"] == "back"
    assert f"asset,back,{east.asset.id}," in render_csv(diff)


def test_an_asset_no_scan_saw_before_the_gap_is_new(store: Path) -> None:
    east, central = regional("east", "us-east-1"), regional("central", "ca-central-1")
    save_scan(store, scoped(0, "scan-1", (central,), aws_scope("ca-central-1")))
    save_scan(store, scoped(10, "scan-2", (east, central), aws_scope("ca-central-1", "us-east-1")))
    diff = diff_scans(store)
    assert [(a.asset_id, a.change, a.reason) for a in diff.assets] == [
        (east.asset.id, "new", "out of the older scan's scope")
    ]
    assert [(c.asset_id, c.change, c.reason) for c in diff.findings] == [
        (east.asset.id, "new", None)
    ]
    assert new_risk_keys(store, "scan-2") == {risk("a", asset=east.asset.id).key}


def labelled_as(item: ResolvedAsset, classification: str) -> ResolvedAsset:
    attributes = {**item.asset.attributes, "classification": classification}
    return replace(item, asset=replace(item.asset, attributes=attributes))


def test_a_domain_an_endpoint_and_their_tenant_dropped_are_unseen(store: Path) -> None:
    mx = replace(
        labelled("personal"), asset=Asset("dns:old.example:mx:mx.old.example", "dns.mx", "mx", {})
    )
    kept = replace(mx, asset=replace(mx.asset, id="dns:kept.example:mx:mx.kept.example"))
    lms = saas_endpoint("lms")
    tenant = replace(
        mx, asset=Asset("m365:tenant:t-1", "saas.tenant", "tenant", {"domains": ("old.example",)})
    )
    wide = ScanScope(
        (), frozenset({"old.example", "kept.example"}), frozenset({"lms.example"}), True
    )
    narrow = ScanScope((), frozenset({"kept.example"}), frozenset(), True)
    save_scan(store, scoped(0, "scan-1", (mx, kept, lms, tenant), wide))
    save_scan(store, scoped(10, "scan-2", (kept,), narrow))
    diff = diff_scans(store)
    unseen = [(c.change, c.reason) for c in diff.findings]
    assert len(unseen) == 3 and set(unseen) == {("unseen", "out of the newer scan's scope")}
    assert [(a.asset_id, a.change) for a in diff.assets] == [
        ("dns:old.example:mx:mx.old.example", "unseen"),
        ("m365:tenant:t-1", "unseen"),
        ("saas:lms.example", "unseen"),
    ]
    assert diff.dropped_scope == ("domain old.example", "SaaS endpoint lms.example")
    assert new_risk_keys(store, "scan-2") == set()


def test_a_scan_of_unknown_scope_is_judged_as_before(store: Path) -> None:
    east, central = regional("east", "us-east-1"), regional("central", "ca-central-1")
    save_scan(store, scoped(0, "scan-1", (east, central), aws_scope("ca-central-1", "us-east-1")))
    save_scan(store, scoped(10, "scan-2", (central,), None))  # recorded without a scope
    assert [c.change for c in diff_scans(store).findings] == ["resolved"]
    # The older scope unknown, the newer known: what the newer one left out is still unseen,
    # but which scope was dropped cannot be named; the head says so.
    save_scan(store, scoped(20, "scan-3", (east, central), None))
    save_scan(store, scoped(30, "scan-4", (central,), aws_scope("ca-central-1")))
    diff = diff_scans(store)
    assert [(c.change, c.reason) for c in diff.findings] == [
        ("unseen", "out of the newer scan's scope")
    ]
    assert diff.dropped_scope == ()
    assert "the older scan's own scope was not recorded" in render_table(diff)


def test_a_store_from_before_scopes_is_migrated_and_judged_as_before(store: Path) -> None:
    from sovscan.history import _MIGRATIONS

    east, central = regional("east", "us-east-1"), regional("central", "ca-central-1")
    with sqlite3.connect(store) as connection:
        for migration in _MIGRATIONS[:2]:
            connection.executescript(migration)
        connection.execute("PRAGMA user_version = 2")
    with sqlite3.connect(store) as connection:
        connection.execute(
            "INSERT INTO scans VALUES ('scan-1', 'Université Exemple', '2026-01-01T00:00:00+00:00',"
            " '2026-01-01T00:00:00+00:00', 0, 1, '{}')"
        )
        for item in (east, central):
            connection.execute(
                "INSERT INTO assets VALUES ('scan-1', ?, 'aws.dynamodb.table', 'CA-QC', 'US', ?)",
                (item.asset.id, "personal"),
            )
            row = risk("a", asset=item.asset.id)
            connection.execute(
                "INSERT INTO findings VALUES ('scan-1', ?, 'a', ?, 'risk', 'high', ?)",
                (row.key, item.asset.id, row.message),
            )
    save_scan(store, scoped(0, "scan-2", (east, central), aws_scope("ca-central-1", "us-east-1")))
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("SELECT scope FROM scans WHERE id = 'scan-1'").fetchone() == (
            None,
        )
    assert diff_scans(store).findings == ()
    assert new_risk_keys(store, "scan-2") == set()


def test_scope_units_coverage_and_what_was_dropped() -> None:
    assert scope_unit(f"aws:{ACCOUNT}:dynamodb:us-east-1:t") == f"aws:{ACCOUNT}:us-east-1"
    # Global services are listed whatever the regions: within the account's scope.
    assert scope_unit(f"aws:{ACCOUNT}:s3:bucket") == f"aws:{ACCOUNT}"
    assert scope_unit(f"aws:{ACCOUNT}:cloudfront:global:E1") == f"aws:{ACCOUNT}"
    assert scope_unit(f"aws:{ACCOUNT}:account") == f"aws:{ACCOUNT}"
    assert scope_unit("dns:a.example:host:www.a.example") == "dns:a.example"
    assert scope_unit("saas:lms.example") == "saas:lms.example"
    assert scope_unit("m365:tenant:t", {"domains": ("a.example", "b.example")}) == (
        "m365:a.example b.example"
    )
    assert scope_unit("m365:tenant:t") is None and scope_unit("other:x") is None
    every = ScanScope((AwsScope("aws:audit", None, (ACCOUNT,)),))
    assert covers(every, f"aws:{ACCOUNT}:eu-west-3") and not covers(every, "aws:999:eu-west-3")
    assert covers(None, "dns:a.example") and covers(ScanScope(), None)
    not_started = ScanScope((AwsScope("aws:audit", ("ca-central-1",), None),))
    assert covers(not_started, "aws:999:ca-central-1")  # unknown accounts: any account
    assert not covers(not_started, "aws:999:us-east-1")
    assert dropped(every, aws_scope("ca-central-1", "us-east-1")) == (
        f"AWS account {ACCOUNT}: every region but ca-central-1, us-east-1",
    )
    assert dropped(aws_scope("us-east-1"), ScanScope()) == (f"AWS account {ACCOUNT}",)
    assert dropped(not_started, ScanScope()) == ("AWS source aws:audit",)
    assert dropped(
        ScanScope(domains=frozenset({"a.example"}), tenants=True),
        ScanScope(domains=frozenset({"a.example"})),
    ) == ("Microsoft 365 tenants ([https] m365_tenant)",)
    assert dropped(aws_scope("us-east-1"), aws_scope("us-east-1", "ca-central-1")) == ()
    document = scope_document(aws_scope("us-east-1", domains=("a.example",)))
    assert scope_from_document(json.loads(json.dumps(document))) == aws_scope(
        "us-east-1", domains=("a.example",)
    )
    assert scope_from_document({"aws": "all"}) is None


def test_gaps_name_the_units_they_leave_incomplete() -> None:
    from sovscan.scope import EVERY_UNIT, UnitGaps, describe_unit, gap_units, incomplete_units

    scope = ScanScope(
        (AwsScope("aws:audit", None, (ACCOUNT,)),),
        frozenset({"a.example", "sub.a.example", "b.example"}),
        frozenset({"lms.example", "portail.b.example"}),
        True,
    )

    def units(gap_scope: str, unit: str | None = None) -> tuple[str, ...]:
        return gap_units(Gap(gap_scope, "reason", unit), scope)

    # The unit a probe named wins: an MX host in another zone is its domain's gap.
    assert units("dns:mx.provider.example:A", "dns:a.example") == ("dns:a.example",)
    # Else the scope's own name: the domain a name is or lies under (the longest), the endpoint.
    assert units("dns:a.example") == ("dns:a.example",)
    assert units("dns:_dmarc.sub.a.example:TXT") == ("dns:sub.a.example",)
    assert units("dns:portail.b.example:A") == ("dns:b.example", "saas:portail.b.example")
    assert units("https:lms.example") == ("saas:lms.example",)
    assert units("m365-tenant:a.example") == ("m365:a.example",)
    # AWS: a region, the account's own unit for global services and S3, the whole account.
    assert units(f"aws:{ACCOUNT}:eu-west-3:rds") == (f"aws:{ACCOUNT}:eu-west-3",)
    assert units(f"aws:{ACCOUNT}:global:cloudfront") == (f"aws:{ACCOUNT}",)
    assert units(f"aws:{ACCOUNT}:ca-central-1:s3") == (f"aws:{ACCOUNT}",)
    assert units(f"aws:{ACCOUNT}:eu-west-3:*") == (f"aws:{ACCOUNT}:eu-west-3",)
    assert units(f"aws:{ACCOUNT}:*:ec2") == (f"aws:{ACCOUNT}:*",)
    assert units(f"aws:{ACCOUNT}") == (f"aws:{ACCOUNT}:*",)
    assert units(f"aws:{ACCOUNT}:global:organizations") == ("aws:*",)
    # A probe that stopped: every unit of its kind; a gap naming nothing known: every unit.
    assert units("probe:dns") == ("dns:*",)
    assert units("probe:aws:audit") == ("aws:*",)
    assert units("probe:m365-tenant") == ("m365:*",)
    assert units("dns:elsewhere.example:A") == (EVERY_UNIT,)
    assert units("probe:something-new") == (EVERY_UNIT,)
    assert units("what:ever") == (EVERY_UNIT,)
    # Without a scope (a scan recorded before scopes), a whole name is a domain or an endpoint.
    assert gap_units(Gap("dns:x.example", "r"), None) == ("dns:x.example", "saas:x.example")
    assert gap_units(Gap("dns:www.x.example:A", "r"), None) == (EVERY_UNIT,)
    gaps = [Gap("dns:b.example", "r"), Gap("dns:mx.p.example:A", "r", "dns:b.example")]
    assert incomplete_units(gaps, scope) == ("dns:b.example",)
    assert incomplete_units([], scope) == ()

    touched = UnitGaps(["dns:b.example", f"aws:{ACCOUNT}:eu-west-3", "m365:a.example"])
    assert touched.touches("dns:b.example") and not touched.touches("dns:a.example")
    assert touched.touches(f"aws:{ACCOUNT}:eu-west-3")
    assert not touched.touches(f"aws:{ACCOUNT}") and not touched.touches(f"aws:{ACCOUNT}:us-east-1")
    assert touched.touches("m365:c.example a.example") and not touched.touches("m365:c.example")
    assert touched.touches(None)  # an asset of no unit: judged by the whole scan
    assert not UnitGaps([]).touches(None)
    account = UnitGaps([f"aws:{ACCOUNT}:*"])
    assert account.touches(f"aws:{ACCOUNT}") and account.touches(f"aws:{ACCOUNT}:us-east-1")
    assert not account.touches("aws:999999999999:us-east-1") and not account.touches(
        "dns:a.example"
    )
    kind = UnitGaps(["dns:*"])
    assert kind.touches("dns:a.example") and not kind.touches("saas:lms.example")
    assert UnitGaps([EVERY_UNIT]).touches("saas:lms.example")
    assert [describe_unit(u) for u in ("dns:a.example", f"aws:{ACCOUNT}:eu-west-3", "dns:*")] == [
        "domain a.example",
        f"AWS account {ACCOUNT}: eu-west-3",
        "every domain",
    ]
    assert describe_unit(f"aws:{ACCOUNT}:*") == f"AWS account {ACCOUNT}"
    assert describe_unit(EVERY_UNIT) == "every unit (a gap that names none)"


def test_an_asset_of_no_unit_is_judged_by_the_whole_scan(store: Path) -> None:
    # An id no convention reads (a probe of tomorrow): any gap may have hidden it.
    odd = replace(labelled("personal"), asset=Asset("other:thing", "other.kind", "thing", {}))
    bucket = resolved_bucket()
    both = (odd, bucket)
    findings = (risk("a", asset="other:thing"), risk("b"))
    save_scan(store, replace(scan_at(0, findings, "scan-1"), assets=both))
    elsewhere = partial_elsewhere(scan_at(10, (risk("b"),), "scan-2"))
    save_scan(store, replace(elsewhere, assets=(bucket,)))  # a gap in the domain only
    diff = diff_scans(store)
    seen = "not seen by the newer scan, which is partial: a gap (its asset has no unit: any gap"
    assert [(c.asset_id, c.change, c.reason) for c in diff.findings] == [
        ("other:thing", "unseen", f"{seen} counts)")
    ]
    assert [(a.asset_id, a.change) for a in diff.assets] == [("other:thing", "unseen")]
    save_scan(store, replace(scan_at(20, (risk("b"),), "scan-3"), assets=(bucket,)))
    assert [(c.asset_id, c.change) for c in diff_scans(store).findings] == [
        ("other:thing", "resolved")
    ]


def test_default_diff_and_fail_on_new_agree_on_random_scopes(tmp_path: Path) -> None:
    rng = random.Random(20270107)
    makers = {"risk": risk, "ok": ok, "unknown": unknown}
    regions = ("ca-central-1", "us-east-1", "eu-west-3")
    tables = {region: regional(f"t-{region}", region) for region in regions}
    for history in range(40):
        store = tmp_path / f"s{history}.sqlite"
        for number in range(rng.randint(2, 7)):
            looked = tuple(r for r in regions if rng.random() < 0.7) or regions[:1]
            scope = None if rng.random() < 0.1 else aws_scope(*looked)
            in_scope = regions if scope is None else looked
            # Gaps: none, in every unit, or in some regions, whose tables may then be missed.
            draw = rng.random()
            gapped = set(regions) if draw < 0.1 else set()
            if 0.1 <= draw < 0.35:
                gapped = {r for r in in_scope if rng.random() < 0.5} or {in_scope[0]}
            gaps = tuple(Gap(f"aws:{ACCOUNT}:{r}:dynamodb", "ThrottlingException") for r in gapped)
            assets = tuple(tables[r] for r in in_scope if r not in gapped or rng.random() < 0.5)
            findings = tuple(
                maybe_waived(makers[state](rule, asset=item.asset.id), rng)
                for item in assets
                for rule in "ab"
                if (state := rng.choice(["risk", "ok", "unknown", "absent"])) != "absent"
            )
            scan = replace(
                scoped(10 * number, f"scan-{number}", assets, scope, findings), gaps=gaps
            )
            save_scan(store, scan)
            if not number:
                continue
            counted = new_risk_keys(store, scan.id)
            shown = diff_scans(store)
            assert counted == {c.key for c in shown.new_risks}, (history, number)
            back = {c.key for c in shown.findings if c.change == "back"}
            assert not back & counted, (history, number)  # a known risk is not new
            # Nothing the newer scan did not look at, or could not see whole, reads as
            # resolved (gone) or removed.
            blind = {t.asset.id for r, t in tables.items() if r not in looked or r in gapped}
            if scope is None:
                blind = {t.asset.id for r, t in tables.items() if r in gapped}
            assert not any(
                c.change == "resolved" and c.new_status is None and c.asset_id in blind
                for c in shown.findings
            ), (history, number)
            assert not any(a.change == "removed" and a.asset_id in blind for a in shown.assets)
            # And what it lacks where it looked and saw whole is never unseen.
            assert not any(
                c.change == "unseen"
                and c.new_status is None
                and c.asset_id not in blind
                and scope is not None
                for c in shown.findings
            ), (history, number)


def _dns_asset(asset_id: str, kind: str) -> ResolvedAsset:
    return replace(labelled("personal"), asset=Asset(asset_id, kind, asset_id, {}))


# The per-unit histories' estate: each asset with its unit, and a gap that touches that unit
# only (one the DNS probe names: a domain's MX host in another zone that did not answer).
UNIT_ESTATE = (
    ("dns:a.example", _dns_asset("dns:a.example:mx:mx.provider.example", "dns.mx")),
    ("dns:a.example", _dns_asset("dns:a.example:mailbox", "dns.mailbox")),
    ("dns:b.example", _dns_asset("dns:b.example:mailbox", "dns.mailbox")),
    (f"aws:{ACCOUNT}:ca-central-1", regional("t-ca", "ca-central-1")),
    (f"aws:{ACCOUNT}:us-east-1", regional("t-us", "us-east-1")),
    (f"aws:{ACCOUNT}", resolved_bucket()),
)
UNIT_GAPS = {
    "dns:a.example": Gap("dns:mx.provider.example:A", "SERVFAIL", unit="dns:a.example"),
    "dns:b.example": Gap("dns:b.example", "SOA: SERVFAIL; the domain was not probed further"),
    f"aws:{ACCOUNT}:ca-central-1": Gap(f"aws:{ACCOUNT}:ca-central-1:dynamodb", "Throttling"),
    f"aws:{ACCOUNT}:us-east-1": Gap(f"aws:{ACCOUNT}:us-east-1:dynamodb", "Throttling"),
    f"aws:{ACCOUNT}": Gap(f"aws:{ACCOUNT}:global:s3", "AccessDenied: s3:ListBuckets"),
}


def test_default_diff_and_fail_on_new_agree_on_random_unit_gaps(tmp_path: Path) -> None:
    # The auditor's case in small: every scan has a gap somewhere, none is complete, and each
    # unit is judged by its own gaps. --fail-on-new, the default diff and a plain reading of
    # the rule written here (the latest earlier scan that saw the finding's unit whole and told
    # it) agree; and the diff calls nothing resolved or removed that its unit did not show.
    rng = random.Random(20270311)
    makers = {"risk": risk, "ok": ok, "unknown": unknown}
    units = [unit for unit, _ in UNIT_ESTATE]
    checked = resolved = 0
    for history in range(60):
        store = tmp_path / f"u{history}.sqlite"
        # What each scan was: its findings by key, its waived keys, the units it saw whole.
        past: list[tuple[dict[str, Finding], set[str], set[str]]] = []
        for number in range(rng.randint(2, 7)):
            regions = [r for r in ("ca-central-1", "us-east-1") if rng.random() < 0.8]
            domains = ["a.example", *(["b.example"] if rng.random() < 0.9 else [])]
            scope = ScanScope(
                (AwsScope("aws:audit", tuple(regions or ["ca-central-1"]), (ACCOUNT,)),),
                frozenset(domains),
            )
            covered = {u for u in units if covers(scope, u)}
            gapped = {u for u in covered if rng.random() < 0.25}
            gaps = [UNIT_GAPS[u] for u in sorted(gapped)]
            if rng.random() < 0.05:  # the DNS probe stopped: every domain incomplete
                gaps.append(Gap("probe:dns", "RuntimeError: the probe stopped early"))
                gapped |= {u for u in units if u.startswith("dns:")}
            if rng.random() < 0.03:  # a gap naming no unit: every unit incomplete
                gaps.append(Gap("probe:other", "the probe stopped early"))
                gapped |= set(units)
            assets = tuple(
                item
                for unit, item in UNIT_ESTATE
                if unit in covered and rng.random() < (0.5 if unit in gapped else 0.85)
            )
            findings = tuple(
                maybe_waived(makers[state](rule, asset=item.asset.id), rng)
                for item in assets
                for rule in "ab"
                if (state := rng.choice(["risk", "ok", "unknown", "absent"])) != "absent"
            )
            scan = scoped(10 * number, f"scan-{number}", assets, scope, findings)
            save_scan(store, replace(scan, gaps=tuple(gaps)))
            whole = covered - gapped
            now = {f.key: f for f in findings}
            waived_now = {f.key for f in findings if f.waiver is not None}
            if past:
                counted = new_risk_keys(store, scan.id)
                shown = diff_scans(store)
                assert counted is not None and not shown.no_complete_baseline
                assert counted == {c.key for c in shown.new_risks}, (history, number)
                relabels = {r.key for r in relabelled_risks(store, scan.id)}
                assert relabels == {c.key for c in shown.relabelled}, (history, number)
                unit_of = {item.asset.id: unit for unit, item in UNIT_ESTATE}
                expected = set()
                for key, finding in now.items():
                    if finding.status is not Status.RISK:
                        continue
                    unit = unit_of[finding.asset_id]
                    told = None  # the last told row: (status, waived)
                    for then, waived_then, seen_whole in reversed(past):
                        if unit not in seen_whole:
                            continue  # a gap in its unit (or out of scope): tells nothing
                        if key in then and then[key].status is not Status.UNKNOWN:
                            told = (then[key].status, key in waived_then)
                            break
                        if key not in then:
                            told = (None, False)  # gone, where the scan looked whole
                            break
                    lapsed = told is not None and told[1] and key not in waived_now
                    if told is None or told[0] is not Status.RISK or lapsed:
                        expected.add(key)
                assert counted == expected, (history, number)
                checked += len(expected)
                old_whole = past[-1][2]
                for change in shown.findings:
                    unit = unit_of[change.asset_id]
                    if change.new_status is None and change.change == "resolved":
                        assert unit in whole, (history, number, change)
                        resolved += 1
                    if change.new_status is None and change.change == "unseen":
                        assert unit not in whole, (history, number, change)
                # A risk the older scan told, gone from a unit the newer one saw whole: resolved.
                for key, finding in past[-1][0].items():
                    unit = unit_of[finding.asset_id]
                    gone = key not in now and unit in old_whole and unit in whole
                    if finding.status is Status.RISK and gone:
                        (row,) = [c for c in shown.findings if c.key == key]
                        assert row.change == "resolved", (history, number, row)
                for asset in shown.assets:
                    unit = unit_of[asset.asset_id]
                    if asset.change == "removed":
                        assert unit in whole, (history, number, asset)
                    if asset.change == "unseen":
                        assert unit not in whole, (history, number, asset)
            past.append((now, waived_now, whole))
    assert checked and resolved  # the histories hold new risks and resolutions


def test_a_scan_says_when_its_scope_is_narrower_than_the_last_complete_one(
    tmp_path: Path,
) -> None:
    store = tmp_path / "history.sqlite"
    second = '[[saas]]\nname = "Wiki"\nurl = "https://192.0.2.11/"\nclassification = "public"\n'

    def run(more: str, *flags: str) -> Result:
        inventory = lms_inventory(tmp_path, more=more)
        args = ["scan", "-c", str(inventory), "--store", str(store), "--fail-on", "never", *flags]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        return result

    first = run(second, "--format", "json")
    assert "scope:" not in first.stderr
    document = json.loads(first.stdout)
    validate(document)
    assert document["scope"] == {
        "aws": [],
        "domains": [],
        "saas": ["192.0.2.10", "192.0.2.11"],
        "m365_tenants": False,
    }
    for narrowed in (("--format", "table"), ("--format", "json")):  # held, then streamed
        previous = list_scans(store)[-1].id
        warned = run("", *narrowed).stderr
        assert (
            f"sovscan: warning: scope: this scan covers less than the previous complete scan "
            f"{previous} of 'X': it dropped SaaS endpoint 192.0.2.11. What lay there was not "
            "looked at: `sovscan diff` lists it as unseen, not resolved\n"
        ) in warned
        shown = CliRunner().invoke(cli, ["diff", "--store", str(store), "--format", "json"])
        changes = json.loads(shown.stdout)
        assert changes["old"]["id"] == previous
        assert changes["dropped_scope"] == ["SaaS endpoint 192.0.2.11"]
        assert [(a["asset_id"], a["change"], a["reason"]) for a in changes["assets"]] == [
            ("saas:192.0.2.11", "unseen", "out of the newer scan's scope")
        ]
        assert "scope:" not in run(second).stderr  # a wider scope is no warning
    assert "scope:" not in run(second).stderr  # the same scope as the last complete scan


def test_a_region_dropped_from_an_aws_source_is_unseen_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The auditor's case: us-east-1 taken out of the source's regions, against moto.
    import boto3
    from moto import mock_aws

    from tests.probes.aws_fixtures import set_fake_env

    set_fake_env(monkeypatch)
    store = tmp_path / "history.sqlite"
    with mock_aws():
        for region in ("ca-central-1", "us-east-1"):
            boto3.client("dynamodb", region_name=region).create_table(
                TableName=f"grades-{region}",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )

        def run(regions: str) -> Result:
            inventory = tmp_path / "sovscan.toml"
            inventory.write_text(
                '[institution]\nname = "U"\nhome = "CA-QC"\n'
                f'[[aws]]\nname = "audit"\nregions = {regions}\n',
                encoding="utf-8",
            )
            args = ["scan", "-c", str(inventory), "--store", str(store), "--fail-on-new"]
            return CliRunner().invoke(cli, [*args, "--format", "json"])

        first = run('["ca-central-1", "us-east-1"]')
        assert first.exit_code in (0, 1), first.output
        east = f"aws:{ACCOUNT}:dynamodb:us-east-1:grades-us-east-1"
        document = json.loads(first.stdout)
        assert any(f["asset_id"] == east and f["status"] == "risk" for f in document["findings"])
        validate(document)
        assert document["scope"]["aws"] == [
            {"source": "aws:audit", "regions": ["ca-central-1", "us-east-1"], "accounts": [ACCOUNT]}
        ]
        narrowed = run('["ca-central-1"]')
    assert narrowed.exit_code == 0, narrowed.output  # nothing new
    assert f"it dropped AWS account {ACCOUNT}: us-east-1." in narrowed.stderr
    diff = diff_scans(store)
    assert diff.new.complete and diff.dropped_scope == (f"AWS account {ACCOUNT}: us-east-1",)
    assert {(c.change, c.reason) for c in diff.findings if c.asset_id == east} == {
        ("unseen", "out of the newer scan's scope")
    }
    assert not any(c.change == "resolved" for c in diff.findings)
    assert [(a.asset_id, a.change) for a in diff.assets] == [(east, "unseen")]


# Waivers: which risks were accepted, by whom and until when, is history too.


def waived(finding: Finding, expires: str = "2027-06-30", owner: str = "dpo@u.example") -> Finding:
    return replace(finding, waiver=WaiverMark("TIA-7", owner, expires))


def test_a_risk_whose_waiver_lapsed_is_unaccepted_and_new_for_fail_on_new(store: Path) -> None:
    save_scan(store, scan_at(0, (waived(risk("a"), "2026-06-30"), waived(risk("b"))), "scan-1"))
    save_scan(store, scan_at(10, (risk("a"), risk("b")), "scan-2"))  # neither is waived now
    diff = diff_scans(store)
    assert [(c.rule_id, c.change, c.old_status, c.new_status, c.reason) for c in diff.findings] == [
        (
            "a",
            "unaccepted",
            "risk",
            "risk",
            "waiver lapsed: expired 2026-06-30 (owner dpo@u.example)",
        ),
        (
            "b",
            "unaccepted",
            "risk",
            "risk",
            "waiver removed: it ran until 2027-06-30 (owner dpo@u.example)",
        ),
    ]
    assert diff.findings[0].old_waiver == StoredWaiver("dpo@u.example", "2026-06-30")
    assert diff.findings[0].new_waiver is None
    assert (
        new_risk_keys(store, "scan-2")
        == {c.key for c in diff.new_risks}
        == {
            risk("a").key,
            risk("b").key,
        }
    )
    assert "| unaccepted | high | a |" in render_markdown(diff)
    assert "waiver lapsed: expired 2026-06-30" in render_table(diff)
    # Waived again: accepted, and not new; a waiver renewed for another date is a change.
    save_scan(store, scan_at(20, (waived(risk("a")), waived(risk("b"), "2027-12-31")), "scan-3"))
    again = diff_scans(store)
    assert [(c.rule_id, c.change) for c in again.findings] == [("a", "accepted"), ("b", "accepted")]
    assert new_risk_keys(store, "scan-3") == set() and again.new_risks == ()
    assert "waived: dpo@u.example, until 2027-06-30" in render_table(again)
    save_scan(
        store,
        scan_at(30, (waived(risk("a"), owner="ciso"), waived(risk("b"), "2027-12-31")), "scan-4"),
    )
    renewed = diff_scans(store)
    assert [(c.rule_id, c.change) for c in renewed.findings] == [("a", "changed")]
    assert "waiver: dpo@u.example, until 2027-06-30 → ciso, until 2027-06-30" in (
        render_markdown(renewed)
    )
    # A waived risk that is resolved says it was waived; a new risk waived at once is new.
    save_scan(store, scan_at(40, (ok("a"), waived(risk("c"))), "scan-5"))
    gone = diff_scans(store)
    assert [(c.rule_id, c.change) for c in gone.findings] == [
        ("a", "resolved"),
        ("b", "resolved"),
        ("c", "new"),
    ]
    text = render_markdown(gone)
    assert "no longer waived (was: ciso, until 2027-06-30)" in text
    assert "waived: dpo@u.example, until 2027-06-30" in text


def test_a_waiver_lapsing_while_the_risk_was_unknown_is_still_unaccepted(store: Path) -> None:
    save_scan(store, scan_at(0, (waived(risk("a")),), "scan-1"))
    save_scan(store, scan_at(10, (unknown("a"),), "scan-2"))
    save_scan(store, scan_at(20, (risk("a"),), "scan-3"))
    diff = diff_scans(store)
    assert [(c.change, c.old_status) for c in diff.findings] == [("unaccepted", "unknown")]
    assert new_risk_keys(store, "scan-3") == {risk("a").key}


def test_history_counts_waived_risks_apart(store: Path, tmp_path: Path) -> None:
    from sovscan.history import _MIGRATIONS

    with sqlite3.connect(store) as connection:
        for migration in _MIGRATIONS[:3]:
            connection.executescript(migration)
        connection.execute("PRAGMA user_version = 3")
        connection.execute(
            "INSERT INTO scans VALUES ('scan-0', 'Université Exemple', '2026-01-01T00:00:00+00:00',"
            " '2026-01-01T00:00:00+00:00', 0, 1, '{}', NULL)"
        )
        connection.execute(
            "INSERT INTO findings VALUES ('scan-0', ?, 'a', ?, 'risk', 'high', ?)",
            (risk("a").key, ASSET, risk("a").message),
        )
    save_scan(store, scan_at(0, (waived(risk("a")), risk("b"), ok("c")), "scan-1"))
    save_scan(store.with_name("other.sqlite"), scan_at(0, (ok("c"),), "no-risk"))
    assert [(s.risks, s.waived) for s in list_scans(store.with_name("other.sqlite"))] == [(0, 0)]
    assert [(s.id, s.risks, s.waived) for s in list_scans(store)] == [
        ("scan-0", 1, None),  # recorded before waivers were kept: unknown, not 0
        ("scan-1", 1, 1),
    ]
    # Not kept then is not a change: the risk stays as it was, neither accepted nor new.
    assert [(c.rule_id, c.change) for c in diff_scans(store).findings] == [("b", "new")]
    listed = CliRunner().invoke(cli, ["history", "--store", str(store)])
    header, _rule, old_row, new_row = listed.stdout.splitlines()
    assert header.split() == ["scan", "institution", "started", "score", "risks", "waived", "state"]
    assert old_row.split()[-3:] == ["1", "-", "complete"]
    assert new_row.split()[-3:] == ["1", "1", "complete"]
    as_json = CliRunner().invoke(cli, ["history", "--store", str(store), "--format", "json"])
    assert [(s["risks"], s["waived"]) for s in json.loads(as_json.stdout)] == [(1, None), (1, 1)]


@pytest.mark.parametrize("output_format", ["table", "json"])  # a held and a streamed scan
def test_fail_on_new_counts_a_risk_whose_waiver_was_removed(
    tmp_path: Path, output_format: str
) -> None:
    from sovscan.model import finding_key

    store = tmp_path / "history.sqlite"
    key = finding_key("foreign-law-reach", "saas:3.5.140.2")

    def run(waiver: bool) -> Result:
        waivers = (
            f'[[waivers]]\nfinding = "{key}"\nreason = "TIA-7"\nowner = "dpo"\n'
            f"expires = {in_force()}\n"
            if waiver
            else ""
        )
        config = tmp_path / "sovscan.toml"
        config.write_text(
            '[institution]\nname = "X"\nhome = "CA-QC"\n[[saas]]\nname = "LMS"\n'
            f'url = "https://3.5.140.2/"\nclassification = "personal"\n{waivers}',
            encoding="utf-8",
        )
        args = ["scan", "-c", str(config), "--store", str(store), "--fail-on-new"]
        return CliRunner().invoke(cli, [*args, "--format", output_format])

    assert run(True).exit_code == 1  # the first scan: every unwaived risk is new
    assert run(True).exit_code == 0  # nothing new; the waived one is accepted
    lapsed = run(False)
    assert lapsed.exit_code == 1, lapsed.output
    assert "exit 1: 1 unwaived new risk finding(s)" in lapsed.stderr
    # It was a risk at its last told status: waived, so the line says "or no longer waived".
    assert "new, or no longer waived" in lapsed.stderr
    shown = diff_scans(store)
    assert [(c.rule_id, c.change) for c in shown.new_risks] == [("foreign-law-reach", "unaccepted")]
    assert shown.findings[0].reason is not None
    assert shown.findings[0].reason.startswith("waiver removed: it ran until ")
    assert run(False).exit_code == 0  # unaccepted once: not new again


# What changed: a finding's row says why, from its asset's row and its own.


def test_a_risk_gone_by_relabelling_is_relabelled_not_resolved(store: Path) -> None:
    # Re-tagging student records as public turns their risks ok: not a fix, and every format
    # says so with its own change and the two labels, not only in the assets table.
    save_scan(store, replace(scan_at(0, (risk("a"),), "scan-1"), assets=(labelled("personal"),)))
    save_scan(store, replace(scan_at(10, (ok("a"),), "scan-2"), assets=(labelled("public"),)))
    diff = diff_scans(store)
    (row,) = diff.findings
    assert (row.change, row.old_status, row.new_status, row.aspects) == (
        "relabelled",
        "risk",
        "ok",
        (Aspect("classification", "personal", "public"),),
    )
    assert diff.relabelled == (row,) and diff.new_risks == ()
    table = render_table(diff).split("Assets (")[0]
    assert "Findings (1 changed, 0 new risks, 1 relabelled)" in table
    assert table.strip().splitlines()[-1].startswith("relabelled  high")
    assert "classification personal -> public" in table
    markdown = render_markdown(diff)
    assert "## Findings (1 changed, 0 new risks, 1 relabelled)" in markdown
    assert "| relabelled | high | a |" in markdown
    assert "| classification personal → public |" in markdown
    document = json.loads(render_json(diff))
    assert document["findings"][0]["change"] == "relabelled"
    assert document["findings"][0]["aspects"] == [
        {"what": "classification", "old": "personal", "new": "public"}
    ]
    (finding_row,) = [line for line in render_csv(diff).splitlines() if line.startswith("finding")]
    assert finding_row.startswith("finding,relabelled,")
    assert finding_row.endswith(",personal -> public,classification personal -> public")
    (relabel,) = relabelled_risks(store, "scan-2")
    assert (relabel.key, relabel.old_classification, relabel.new_classification) == (
        risk("a").key,
        "personal",
        "public",
    )
    assert relabel.severity == "high" and not relabel.waived


def test_a_fix_under_the_same_label_is_resolved(store: Path) -> None:
    save_scan(store, replace(scan_at(0, (risk("a"),), "scan-1"), assets=(labelled("personal"),)))
    save_scan(store, replace(scan_at(10, (ok("a"),), "scan-2"), assets=(labelled("personal"),)))
    diff = diff_scans(store)
    assert [(c.change, c.aspects) for c in diff.findings] == [("resolved", ())]
    assert diff.relabelled == () and relabelled_risks(store, "scan-2") == ()
    assert "relabelled" not in render_table(diff) + render_markdown(diff)


def test_a_relabel_while_the_risk_was_unknown_is_still_relabelled(store: Path) -> None:
    # Relabelled in the scan that could not tell the risk: the label is compared with the one
    # the risk was last told under, not with the older scan's.
    save_scan(store, replace(scan_at(0, (risk("a"),), "scan-1"), assets=(labelled("personal"),)))
    save_scan(store, replace(scan_at(10, (unknown("a"),), "scan-2"), assets=(labelled("public"),)))
    save_scan(store, replace(scan_at(20, (ok("a"),), "scan-3"), assets=(labelled("public"),)))
    diff = diff_scans(store)
    assert [(c.change, c.old_status, c.aspects) for c in diff.findings] == [
        ("relabelled", "unknown", (Aspect("classification", "personal", "public"),))
    ]
    assert [r.key for r in relabelled_risks(store, "scan-3")] == [risk("a").key]


def test_a_waived_risk_relabelled_away_is_listed_and_marked_waived(store: Path) -> None:
    first = replace(scan_at(0, (waived(risk("a")),), "scan-1"), assets=(labelled("personal"),))
    save_scan(store, first)
    save_scan(store, replace(scan_at(10, (ok("a"),), "scan-2"), assets=(labelled("public"),)))
    assert [c.change for c in diff_scans(store).findings] == ["relabelled"]
    assert [r.waived for r in relabelled_risks(store, "scan-2")] == [True]


def test_a_relabel_that_makes_a_risk_is_new(store: Path) -> None:
    save_scan(store, replace(scan_at(0, (ok("a"),), "scan-1"), assets=(labelled("public"),)))
    save_scan(store, replace(scan_at(10, (risk("a"),), "scan-2"), assets=(labelled("personal"),)))
    diff = diff_scans(store)
    assert [(c.change, c.aspects) for c in diff.findings] == [
        ("new", (Aspect("classification", "public", "personal"),))
    ]
    assert new_risk_keys(store, "scan-2") == {risk("a").key}
    assert relabelled_risks(store, "scan-2") == ()


@pytest.mark.parametrize("output_format", ["table", "json"])  # a held and a streamed scan
def test_fail_on_new_fails_once_on_a_risk_relabelled_away(
    tmp_path: Path, output_format: str
) -> None:
    store = tmp_path / "history.sqlite"

    def run(label: str, *flags: str) -> Result:
        config = tmp_path / "sovscan.toml"
        config.write_text(
            '[institution]\nname = "X"\nhome = "CA-QC"\n[[saas]]\nname = "LMS"\n'
            f'url = "https://3.5.140.2/"\nclassification = "{label}"\n',
            encoding="utf-8",
        )
        args = ["scan", "-c", str(config), "--store", str(store), *flags]
        return CliRunner().invoke(cli, [*args, "--format", output_format])

    assert run("personal", "--fail-on-new").exit_code == 1  # the first scan: every risk is new
    relabelled = run("public", "--fail-on-new")
    assert relabelled.exit_code == 1, relabelled.output
    # Both rules on the endpoint (data outside, foreign law) turned ok with the label alone.
    assert (
        "relabelled: 2 risk finding(s) of earlier scans (each as the last scan that saw its unit "
        "whole told it) are ok now as their asset's classification changed (saas:3.5.140.2: "
        "personal -> public, and 1 more): not shown to be fixed; `sovscan diff` lists them as "
        "relabelled"
    ) in relabelled.stderr
    assert (
        "exit 1: 0 unwaived new risk finding(s) (not an unwaived risk at their last told "
        "status: new, or no longer waived) at or above --fail-on high; 2 unwaived risk "
        "finding(s) at or above it turned ok only as their asset was relabelled"
    ) in relabelled.stderr
    assert [c.change for c in diff_scans(store).findings] == ["relabelled", "relabelled"]
    assert run("public", "--fail-on-new").exit_code == 0  # relabelled once: not again
    # Without --fail-on-new the scan is judged alone: the relabel is warned of, not failed on.
    assert run("personal", "--fail-on", "never").exit_code == 0
    plain = run("public")
    assert plain.exit_code == 0 and "relabelled: 2 risk finding(s)" in plain.stderr
    # Above the threshold only: a relabel of a high risk does not fail --fail-on critical.
    run("personal", "--fail-on", "never")
    assert run("public", "--fail-on-new", "--fail-on", "critical").exit_code == 0


def moved(
    item: ResolvedAsset, place: str, operator: str | None, laws: tuple[str, ...]
) -> ResolvedAsset:
    location = replace(item.location, country=place[:2], subdivision=None, region="x-1")
    control = replace(item.control, operator=operator, jurisdictions=laws)
    return replace(item, location=location, control=control)


def test_a_changed_finding_says_what_changed(store: Path) -> None:
    bucket = labelled("personal")
    save_scan(store, replace(scan_at(0, (risk("a"), risk("b")), "scan-1"), assets=(bucket,)))
    elsewhere = moved(bucket, "FR", "OVH SAS", ("FR", "EU"))
    findings = (
        replace(risk("a"), message="a: now reachable by other laws"),
        risk("b", Severity.CRITICAL),
    )
    save_scan(store, replace(scan_at(10, findings, "scan-2"), assets=(elsewhere,)))
    diff = diff_scans(store)
    moves = (
        Aspect("operator", "Amazon Web Services, Inc.", "OVH SAS"),
        Aspect("place", "CA-QC", "FR"),
        Aspect("jurisdictions", "US", "FR,EU"),
    )
    assert [(c.rule_id, c.change, c.aspects) for c in diff.findings] == [
        ("a", "changed", moves),
        ("b", "changed", (*moves, Aspect("severity", "high", "critical"))),
    ]
    markdown = render_markdown(diff)
    assert (
        "operator Amazon Web Services, Inc. → OVH SAS; place CA-QC → FR; "
        "jurisdictions US → FR, EU; severity high → critical |"
    ) in markdown
    (asset,) = diff.assets
    assert asset.aspects == moves
    # The assets table shows places in its own columns; its details add who runs it and which
    # laws reach it.
    assert "| operator Amazon Web Services, Inc. → OVH SAS; jurisdictions US → FR, EU |" in markdown
    # Unknown on one side is said so.
    unknown_now = moved(bucket, "FR", None, ())
    save_scan(store, replace(scan_at(20, (risk("a"), risk("b")), "scan-3"), assets=(unknown_now,)))
    assert diff_scans(store).findings[0].aspects == (
        Aspect("operator", "OVH SAS", None),
        Aspect("jurisdictions", "FR,EU", ""),
    )
    assert "operator OVH SAS -> unknown; jurisdictions FR, EU -> none" in render_csv(
        diff_scans(store)
    )


def test_what_changed_is_escaped_in_every_format(store: Path) -> None:
    hostile = "=cmd|\x1b]0;pwned\x07"
    save_scan(store, replace(scan_at(0, (risk("a"),), "scan-1"), assets=(labelled(hostile),)))
    save_scan(store, replace(scan_at(10, (ok("a"),), "scan-2"), assets=(labelled("public"),)))
    diff = diff_scans(store)
    table = render_table(diff)
    assert "\x1b" not in table and "\x07" not in table and "\\x1b]0;pwned" in table
    for line in render_csv(diff).splitlines()[1:]:
        assert "\x1b" not in line and ",=" not in line
    assert "\x1b" not in render_markdown(diff)


def test_a_store_from_before_operators_shows_no_false_change(store: Path) -> None:
    from sovscan.history import _MIGRATIONS

    with sqlite3.connect(store) as connection:
        for migration in _MIGRATIONS[:4]:
            connection.executescript(migration)
        connection.execute("PRAGMA user_version = 4")
    save_scan(store, replace(scan_at(0, (risk("a"),), "scan-1"), assets=(labelled("personal"),)))
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE assets SET operator = NULL")  # as a scan recorded before
    save_scan(store, replace(scan_at(10, (risk("a"),), "scan-2"), assets=(labelled("personal"),)))
    diff = diff_scans(store)
    assert diff.assets == () and diff.findings == ()
    save_scan(store, replace(scan_at(20, (ok("a"),), "scan-3"), assets=(labelled("public"),)))
    assert diff_scans(store).findings[0].aspects == (
        Aspect("classification", "personal", "public"),
    )


def test_help_says_what_fail_on_new_and_diff_count() -> None:
    scan_help = " ".join(CliRunner().invoke(cli, ["scan", "--help"]).stdout.split())
    assert (
        "A risk waived there and unwaived now (its waiver lapsed or was removed) counts as new"
        in (scan_help)
    )
    assert "scans whose scope left the finding's asset out are passed over" in scan_help
    diff_help = " ".join(CliRunner().invoke(cli, ["diff", "--help"]).stdout.split())
    assert "unaccepted (its waiver lapsed or was removed: new for" in diff_help
    assert "relabelled (no longer a risk, its asset's classification changed" in diff_help
    assert "changed fails the run too, once (relabelled: not shown fixed)" in scan_help
    assert "back (a risk again in view after the older scan's scope left it out: not new)" in (
        diff_help
    )


def test_a_hand_edited_store_too_deep_to_read_reads_as_unknown(tmp_path: Path) -> None:
    # json.loads raises RecursionError, not ValueError, on deep nesting: a store whose scope
    # and units were edited so stopped `history` and `diff` with an internal error.
    store = tmp_path / "store.sqlite"
    save_scan(store, scan_at(0, (risk("a"),), "scan-1"))
    save_scan(store, partial(scan_at(10, (risk("a"),), "scan-2")))
    deep = "[" * 100_000 + "]" * 100_000
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE scans SET scope = ?, incomplete = ?", (deep, deep))
    listed = CliRunner().invoke(cli, ["history", "--store", str(store), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    units = [s["incomplete_units"] for s in json.loads(listed.stdout)]
    assert sorted(units, key=str) == [None, []]  # partial: every unit; complete: none
    shown = diff_scans(store)
    assert (shown.old.id, shown.new.id, shown.new.incomplete_units) == ("scan-1", "scan-2", None)


def test_a_hand_edited_rules_list_reads_as_judging_nothing(store: Path) -> None:
    # NULL (a scan recorded before sovscan kept its rules) is every rule; a list that cannot
    # be read tells nothing either: a risk gone from such a scan is not resolved.
    save_scan(store, judged_by(scan_at(0, (risk("a"), risk("b")), "scan-1"), "a", "b"))
    save_scan(store, judged_by(scan_at(10, (risk("a"),), "scan-2"), "a"))
    for edited in ("[" * 100_000 + "]" * 100_000, "not json", '{"a": 1}', "[1]"):
        with sqlite3.connect(store) as connection:
            connection.execute("UPDATE scans SET rules = ? WHERE id = 'scan-2'", (edited,))
        (change,) = diff_scans(store).findings
        assert (change.change, change.rule_id) == ("unseen", "b"), edited


def test_settings_a_hand_edited_document_holds_are_shown_as_they_are(store: Path) -> None:
    # A stored string that starts with "[" is not a list: `diff` stopped with an internal error
    # (json_extract gives a list as its JSON text and a string as itself: not told apart).
    save_scan(store, scan_at(0, (ok("a"),), "scan-1"))
    save_scan(store, scan_at(10, (ok("a"),), "scan-2"))
    with sqlite3.connect(store) as connection:
        connection.execute(
            "UPDATE scans SET document = json_set(document, '$.profile', '[{x') WHERE id = ?",
            ("scan-2",),
        )
    assert diff_scans(store).settings_changed == ("profile: none -> [{x",)
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE scans SET document = '{' WHERE id = 'scan-2'")
    assert diff_scans(store).settings_changed == (
        "settings: not known (the stored document of scan scan-2 cannot be read)",
    )


def test_a_scan_recorded_before_the_rules_column_is_judged_by_its_document_s_rules(
    store: Path,
) -> None:
    # A store from before version 8: the scans' documents name their rules, the column is
    # NULL. After the upgrade, a risk of a rule the older scan's profile left out read as new.
    save_scan(store, judged_by(scan_at(0, (risk("a"), risk("b")), "scan-1"), "a", "b"))
    save_scan(store, judged_by(scan_at(10, (risk("a"),), "scan-2"), "a"))
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE scans SET rules = NULL")
    save_scan(store, judged_by(scan_at(20, (risk("a"), risk("b")), "scan-3"), "a", "b"))
    assert new_risk_keys(store, "scan-3") == set()
    assert diff_scans(store).findings == ()
    (change,) = diff_scans(store, "scan-1", "scan-2").findings
    assert (change.change, change.rule_id, change.reason) == ("unseen", "b", NOT_JUDGED)
