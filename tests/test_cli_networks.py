"""[[networks]] through the CLI: a scan against a loopback DNS server, its bundle, and a replay."""

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

# www is in a block announced by an AS only the AS name table knows: without a declaration
# its operator's home is unknown, so foreign-law-reach cannot say ok.
ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 104.36.24.53
www IN A 104.36.24.10
"""
INSTITUTION = '[institution]\nname = "U"\nhome = "CA-QC"\n[dns]\ndomains = ["uni.example"]\n'
NETWORKS = """
[[networks]]
name = "Campus data centre"
prefixes = ["104.36.24.0/24", "2001:db8:100::/48"]
operator = "Université Exemple"
jurisdictions = ["CA-QC", "CA"]
place = "CA-QC"
basis = "asset register 2026-09, data centre lease"

[[networks]]
name = "Cloud block"
prefixes = ["3.96.0.0/16"]
operator = "Université Exemple"
jurisdictions = ["CA-QC", "CA"]
basis = "memo 7"
"""
WWW = "dns:uni.example:host:www.uni.example"
DECLARED = (
    "104.36.24.10 in 104.36.24.0/24, declared in the inventory as 'Campus data centre' (basis: "
    "asset register 2026-09, data centre lease): operator Université Exemple (parent unknown); "
    "jurisdictions "
    "CA-QC, CA"
)


@pytest.fixture(scope="module")
def server() -> Iterator[ZoneServer]:
    with ZoneServer([dns.zone.from_text(ZONE, origin="uni.example")]) as running:
        yield running


def scan(tmp_path: Path, server: ZoneServer, inventory: str, *extra: str) -> dict[str, Any]:
    path = tmp_path / "sovscan.toml"
    path.write_text(inventory, encoding="utf-8")
    args = ["scan", "-c", str(path), "--nameserver", f"{server.host}:{server.port}"]
    result = CliRunner().invoke(
        cli, [*args, "--no-store", "--format", "json", "--fail-on", "never", *extra]
    )
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    validate(document)
    return document


def www(document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    (asset,) = [a for a in document["assets"] if a["id"] == WWW]
    (status,) = [
        f["status"]
        for f in document["findings"]
        if f["asset_id"] == WWW and f["rule_id"] == "foreign-law-reach"
    ]
    return asset, status


@pytest.mark.parametrize("bundle", [False, True], ids=["streamed", "held"])
def test_a_host_in_a_declared_network_is_judged(
    tmp_path: Path, server: ZoneServer, bundle: bool
) -> None:
    extra = ("--evidence", str(tmp_path / "evidence")) if bundle else ()
    asset, status = www(scan(tmp_path, server, INSTITUTION + NETWORKS, *extra))
    control = asset["control"]
    assert (control["operator"], control["method"], control["confidence"]) == (
        "Université Exemple",
        "declared",
        "medium",
    )
    assert control["jurisdictions"] == ["CA-QC", "CA"] and control["laws"] == []
    assert control["evidence"][0]["source"] == "inventory:networks"
    assert control["evidence"][0]["detail"] == DECLARED
    assert (asset["location"]["subdivision"], asset["location"]["method"]) == ("CA-QC", "declared")
    assert status == "ok"


def test_without_the_declaration_the_same_host_is_unknown(
    tmp_path: Path, server: ZoneServer
) -> None:
    asset, status = www(scan(tmp_path, server, INSTITUTION))
    assert asset["control"]["method"] == "asn-table" and asset["control"]["jurisdictions"] is None
    assert status == "unknown"


def test_a_declaration_over_a_cloud_range_is_a_notice(tmp_path: Path, server: ZoneServer) -> None:
    document = scan(tmp_path, server, INSTITUTION + NETWORKS)
    (notice,) = [n for n in document["notices"] if n.startswith("networks[")]
    assert notice.startswith("networks[1].prefixes[0] 3.96.0.0/16 (Cloud block) shares addresses")


def test_a_replay_resolves_with_the_bundled_declaration(tmp_path: Path, server: ZoneServer) -> None:
    bundle = tmp_path / "evidence"
    scanned = scan(tmp_path, server, INSTITUTION + NETWORKS, "--evidence", str(bundle))
    # The inventory the scan read is gone: the replay has only the bundle.
    (tmp_path / "sovscan.toml").unlink()
    stored = json.loads((bundle / "policy.json").read_text(encoding="utf-8"))
    assert [n["prefixes"] for n in stored["networks"]] == [
        ["104.36.24.0/24", "2001:db8:100::/48"],
        ["3.96.0.0/16"],
    ]
    result = CliRunner().invoke(cli, ["replay", str(bundle), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    replayed = json.loads(result.stdout)
    validate(replayed)
    assert www(replayed) == www(scanned)  # the same control, evidence (dated alike) and verdict
    assert www(replayed)[0]["control"]["method"] == "declared"


def test_a_bundle_with_a_bad_declaration_is_not_replayed(
    tmp_path: Path, server: ZoneServer
) -> None:
    import hashlib

    bundle = tmp_path / "evidence"
    scan(tmp_path, server, INSTITUTION + NETWORKS, "--evidence", str(bundle))
    policy = bundle / "policy.json"
    document = json.loads(policy.read_text(encoding="utf-8"))
    document["networks"][0]["prefixes"] = ["0.0.0.0/0"]
    policy.write_text(json.dumps(document), encoding="utf-8")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["policy.json"] = hashlib.sha256(policy.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = CliRunner().invoke(cli, ["replay", str(bundle), "--format", "json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().endswith(
        "networks[0].prefixes[0]: expected an IPv4 prefix of /8 or longer (one institution's "
        "address space); got '0.0.0.0/0'"
    )
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _lookup(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["lookup", "--format", "json", *args])
    return result


def test_lookup_with_the_inventory_answers_as_its_scan_does(
    tmp_path: Path, server: ZoneServer
) -> None:
    path = tmp_path / "sovscan.toml"
    path.write_text(INSTITUTION + NETWORKS, encoding="utf-8")
    scanned, _ = www(scan(tmp_path, server, INSTITUTION + NETWORKS))
    found = _lookup("104.36.24.10", "3.96.0.1", "-c", str(path))
    assert found.exit_code == 0, found.stderr
    campus, cloud = json.loads(found.stdout)["results"]
    assert campus["control"]["method"] == "declared"
    assert campus["control"]["operator"] == scanned["control"]["operator"]
    assert campus["control"]["evidence"][0]["detail"] == DECLARED
    assert campus["location"]["subdivision"] == "CA-QC"
    # A published cloud range still wins over a declaration, as in a scan.
    assert cloud["control"]["method"] == "published-ranges"
    assert cloud["control"]["jurisdictions"] == ["US"]
    # Without the inventory, the ASN table answers, as before.
    plain = _lookup("104.36.24.10")
    assert json.loads(plain.stdout)["results"][0]["control"]["method"] == "asn-table"


def test_lookup_with_a_bad_inventory_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sovscan.toml"
    path.write_text(INSTITUTION + NETWORKS.replace('basis = "memo 7"\n', ""), encoding="utf-8")
    found = _lookup("104.36.24.10", "-c", str(path))
    assert found.exit_code == 2 and found.stdout == ""
    (line,) = found.stderr.splitlines()
    assert line.startswith(f"sovscan: error: {path}: networks[1]") and "basis" in line
