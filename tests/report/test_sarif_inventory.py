"""`sovscan scan --format sarif`: each result points at the inventory line that brought its asset
into the scan, by a path relative to the working directory (a scan of school domains on the
loopback DNS server, and of a SaaS endpoint at a documentation address: nothing leaves
127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import ZoneServer
from tests.report.test_sarif_schema import validate
from tests.test_cli_domains import complete_server  # noqa: F401 - the fixture, reused

INVENTORY = """# Schools: a comment naming school2.example declares nothing
[institution]
name = "Ministry"
home = "CA-QC"

[dns]
domains = [
  "school10.example",  # before school1.example, whose name is a prefix of it
  "School1.Example.",
]

[[saas]]
name = "LMS"
url = "https://192.0.2.10/"
classification = "personal"
"""


def scan(folder: Path, config: str, server: ZoneServer) -> tuple[dict[str, Any], str, str]:
    """Scan from `folder` (the working directory); the SARIF log, its text and stderr."""
    result = CliRunner().invoke(
        cli,
        [
            "scan",
            "-c",
            config,
            "--format",
            "sarif",
            "--output",
            "report.sarif",
            "--nameserver",
            f"{server.host}:{server.port}",
            "--no-store",
            "--fail-on",
            "never",
        ],
    )
    assert result.exit_code == 0, result.stderr
    text = (folder / "report.sarif").read_text(encoding="utf-8")
    return json.loads(text), text, result.stderr


def line_of(needle: str) -> int:
    (line,) = [n for n, text in enumerate(INVENTORY.splitlines(), 1) if needle in text]
    return line


@pytest.mark.parametrize("absolute", [False, True])
def test_results_point_at_the_inventory_lines(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    complete_server: ZoneServer,  # noqa: F811
    absolute: bool,
) -> None:
    repo = tmp_path / "checkout"
    (repo / "audit").mkdir(parents=True)
    (repo / "audit" / "sovscan.toml").write_text(INVENTORY, encoding="utf-8")
    monkeypatch.chdir(repo)
    config = str(repo / "audit" / "sovscan.toml") if absolute else "audit/sovscan.toml"
    log, text, _ = scan(repo, config, complete_server)
    validate(text)
    assert str(tmp_path) not in text and str(Path.home()) not in text
    expected = {
        "dns:school10.example": line_of('"school10.example"'),
        "dns:school1.example": line_of('"School1.Example."'),
        "saas:192.0.2.10": line_of("[[saas]]"),
    }
    results = log["runs"][0]["results"]
    seen = set()
    for result in results:
        (location,) = result["locations"]
        (logical,) = location["logicalLocations"]
        asset = logical["fullyQualifiedName"]
        unit = next(u for u in expected if asset == u or asset.startswith(u + ":"))
        seen.add(unit)
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {
            "uri": "audit/sovscan.toml",
            "uriBaseId": "%SRCROOT%",
        }
        assert physical["region"]["startLine"] == expected[unit], asset
    # the risky mail hosts of both schools, and the endpoint nobody could place
    assert seen == set(expected)
    fingerprints = [r["partialFingerprints"]["primaryLocationLineHash"] for r in results]
    assert len(set(fingerprints)) == len(results) > 3


def test_an_inventory_outside_the_working_directory_is_not_named_by_its_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    complete_server: ZoneServer,  # noqa: F811
) -> None:
    (tmp_path / "sovscan.toml").write_text(INVENTORY, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    log, text, stderr = scan(elsewhere, "../sovscan.toml", complete_server)
    validate(text)
    assert "sovscan.toml" not in text and str(tmp_path) not in text
    assert "not inside the working directory" in stderr
    for result in log["runs"][0]["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("rules/") and uri.endswith(".yaml")
