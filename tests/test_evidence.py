"""Evidence bundles: written all or nothing, verified against their manifest, read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sovscan.cli import cli
from sovscan.evidence import (
    REPORT_FILES,
    EvidenceError,
    bundled_rule_dirs,
    load_observations,
    verify_bundle,
    write_bundle,
)
from sovscan.report import REPORTERS
from tests.factories import make_scan


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    (folder / "storage").mkdir(parents=True)
    (folder / "frameworks.yaml").write_text("frameworks: {}\n", encoding="utf-8")
    (folder / "storage" / "x.yaml").write_text("id: x\n", encoding="utf-8")
    return folder


def test_bundle_round_trip(tmp_path: Path, rules_dir: Path) -> None:
    scan = make_scan()
    config = tmp_path / "sovscan.toml"
    config.write_text("[institution]\n", encoding="utf-8")
    bundle = tmp_path / "bundle"
    write_bundle(bundle, scan, config_file=config, rule_dirs=[rules_dir])
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema"] == "sovscan.evidence/1"
    assert set(manifest["files"]) == {
        "observations.json",
        "policy.json",
        "report.json",
        "config.toml",
        "rules/0-rules/frameworks.yaml",
        "rules/0-rules/storage/x.yaml",
    }
    assert verify_bundle(bundle) == []
    observations = load_observations(bundle)
    assert observations.assets == tuple(item.asset for item in scan.assets)
    assert observations.policy == scan.policy
    assert observations.started_at == scan.started_at
    assert [p.name for p in bundled_rule_dirs(bundle)] == ["0-rules"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_only_rule_files_are_bundled_never_what_a_link_in_a_rules_folder_names(
    tmp_path: Path, rules_dir: Path
) -> None:
    # A rules folder from elsewhere (a shared repository) may hold a link to the scanning
    # user's credentials: the bundle, handed to auditors, copied the file it named.
    secret = tmp_path / "home" / ".aws" / "credentials"
    secret.parent.mkdir(parents=True)
    secret.write_text("aws_secret_access_key = Zx9-s3cr3t\n", encoding="utf-8")
    (rules_dir / "storage" / "notes.txt").symlink_to(secret)
    (secret.parent / "keys.yaml").write_text("key: Zx9-s3cr3t\n", encoding="utf-8")
    (rules_dir / "aws").symlink_to(secret.parent)  # the loader reads no rule through it
    (rules_dir / "README.md").write_text("# our rules\n", encoding="utf-8")
    bundle = tmp_path / "bundle"
    write_bundle(bundle, make_scan(), config_file=None, rule_dirs=[rules_dir])
    assert sorted(p.relative_to(bundle).as_posix() for p in (bundle / "rules").rglob("*")) == [
        "rules/0-rules",
        "rules/0-rules/frameworks.yaml",
        "rules/0-rules/storage",
        "rules/0-rules/storage/x.yaml",
    ]
    assert not any(b"Zx9-s3cr3t" in p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    assert verify_bundle(bundle) == []


def test_tampering_is_detected(tmp_path: Path, rules_dir: Path) -> None:
    bundle = tmp_path / "bundle"
    write_bundle(bundle, make_scan(), config_file=None, rule_dirs=[rules_dir])
    report = bundle / "report.json"
    report.write_text(report.read_text(encoding="utf-8").replace("high", "low"), encoding="utf-8")
    (bundle / "observations.json").unlink()
    (bundle / "extra.txt").write_text("planted", encoding="utf-8")
    assert verify_bundle(bundle) == [
        "observations.json: missing",
        "report.json: modified (SHA-256 differs from the manifest)",
        "extra.txt: not in the manifest",
    ]
    with pytest.raises(EvidenceError, match="does not verify"):
        load_observations(bundle)


def test_existing_target_is_refused(tmp_path: Path, rules_dir: Path) -> None:
    (tmp_path / "bundle").mkdir()
    with pytest.raises(EvidenceError, match="already exists"):
        write_bundle(tmp_path / "bundle", make_scan(), config_file=None, rule_dirs=[rules_dir])


def test_a_bundle_without_its_manifest_does_not_verify(tmp_path: Path) -> None:
    assert verify_bundle(tmp_path) == [
        "manifest.json: missing; no file of the bundle can be checked"
    ]
    with pytest.raises(EvidenceError, match=r"does not verify: manifest\.json: missing"):
        load_observations(tmp_path)


def _verify(bundle: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["verify", str(bundle), *args])


def test_verify_exits_1_when_the_manifest_is_deleted(tmp_path: Path, rules_dir: Path) -> None:
    bundle = tmp_path / "bundle"
    write_bundle(bundle, make_scan(), config_file=None, rule_dirs=[rules_dir])
    (bundle / "manifest.json").unlink()
    result = _verify(bundle)
    assert result.exit_code == 1, result.output
    assert (
        result.stdout == f"{bundle}: manifest.json: missing; no file of the bundle can be checked\n"
    )
    assert result.stderr == ""
    # Without a manifest there is nothing to hash: the missing file is the whole finding.
    assert _verify(bundle, "--manifest-sha256", "0" * 64).stdout == result.stdout


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"schema": "sovscan.evidence/1", "files": {', "not valid JSON (Expecting"),
        (b"\xff\xfe", "not valid JSON ('utf-8' codec can't decode"),
        (b"[1]", "not a sovscan.evidence/1 manifest"),
        (b'{"files": {}}', "not a sovscan.evidence/1 manifest"),
        (b'{"schema": "sovscan.evidence/1", "files": ["report.json"]}', "not a sovscan.evidence/1"),
    ],
)
def test_verify_exits_1_when_the_manifest_is_corrupt(
    tmp_path: Path, rules_dir: Path, content: bytes, said: str
) -> None:
    bundle = tmp_path / "bundle"
    write_bundle(bundle, make_scan(), config_file=None, rule_dirs=[rules_dir])
    (bundle / "manifest.json").write_bytes(content)
    result = _verify(bundle)
    assert result.exit_code == 1, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{bundle}: manifest.json: {said}")
    assert line.endswith("; no file of the bundle can be checked")
    assert result.stderr == ""


def test_verify_shows_hostile_file_names_escaped(tmp_path: Path, rules_dir: Path) -> None:
    # Whoever tampers with a bundle names its files: printed raw, a name with a carriage return,
    # a newline or an escape sequence wrote a fake "intact" line over the real verdict.
    bundle = tmp_path / "bundle"
    write_bundle(bundle, make_scan(), config_file=None, rule_dirs=[rules_dir])
    fake = "intact; every file matches the manifest"
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["x\r\x1b[2K" + fake + "\x1b[8m"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (bundle / ("planted\n" + fake)).write_text("x", encoding="utf-8")
    result = _verify(bundle)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{bundle}: x\\x0d\\x1b[2K{fake}\\x1b[8m: missing",
        f"{bundle}: planted\\x0a{fake}: not in the manifest",
    ]


def test_deeply_nested_json_in_a_bundle_is_a_finding_not_an_internal_error(
    tmp_path: Path, rules_dir: Path
) -> None:
    # json.loads raises RecursionError, not JSONDecodeError, on deep nesting: verify and replay
    # of such a tampered bundle stopped with an internal error (exit 4).
    import hashlib

    deep = b"[" * 200_000 + b"]" * 200_000
    bundle = tmp_path / "bundle"
    write_bundle(bundle, make_scan(), config_file=None, rule_dirs=[rules_dir])
    observations = b'{"assets": ' + deep + b"}"
    (bundle / "observations.json").write_bytes(observations)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["observations.json"] = hashlib.sha256(observations).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(EvidenceError, match=r"observations.json: not valid JSON \(nested too"):
        load_observations(bundle)
    (bundle / "manifest.json").write_bytes(deep)
    result = _verify(bundle)
    assert result.exit_code == 1, result.output
    assert result.stdout == (
        f"{bundle}: manifest.json: not valid JSON (nested too deeply); "
        "no file of the bundle can be checked\n"
    )


def test_verify_of_a_folder_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    for target in (tmp_path / "nowhere", tmp_path / "file"):
        result = _verify(target)
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()
        assert str(target) in line and "Traceback" not in result.output


def test_a_killed_writes_staging_folder_is_removed_by_the_next_write(
    tmp_path: Path, rules_dir: Path
) -> None:
    import os
    import time

    stale = tmp_path / ".bundle.0123456789ab.tmp"
    (stale / "rules").mkdir(parents=True)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / ".bundle.ba9876543210.tmp"  # another writer's, still at work
    fresh.mkdir()
    write_bundle(tmp_path / "bundle", make_scan(), config_file=None, rule_dirs=[rules_dir])
    assert not stale.exists() and fresh.exists()
    assert verify_bundle(tmp_path / "bundle") == []


ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns-1.awsdns-01.org.
@ IN MX 10 uni-example.mail.protection.outlook.com.
www IN A 3.96.0.10
"""


def _scan_with_evidence(tmp_path: Path, *args: str) -> tuple[Result, Path]:
    import dns.zone

    from sovscan.dnsserver import ZoneServer

    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n[dns]\ndomains = ["uni.example"]\n',
        encoding="utf-8",
    )
    bundle = tmp_path / "evidence"
    with ZoneServer([dns.zone.from_text(ZONE, origin="uni.example")]) as server:
        result = CliRunner().invoke(
            cli,
            ["scan", "-c", str(inventory), "--nameserver", f"{server.host}:{server.port}",
             "--no-store", "--fail-on", "never", "--evidence", str(bundle), *args],
        )  # fmt: skip
    assert result.exit_code in (0, 3), result.stderr
    return result, bundle


@pytest.mark.parametrize(
    ("output_format", "name"),
    [("html", "report.html"), ("markdown", "report.md"), ("csv", "report.csv"),
     ("sarif", "report.sarif"), ("table", "report.txt")],
)  # fmt: skip
def test_the_report_handed_over_is_in_the_bundle(
    tmp_path: Path, output_format: str, name: str
) -> None:
    # `scan --format html --evidence DIR` hashed only report.json: the HTML page the board got
    # was covered by no manifest.
    import hashlib

    handed = tmp_path / f"handed-{name}"
    _, bundle = _scan_with_evidence(tmp_path, "--format", output_format, "--output", str(handed))
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"][name] == hashlib.sha256(handed.read_bytes()).hexdigest()
    assert (bundle / name).read_bytes() == handed.read_bytes()
    assert {"report.json", "observations.json", "policy.json", "config.toml"} <= set(
        manifest["files"]
    )
    assert _verify(bundle).exit_code == 0
    (bundle / name).write_bytes(handed.read_bytes().replace(b"uni.example", b"uni.exampie"))
    tampered = _verify(bundle)
    assert tampered.exit_code == 1
    assert tampered.stdout == f"{bundle}: {name}: modified (SHA-256 differs from the manifest)\n"


def test_a_report_on_stdout_is_bundled_as_printed(tmp_path: Path) -> None:
    result, bundle = _scan_with_evidence(tmp_path, "--format", "markdown")
    assert (bundle / "report.md").read_text(encoding="utf-8") == result.stdout
    assert _verify(bundle).exit_code == 0


def test_a_json_report_is_the_bundles_report_json_alone(tmp_path: Path) -> None:
    result, bundle = _scan_with_evidence(tmp_path, "--format", "json")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert not any(
        name.startswith("report.") and name != "report.json" for name in manifest["files"]
    )
    # Streamed, as the report was: the very text printed.
    assert (bundle / "report.json").read_text(encoding="utf-8") == result.stdout
    assert _verify(bundle).exit_code == 0


def test_every_report_format_has_its_bundle_file() -> None:
    # A reporter added without one stopped `scan --evidence` with an internal error.
    assert set(REPORT_FILES) | {"json"} == set(REPORTERS)
    assert len(set(REPORT_FILES.values())) == len(REPORT_FILES)


def test_an_older_bundles_other_tags_are_dropped_when_it_is_read() -> None:
    # Bundles written before the probe kept only the classification tag hold every tag; a
    # replay of one spread them (token=..., owners' addresses) into its new reports.
    from sovscan.evidence import asset_from_document

    def read(attributes: dict[str, object]) -> dict[str, object]:
        document = {"id": "aws:1:s3:b", "kind": "aws.s3.bucket", "name": "b", "evidence": []}
        return dict(asset_from_document({**document, "attributes": attributes}).attributes)

    old = {
        "region": "ca-central-1",
        "classification": "personal",
        "tag:DataClassification": "Personal",
        "tag:Owner": "alice@universite.example",
        "tag:token": "SUPERSECRET-TAG",
    }
    assert read(old) == {
        "region": "ca-central-1",
        "classification": "personal",
        "tag:DataClassification": "Personal",
    }
    leaked = {"classification": "akiaiosfodnn7example", "tag:Class": "AKIAIOSFODNN7EXAMPLE"}
    assert read(leaked) == {"classification": "<redacted>", "tag:Class": "<redacted>"}
    assert read({"classification": "public"}) == {"classification": "public"}
    # Older probes cut the classification from the tag's value, whatever it held.
    cut = "confidential, owner alice.tremblay@univ"
    assert read({"classification": cut, "tag:Class": cut + "ersite.example", "tag:Owner": "x"}) == {
        "classification": "<redacted>",
        "tag:Class": "<redacted>",
    }
    # An empty classification tag is kept as the probe writes it; unrelated tags are not.
    assert read({"tag:DataClassification": "", "tag:Env": "prod"}) == {"tag:DataClassification": ""}


def test_a_bundle_s_rules_are_read_from_the_end_of_its_report(tmp_path: Path) -> None:
    # `replay` read the whole report.json (122 MB for 2,000 domains, a 569 MB peak) for the
    # rules' names, a few KB at its end.
    from dataclasses import replace

    from sovscan.evidence import _report_rules
    from sovscan.model import RuleInfo, Severity
    from sovscan.report.json import render

    info = RuleInfo("own-rule", "t", Severity.HIGH, "rules/own/own-rule.yaml", "r", "m")
    scan = replace(make_scan(), rules={"own-rule": info})
    path = tmp_path / "report.json"
    text = render(scan)
    path.write_text(text, encoding="utf-8")
    assert _report_rules(path) == json.loads(text)["rules"] != {}
    # A written-otherwise report (compact, or a key inside a string) is read whole.
    document = json.loads(text)
    document["notices"] = ['\n  "rules": {"x": 1}']
    path.write_text(json.dumps(document), encoding="utf-8")
    assert _report_rules(path) == document["rules"]
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    assert _report_rules(path) == document["rules"]
