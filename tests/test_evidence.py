"""Evidence bundles: written all or nothing, verified against their manifest, read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sovscan.evidence import (
    EvidenceError,
    bundled_rule_dirs,
    load_observations,
    verify_bundle,
    write_bundle,
)
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


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="cannot read"):
        verify_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(EvidenceError, match="expected a JSON object"):
        verify_bundle(tmp_path)


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
