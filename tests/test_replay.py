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
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
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
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
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
