"""scan --evidence, then replay: the same observations give the same verdicts offline, waivers
and profile included; a changed rule changes only what it should."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.zone
import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import ZoneServer
from sovscan.engine import default_rules_dir
from sovscan.evidence import redact_inventory

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns-1.awsdns-01.org.
@ IN MX 10 uni-example.mail.protection.outlook.com.
@ IN TXT "MS=ms1234"
www IN A 3.96.0.10
"""


def shipped_rules_copy(folder: Path) -> Path:
    """A copy of the shipped rules in `folder`/rules, for a test to change."""
    rules = folder / "rules"
    shutil.copytree(default_rules_dir(), rules)
    return rules


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\nprofile = "quebec-law25"\n'
        '[dns]\ndomains = ["uni.example"]\n'
        "[[waivers]]\n"
        'asset = "dns:uni.example:host:www.uni.example"\n'
        'reason = "TIA-2026-9"\nowner = "dpo@uni.example"\nexpires = 2099-01-01\n',
        encoding="utf-8",
    )
    with ZoneServer([dns.zone.from_text(ZONE, origin="uni.example")]) as server:
        result = CliRunner().invoke(
            cli,
            [
                "scan",
                "-c",
                str(inventory),
                "--nameserver",
                f"{server.host}:{server.port}",
                "--no-store",
                "--format",
                "json",
                "--evidence",
                str(tmp_path / "evidence"),
                "--fail-on",
                "never",
            ],
        )
    assert result.exit_code in (0, 3), result.stderr
    stored_digest = hashlib.sha256((tmp_path / "evidence" / "manifest.json").read_bytes())
    assert f"manifest SHA-256 {stored_digest.hexdigest()}" in result.stderr
    yield tmp_path / "evidence", json.loads(result.stdout)


def verdicts(document: dict[str, Any]) -> list[tuple[str, str, str, str, Any]]:
    return sorted(
        (f["rule_id"], f["asset_id"], f["status"], f["severity"], f["waiver"])
        for f in document["findings"]
    )


def test_replay_reproduces_the_scan(bundle: tuple[Path, dict[str, Any]]) -> None:
    folder, original = bundle
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    assert replayed.exit_code in (0, 3), replayed.stderr
    document = json.loads(replayed.stdout)
    assert verdicts(document) == verdicts(original)
    assert document["score"] == original["score"]
    assert document["profile"] == "quebec-law25"
    assert any(f["waiver"] for f in document["findings"])
    assert document["notices"][-1].startswith("Replay, not a new scan:")
    assert "with the bundle's rules" in document["notices"][-1]
    assert not any(n.startswith("Replay") for n in original["notices"])


def test_replay_with_a_changed_rule(bundle: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, original = bundle
    rules = shipped_rules_copy(tmp_path)
    rule = rules / "control" / "foreign-law-reach.yaml"
    rule.write_text(
        rule.read_text(encoding="utf-8").replace("severity: high", "severity: critical"),
        encoding="utf-8",
    )
    replayed = CliRunner().invoke(
        cli, ["replay", str(folder), "--rules", str(rules), "--format", "json"]
    )
    assert replayed.exit_code in (0, 3), replayed.stderr
    before = {(f["rule_id"], f["asset_id"]): f for f in original["findings"]}
    after = {(f["rule_id"], f["asset_id"]): f for f in json.loads(replayed.stdout)["findings"]}
    assert before.keys() == after.keys()
    for key, finding in after.items():
        expected = "critical" if key[0] == "foreign-law-reach" else before[key]["severity"]
        assert finding["severity"] == expected
        assert finding["status"] == before[key]["status"]
    assert any(k[0] == "foreign-law-reach" for k in after)
    notices = json.loads(replayed.stdout)["notices"]
    assert "given with --rules (instead of the bundle's)" in notices[-1]


def test_replay_refuses_rules_that_fail_their_own_cases(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = bundle
    rules = shipped_rules_copy(tmp_path)
    cases = rules / "control" / "foreign-law-reach.test.yaml"
    text = cases.read_text(encoding="utf-8")
    cases.write_text(text.replace("expect: risk", "expect: ok", 1), encoding="utf-8")
    replayed = CliRunner().invoke(
        cli, ["replay", str(folder), "--rules", str(rules), "--format", "json"]
    )
    assert replayed.exit_code == 2
    assert replayed.stdout == ""
    (line,) = replayed.stderr.splitlines()
    assert line.startswith(f"sovscan: error: {rules.as_posix()}/control/foreign-law-reach.test")
    assert "expected ok; got risk" in line


def test_replay_refuses_a_rules_folder_that_holds_no_rule(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    # It replayed with no rules at all from that folder, and said so nowhere.
    folder, _ = bundle
    rules = shipped_rules_copy(tmp_path)
    rule = rules / "control" / "foreign-law-reach.yaml"
    rule.rename(rule.with_suffix(".yml"))
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--rules", str(rules)])
    assert replayed.exit_code == 2 and replayed.stdout == ""
    (line,) = replayed.stderr.splitlines()
    assert line == (
        f"sovscan: error: {rules.as_posix()}/control/foreign-law-reach.yml: rule files end in "
        ".yaml and this .yml file would be ignored; rename it to foreign-law-reach.yaml"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--rules", str(empty)])
    assert replayed.exit_code == 2
    assert replayed.stderr.startswith(f"sovscan: error: {empty}: no rule files;")


@pytest.mark.parametrize("how", ["report.json", "new.json", "link"])
def test_replay_never_writes_its_report_into_the_bundle(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path, how: str
) -> None:
    # `replay BUNDLE -o BUNDLE/report.json` broke the evidence it replayed.
    folder, _ = bundle
    output = folder / how
    if how == "link":
        (tmp_path / "alias").symlink_to(folder)
        output = tmp_path / "alias" / "report.json"
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "-o", str(output)])
    assert replayed.exit_code == 2 and replayed.stdout == ""
    (line,) = replayed.stderr.splitlines()
    assert line == (
        f"sovscan: error: --output: {output}: is inside the evidence bundle being replayed "
        f"({folder}); give a file outside it"
    )
    checked = CliRunner().invoke(cli, ["verify", str(folder)])
    assert checked.exit_code == 0, checked.output


def test_external_ids_never_reach_the_bundle() -> None:
    text = '[[aws]]\nrole_arn = "arn:aws:iam::123456789012:role/a"\nexternal_id = "Zx9-s3cr3t"\n'
    redacted = redact_inventory(text)
    assert "Zx9-s3cr3t" not in redacted and 'external_id = "<redacted>"' in redacted
    assert "role_arn" in redacted


def test_a_bundle_rewritten_with_its_manifest_fails_against_the_recorded_digest(
    bundle: tuple[Path, dict[str, Any]],
) -> None:
    folder, _ = bundle
    manifest_path = folder / "manifest.json"
    recorded = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    runner = CliRunner()
    checked = runner.invoke(cli, ["verify", str(folder), "--manifest-sha256", recorded.upper()])
    assert checked.exit_code == 0 and "is the recorded one" in checked.output
    # A forger changes the policy and rewrites the manifest to match.
    policy = folder / "policy.json"
    policy.write_text(policy.read_text(encoding="utf-8").replace("CA-QC", "US"), "utf-8")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["policy.json"] = hashlib.sha256(policy.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    alone = runner.invoke(cli, ["verify", str(folder)])
    assert alone.exit_code == 0  # the manifest alone cannot tell: hence the recorded digest
    assert f"manifest SHA-256 {hashlib.sha256(manifest_path.read_bytes()).hexdigest()}" in (
        alone.output
    )
    caught = runner.invoke(cli, ["verify", str(folder), "--manifest-sha256", recorded])
    assert caught.exit_code == 1
    assert f"is not the recorded {recorded}; the bundle was rewritten" in caught.output
    bad = runner.invoke(cli, ["verify", str(folder), "--manifest-sha256", "xyz"])
    assert bad.exit_code == 2 and "expected 64 hexadecimal digits" in bad.stderr


def test_the_bundle_digest_follows_the_log_format(tmp_path: Path) -> None:
    import logging

    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n[dns]\ndomains = ["uni.example"]\n',
        encoding="utf-8",
    )
    handlers = logging.getLogger("sovscan").handlers[:]
    try:
        with ZoneServer([dns.zone.from_text(ZONE, origin="uni.example")]) as server:
            result = CliRunner().invoke(
                cli,
                ["--log-format", "json", "-q", "scan", "-c", str(inventory),
                 "--nameserver", f"{server.host}:{server.port}", "--no-store",
                 "--format", "json", "--output", str(tmp_path / "r.json"),
                 "--evidence", str(tmp_path / "evidence"), "--fail-on", "never"],
            )  # fmt: skip
    finally:
        logging.getLogger("sovscan").handlers[:] = handlers
    assert result.exit_code in (0, 3), result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    (said,) = [r for r in records if r["level"] == "evidence"]
    digest = hashlib.sha256((tmp_path / "evidence" / "manifest.json").read_bytes()).hexdigest()
    assert f"manifest SHA-256 {digest}" in said["message"]


def test_a_replay_is_a_new_evaluation_that_names_the_scan_it_replays(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A replay is not the scan it replays: its own id and evaluation times, with the original
    # scan's id and observation times kept as provenance, in every format that has them.
    folder, original = bundle
    store = tmp_path / "history.sqlite"
    monkeypatch.setenv("SOVSCAN_STORE", str(store))
    runner = CliRunner()
    replayed = runner.invoke(cli, ["replay", str(folder), "--format", "json"])
    assert replayed.exit_code in (0, 3), replayed.stderr
    document = json.loads(replayed.stdout)
    assert document["scan_id"] != original["scan_id"]
    assert document["started_at"] > original["finished_at"]  # evaluated now, observed then
    assert document["finished_at"] >= document["started_at"]
    assert document["replay_of"] == {
        "scan_id": original["scan_id"],
        "started_at": original["started_at"],
        "finished_at": original["finished_at"],
    }
    assert "replay_of" not in original  # a live scan's document is as it always was
    from tests.report.test_json import validate

    validate(document)
    again = json.loads(runner.invoke(cli, ["replay", str(folder), "--format", "json"]).stdout)
    assert again["scan_id"] not in (document["scan_id"], original["scan_id"])
    assert verdicts(again) == verdicts(document) == verdicts(original)
    assert f"scan {original['scan_id']}" in document["notices"][-1]

    sarif = json.loads(runner.invoke(cli, ["replay", str(folder), "--format", "sarif"]).stdout)
    (run,) = sarif["runs"]
    assert run["properties"]["scanId"] != original["scan_id"]
    assert run["properties"]["replayOf"] == {
        "scanId": original["scan_id"],
        "startTimeUtc": original["started_at"],
        "endTimeUtc": original["finished_at"],
    }
    assert run["invocations"][0]["startTimeUtc"] > original["finished_at"]
    markdown = runner.invoke(cli, ["replay", str(folder), "--format", "markdown"]).stdout
    assert f"- Replay of scan `{original['scan_id']}`: observations made " in markdown
    html = runner.invoke(cli, ["replay", str(folder), "--format", "html"]).stdout
    assert f"<tr><th>replay of scan</th><td><code>{original['scan_id']}</code>" in html
    table = runner.invoke(cli, ["replay", str(folder), "--format", "table"]).stdout
    assert f"replay of scan {original['scan_id']}, observed " in table
    spreadsheet = runner.invoke(cli, ["replay", str(folder), "--format", "csv"]).stdout
    scan_row = spreadsheet.splitlines()[1]
    assert f"replay of scan {original['scan_id']}, observed {original['started_at']}" in scan_row

    # A replay is no observation of the estate: it is not recorded, so it can neither overwrite
    # the original in the history store nor pass for the latest scan in `diff`.
    assert not store.exists()
    # The bundle it read is left as it was.
    checked = runner.invoke(cli, ["verify", str(folder)])
    assert checked.exit_code == 0, checked.output


def test_a_manifest_naming_no_plausible_scan_is_refused(
    bundle: tuple[Path, dict[str, Any]],
) -> None:
    # The manifest is not in its own list of digests: what it says of the scan is checked here.
    folder, _ = bundle
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for planted in ("<script>alert(1)</script>", "", None, "x" * 65):
        manifest["scan_id"] = planted
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
        refused = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
        assert refused.exit_code == 2, refused.output
        assert refused.stdout == ""
        (line,) = refused.stderr.splitlines()
        assert "manifest.json: expected a scan_id" in line


def _rewrite(folder: Path, name: str, change: Any) -> None:
    """Change a bundle file and its manifest entry, as an old bundle would have them."""
    path = folder / name
    path.write_text(json.dumps(change(json.loads(path.read_text(encoding="utf-8")))), "utf-8")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_replay_judges_waivers_on_the_day_the_estate_was_observed(
    bundle: tuple[Path, dict[str, Any]],
) -> None:
    # Observed in 2020 under a waiver that expired in 2021: replayed today, the verdicts are the
    # scan's, and the provenance says when the observations were made.
    folder, original = bundle

    def observed_in_2020(document: dict[str, Any]) -> dict[str, Any]:
        return {
            **document,
            "started_at": "2020-06-01T08:00:00+00:00",
            "finished_at": "2020-06-01T08:00:09+00:00",
        }

    def expiring_in_2021(document: dict[str, Any]) -> dict[str, Any]:
        (waiver,) = document["waivers"]
        return {**document, "waivers": [{**waiver, "expires": "2021-01-01"}]}

    _rewrite(folder, "observations.json", observed_in_2020)
    _rewrite(folder, "policy.json", expiring_in_2021)
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    assert replayed.exit_code in (0, 3), replayed.stderr
    document = json.loads(replayed.stdout)
    assert document["replay_of"]["started_at"] == "2020-06-01T08:00:00+00:00"
    assert document["started_at"] > document["replay_of"]["finished_at"]  # evaluated today
    waived = [f for f in document["findings"] if f["waiver"]]
    assert waived and all(f["waiver"]["expires"] == "2021-01-01" for f in waived)
    assert not any("expired" in notice for notice in document["notices"])
    assert verdicts(document) == [
        (*v[:4], {**v[4], "expires": "2021-01-01"} if v[4] else None) for v in verdicts(original)
    ]


def test_tokens_in_saas_urls_never_reach_the_bundle() -> None:
    text = (
        '[[saas]]\nname = "LMS"\n'
        'url = "https://admin:P4ss@lms.example/p;jsessionid=AB?token=S3CR3T#frag"\n'
    )
    redacted = redact_inventory(text)
    assert 'url = "https://lms.example/p"' in redacted
    for secret in ("P4ss", "jsessionid", "S3CR3T", "frag"):
        assert secret not in redacted


@pytest.mark.parametrize(
    "text",
    [
        # Valid TOML that the inventory reads as it reads the usual form, but that a pattern
        # over lines missed: the secret reached the bundle's config.toml.
        '[[aws]]\nrole_arn = "arn:aws:iam::123456789012:role/a"\nexternal_id = """Zx9-s3cr3t"""\n',
        '[[aws]]\nrole_arn = "r"\nexternal_id = """\nZx9-s3cr3t"""\n',
        '[[aws]]\nrole_arn = "arn:aws:iam::123456789012:role/a"\n"external_id" = "Zx9-s3cr3t"\n',
        "[[aws]]\nrole_arn = \"r\"\nmember_role = \"m\"\nmember_external_id = '''Zx9-s3cr3t'''\n",
        'aws = [{ role_arn = "r", external_id = "Zx9-s3cr3t" }]\n',
        'saas = [{ name = "LMS", url = "https://lms.example/p?token=Zx9-s3cr3t" }]\n',
        '[[saas]]\nname = "LMS"\nurl = """https://lms.example/p?token=Zx9-s3cr3t"""\n',
        '[[saas]]\nname = "LMS"\n"url" = "https://admin:Zx9-s3cr3t@lms.example/p"\n',
    ],
)
def test_secrets_written_in_any_toml_form_never_reach_the_bundle(text: str) -> None:
    import tomllib

    redacted = redact_inventory(text)
    assert "Zx9-s3cr3t" not in redacted
    document = tomllib.loads(redacted)  # still the inventory, secrets hidden
    for source in document.get("aws", []):
        for key in ("external_id", "member_external_id"):
            assert source.get(key, "<redacted>") == "<redacted>"
    for endpoint in document.get("saas", []):
        assert endpoint["url"] == "https://lms.example/p"
    assert len(document.get("aws", document.get("saas", []))) == 1


def test_a_replay_names_rule_files_as_the_scan_did(
    bundle: tuple[Path, dict[str, Any]],
) -> None:
    # rule_source read `/tmp/.../evidence/rules/0-rules/...`, where the bundle sat when it was
    # replayed; and a profile, which picks the shipped rules by their names, then took every
    # shipped rule of the bundle for one of the institution's own and ran them all.
    folder, original = bundle
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    document = json.loads(replayed.stdout)
    assert document["rules"] == original["rules"]
    assert [f["rule_source"] for f in document["findings"]] == [
        f["rule_source"] for f in original["findings"]
    ]
    assert all(f["rule_source"].startswith("rules/") for f in document["findings"])
    assert str(folder) not in replayed.stdout
    sarif = CliRunner().invoke(cli, ["replay", str(folder), "--format", "sarif"]).stdout
    assert str(folder) not in sarif and "0-rules" not in sarif


def test_the_institutions_own_rules_keep_their_names_in_a_replay(tmp_path: Path) -> None:
    own = tmp_path / "own"
    shutil.copytree(default_rules_dir() / "control", own)
    for path in own.glob("*.yaml"):  # the same rules under new ids: the institution's own
        text = path.read_text(encoding="utf-8")
        stem = path.name.removesuffix(".yaml").removesuffix(".test")
        new = f"own-{stem}"
        path.rename(own / path.name.replace(stem, new, 1))
        (own / path.name.replace(stem, new, 1)).write_text(
            text.replace(f"id: {stem}", f"id: {new}").replace(f"rule: {stem}", f"rule: {new}"),
            encoding="utf-8",
        )
    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\nprofile = "gc-protected-b"\n'
        '[dns]\ndomains = ["uni.example"]\n[rules]\ndirs = ["own"]\n',
        encoding="utf-8",
    )
    with ZoneServer([dns.zone.from_text(ZONE, origin="uni.example")]) as server:
        scanned = CliRunner().invoke(
            cli,
            ["scan", "-c", str(inventory), "--nameserver", f"{server.host}:{server.port}",
             "--no-store", "--format", "json", "--evidence", str(tmp_path / "evidence"),
             "--fail-on", "never"],
        )  # fmt: skip
    assert scanned.exit_code in (0, 3), scanned.stderr
    original = json.loads(scanned.stdout)
    assert any(info["source"].startswith(f"{own}/") for info in original["rules"].values())
    replayed = CliRunner().invoke(cli, ["replay", str(tmp_path / "evidence"), "--format", "json"])
    document = json.loads(replayed.stdout)
    assert document["rules"] == original["rules"]
    assert verdicts(document) == verdicts(original)


def test_a_replay_says_its_rules_and_data_are_the_scans(
    bundle: tuple[Path, dict[str, Any]],
) -> None:
    folder, original = bundle
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    assert replayed.exit_code in (0, 3), replayed.stderr
    document = json.loads(replayed.stdout)
    assert document["digests"] == original["digests"]
    notice = document["notices"][-1]
    rules, data = original["digests"]["rules"][:16], original["digests"]["data"][:16]
    assert f"Rules: the same as the scan's (digest {rules})." in notice
    assert f"Data: the same as the scan's (digest {data})." in notice
    assert "differ" not in replayed.stderr


def _updated_data(folder: Path) -> Path:
    """The offline data as `sovscan data update` leaves it: a complete copy, one file changed."""
    from sovscan.resolve.knowledge import DATA_FILES, default_data_dir

    folder.mkdir()
    for name in DATA_FILES:
        shutil.copy(default_data_dir() / name, folder / name)
    manifest = folder / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    return folder


def test_a_replay_after_a_data_update_says_the_data_differs(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After `sovscan data update`, a replay re-evaluated with other data and said only "this
    # sovscan's data (digest ...)": nothing told the reader it was not the scan's data.
    folder, original = bundle
    monkeypatch.setenv("SOVSCAN_DATA_DIR", str(_updated_data(tmp_path / "updated")))
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "markdown"])
    assert replayed.exit_code in (0, 3), replayed.stderr
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    document = json.loads(replayed.stdout)
    now, then = document["digests"]["data"], original["digests"]["data"]
    assert now != then
    notice = document["notices"][-1]
    assert "Rules: the same as the scan's" in notice
    assert (
        f"Data: NOT the same as the scan's (digest {now[:16]} here, {then[:16]} in the bundle), "
        "so verdicts may differ from the scan's for that reason alone." in notice
    )
    (warning,) = [line for line in replayed.stderr.splitlines() if "differ" in line]
    assert warning == (
        f"sovscan: warning: replay of scan {original['scan_id']}: the data differs from the "
        "scan's; verdicts may differ from the bundle's report for that reason alone"
    )


def test_a_replay_with_other_rules_says_the_rules_differ(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = bundle
    rules = shipped_rules_copy(tmp_path)
    rule = rules / "control" / "foreign-law-reach.yaml"
    rule.write_text(rule.read_text(encoding="utf-8").replace("severity: high", "severity: low"))
    replayed = CliRunner().invoke(
        cli, ["replay", str(folder), "--rules", str(rules), "--format", "json"]
    )
    notice = json.loads(replayed.stdout)["notices"][-1]
    assert "Rules: NOT the same as the scan's" in notice
    assert "Data: the same as the scan's" in notice
    assert "the rules differ from the scan's" in replayed.stderr


def test_a_bundle_recording_no_digests_says_so(bundle: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = bundle
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["data_digest"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    notice = json.loads(replayed.stdout)["notices"][-1]
    assert "Data: the bundle records no data digest to compare with" in notice
    assert "the bundle records no data digest; verdicts may differ" in replayed.stderr
    manifest["data_digest"] = "<b>planted</b>"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    refused = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    assert refused.exit_code == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert "manifest.json: data_digest: expected a digest (a SHA-256" in line


def test_replay_checks_the_recorded_manifest_digest(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = bundle
    manifest_path = folder / "manifest.json"
    recorded = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    runner = CliRunner()
    replayed = runner.invoke(cli, ["replay", str(folder), "--manifest-sha256", recorded.upper()])
    assert replayed.exit_code in (0, 3), replayed.stderr
    # A forger changes the policy and rewrites the manifest to match: verify alone passes it.
    policy = folder / "policy.json"
    policy.write_text(policy.read_text(encoding="utf-8").replace("CA-QC", "US"), "utf-8")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["policy.json"] = hashlib.sha256(policy.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert runner.invoke(cli, ["replay", str(folder), "--format", "json"]).exit_code in (0, 3)
    verified = runner.invoke(cli, ["verify", str(folder), "--manifest-sha256", recorded])
    output = tmp_path / "replayed.json"
    refused = runner.invoke(
        cli, ["replay", str(folder), "--manifest-sha256", recorded, "--output", str(output)]
    )
    assert refused.exit_code == verified.exit_code == 1
    assert refused.stdout == "" and not output.exists()
    (line,) = refused.stderr.splitlines()
    digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    assert line == (
        f"sovscan: error: {folder}: manifest.json: SHA-256 {digest} is not the recorded "
        f"{recorded}; the bundle was rewritten; not replayed"
    )
    bad = runner.invoke(cli, ["replay", str(folder), "--manifest-sha256", "xyz"])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert "expected 64 hexadecimal digits" in bad.stderr


def test_an_inventory_written_again_to_redact_it_reads_as_the_original() -> None:
    import tomllib

    example = (Path(__file__).parents[1] / "sovscan.example.toml").read_text(encoding="utf-8")
    text = (
        example.replace("[[aws]]\n", '[[aws]]\n"external_id" = "Zx9-s3cr3t"\n', 1)
        + '\n[[waivers]]\nfinding = "f"\nreason = "tab\\t, quote \\" and \\\\ é"\n'
        'owner = "o"\nexpires = 2027-06-30\n'
    )
    redacted = redact_inventory(text)
    assert "Zx9-s3cr3t" not in redacted
    expected = tomllib.loads(text)
    expected["aws"][0]["external_id"] = "<redacted>"
    assert tomllib.loads(redacted) == expected


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("observations.json", lambda d: {**d, "assets": [{**d["assets"][0], "attributes": [1]}]}),
        ("policy.json", lambda d: {**d, "profile": ["eu-gdpr"]}),
        ("policy.json", lambda d: {**d, "profile": {"a": 1}}),
    ],
)
def test_a_malformed_bundle_that_verifies_is_one_line_not_an_internal_error(
    bundle: tuple[Path, dict[str, Any]], name: str, change: Any
) -> None:
    # Rewritten with its manifest, so it verifies: the replay stopped with an internal error
    # (exit 4) instead of saying what is malformed.
    folder, _ = bundle
    _rewrite(folder, name, change)
    replayed = CliRunner().invoke(cli, ["replay", str(folder), "--format", "json"])
    assert replayed.exit_code == 2, replayed.stderr
    (line,) = replayed.stderr.splitlines()
    assert line.startswith(
        f"sovscan: error: {folder / 'observations.json'}: malformed observations"
    )
