"""What a probe cannot see is a Gap: every report lists it, and the exit code says partial."""

from __future__ import annotations

import json
from pathlib import Path

import dns.zone
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import Fault, ZoneServer

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
@ IN TXT "MS=ms1234"
www IN A 3.96.0.10
"""


def test_servfail_becomes_a_gap_and_exit_3(tmp_path: Path) -> None:
    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n'
        '[dns]\ndomains = ["ok.example", "broken.example"]\n',
        encoding="utf-8",
    )
    zones = [dns.zone.from_text(ZONE, origin=o) for o in ("ok.example", "broken.example")]
    with ZoneServer(zones, faults=(Fault("broken.example", "servfail"),)) as server:
        runner = CliRunner()
        base = [
            "scan",
            "-c",
            str(inventory),
            "--nameserver",
            f"{server.host}:{server.port}",
            "--no-store",
            "--fail-on",
            "never",
        ]
        result = runner.invoke(cli, [*base, "--format", "json"])
        table = runner.invoke(cli, [*base, "--format", "table"])
        verbose = runner.invoke(cli, ["-v", *base, "--format", "json"])
    assert result.exit_code == 3, result.stderr
    document = json.loads(result.stdout)
    assert document["complete"] is False and document["score"]["complete"] is False
    scopes = [gap["scope"] for gap in document["gaps"]]
    assert any(scope.startswith("dns:broken.example") for scope in scopes)
    assert all("SERVFAIL" in gap["reason"] for gap in document["gaps"])
    # the domain that answered is still fully reported
    assert any(a["attributes"].get("domain") == "ok.example" for a in document["assets"])
    # nothing of the broken domain is reported at all, least of all as ok
    assert not any(a["attributes"].get("domain") == "broken.example" for a in document["assets"])
    assert table.exit_code == 3
    assert "PARTIAL" in table.stdout and "dns:broken.example" in table.stdout
    assert "could not see dns:broken.example" in result.stderr
    # With -v the summary comes last, after the warnings it sums up (a log's tail reads right).
    lines = verbose.stderr.splitlines()
    assert lines[-1].startswith("sovscan: INFO: ") and lines[-1].endswith("gaps; exit 3")
    assert any("could not see dns:broken.example" in line for line in lines[:-1])
