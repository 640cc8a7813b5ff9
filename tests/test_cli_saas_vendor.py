"""[[saas]] vendor through the CLI: who holds a SaaS endpoint's data, which no address says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.zone
import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import ZoneServer
from tests.report.test_json import validate

# The endpoint's address is OVH's (France): the host a US vendor rents, as a DPO found.
ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
app IN A 51.91.20.20
"""
INSTITUTION = """[institution]
name = "Université Exemple"
home = "FR"
sector = "public"

[[saas]]
name = "EdTech proctoring"
url = "https://app.edtech.example/login"
classification = "personal"
"""
VENDOR = """vendor = "EdTech Inc."
vendor_jurisdictions = ["US"]
vendor_basis = "contract s. 12; vendor's 10-K 2025"
"""
ENDPOINT = "saas:app.edtech.example"


@pytest.fixture(scope="module")
def server() -> Iterator[ZoneServer]:
    with ZoneServer([dns.zone.from_text(ZONE, origin="edtech.example")]) as running:
        yield running


def scan(tmp_path: Path, server: ZoneServer, inventory: str) -> tuple[dict[str, Any], str]:
    path = tmp_path / "sovscan.toml"
    path.write_text(inventory, encoding="utf-8")
    args = ["scan", "-c", str(path), "--nameserver", f"{server.host}:{server.port}"]
    result = CliRunner().invoke(
        cli, [*args, "--no-store", "--format", "json", "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    validate(document)
    (status,) = [
        f["status"]
        for f in document["findings"]
        if f["asset_id"] == ENDPOINT and f["rule_id"] == "foreign-law-reach"
    ]
    return document, status


def test_a_vendor_renting_a_host_at_home_is_not_ok(tmp_path: Path, server: ZoneServer) -> None:
    document, status = scan(tmp_path, server, INSTITUTION)
    assert status == "unknown"  # it was ok: the host's home taken for the vendor's
    (asset,) = [a for a in document["assets"] if a["id"] == ENDPOINT]
    assert asset["control"]["confidence"] == "low"
    assert asset["control"]["evidence"][-1]["source"] == "resolve:saas-vendor"


def test_a_declared_foreign_vendor_is_a_risk(tmp_path: Path, server: ZoneServer) -> None:
    document, status = scan(tmp_path, server, INSTITUTION + VENDOR)
    assert status == "risk"
    (asset,) = [a for a in document["assets"] if a["id"] == ENDPOINT]
    control = asset["control"]
    assert control["operator"] == "EdTech Inc." and control["method"] == "declared"
    assert control["jurisdictions"] == ["US", "FR", "EU"]
    assert "us-cloud-act" in control["laws"]
    assert control["evidence"][0]["detail"] == (
        "the institution declares the vendor EdTech Inc. (parent unknown), jurisdictions US: "
        "contract s. 12; vendor's 10-K 2025"
    )


def test_a_declared_vendor_at_home_on_a_host_at_home_is_ok(
    tmp_path: Path, server: ZoneServer
) -> None:
    french = VENDOR.replace('["US"]', '["FR", "EU"]')
    _, status = scan(tmp_path, server, INSTITUTION + french)
    assert status == "ok"


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        (
            'vendor_jurisdictions = ["US"]\n',
            (
                "saas[0].vendor_jurisdictions: given without vendor; add the vendor's name, or "
                "remove it"
            ),
        ),
        (
            'vendor = "EdTech Inc."\nvendor_basis = "contract"\n',
            (
                "saas[0].vendor_jurisdictions: missing; it is required: the ISO 3166 codes of the "
                "vendor's and its parent's homes, e.g. ['CA-QC', 'CA']"
            ),
        ),
        (
            'vendor = "EdTech Inc."\nvendor_jurisdictions = ["US"]\n',
            "saas[0].vendor_basis: missing",
        ),
        ('vendor = "EdTech Inc."\nvendor_jurisdictions = []\nvendor_basis = "c"\n', "a non-empty"),
        (
            'vendor = "EdTech Inc."\nvendor_jurisdictions = ["USA"]\nvendor_basis = "c"\n',
            "saas[0].vendor_jurisdictions[0]",
        ),
    ],
)
def test_a_bad_vendor_declaration_is_one_line(tmp_path: Path, lines: str, error: str) -> None:
    path = tmp_path / "sovscan.toml"
    path.write_text(INSTITUTION + lines, encoding="utf-8")
    result = CliRunner().invoke(cli, ["scan", "-c", str(path), "--no-store"])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"sovscan: error: {path}: ") and error in line, line


def test_the_example_inventory_s_vendor_lines_are_valid(tmp_path: Path) -> None:
    from sovscan.config import load_config

    example = Path(__file__).resolve().parent.parent / "sovscan.example.toml"
    lines = example.read_text(encoding="utf-8").splitlines()
    keys = ("# data_location", "# vendor")
    uncommented = [line[2:] if line.startswith(keys) else line for line in lines]
    assert sum(line.startswith("vendor") for line in uncommented) == 4
    path = tmp_path / "sovscan.toml"
    path.write_text("\n".join(uncommented) + "\n", encoding="utf-8")
    vendor = load_config(path).saas[0].vendor
    assert vendor is not None and vendor.jurisdictions == ("CA-ON", "CA")
    assert vendor.parent == "Example Holdings Inc."
