"""The wheel ships the rules, the data, the schema and the demo, so an installed sovscan works."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_contains_rules_data_schema_and_demo(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("sovscan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    rule_files = {
        f"sovscan/_rules/{p.relative_to(REPO / 'rules').as_posix()}"
        for p in (REPO / "rules").rglob("*")
        if p.is_file()
    }
    assert rule_files and rule_files <= names
    for needed in (
        "sovscan/_rules/frameworks.yaml",
        "sovscan/schemas/scan-1.json",
        "sovscan/data/ipindex.npz",
        "sovscan/data/SOURCES.md",
        "sovscan/demo/sovscan.toml",
        "sovscan/py.typed",
    ):
        assert needed in names, needed
    assert any(n.startswith("sovscan/demo/zones/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
