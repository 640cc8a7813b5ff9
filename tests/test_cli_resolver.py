"""Which DNS servers answered a scan: in its JSON report, its evidence bundle, its headers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dns.resolver
import dns.zone
import pytest
from click.testing import CliRunner

from sovscan import scan as scan_module
from sovscan.cli import cli
from sovscan.config import ScanConfig, load_config
from sovscan.dnsserver import ZoneServer
from sovscan.evidence import EvidenceError, load_observations
from sovscan.model import DnsResolver
from sovscan.scan import resolver_record
from tests.report.test_json import validate

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
www IN A 3.96.0.10
"""
INVENTORY = '[institution]\nname = "U"\nhome = "CA-QC"\n[dns]\ndomains = ["uni.example"]\n'
RESOLV_CONF = """# written by the machine's network manager
search corp.example internal.example
domain corp.example
nameserver 127.0.0.1
nameserver 2001:db8::53
options ndots:2 timeout:1 rotate
"""


@pytest.fixture(scope="module")
def server() -> Iterator[ZoneServer]:
    with ZoneServer([dns.zone.from_text(ZONE, origin="uni.example")]) as running:
        yield running


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "sovscan.toml"
    path.write_text(INVENTORY, encoding="utf-8")
    return path


def test_the_given_nameserver_is_in_the_report_the_bundle_and_the_replay(
    tmp_path: Path, server: ZoneServer, inventory: Path
) -> None:
    where = f"{server.host}:{server.port}"
    bundle = tmp_path / "evidence"
    base = ["scan", "-c", str(inventory), "--no-store", "--fail-on", "never"]
    runner = CliRunner()
    markdown = runner.invoke(
        cli, [*base, "--nameserver", where, "--format", "markdown", "--evidence", str(bundle)]
    )
    streamed = runner.invoke(cli, [*base, "--nameserver", where, "--format", "json"])
    assert markdown.exit_code == streamed.exit_code == 0, markdown.stderr
    recorded = {"servers": [where], "source": "given", "given_by": "--nameserver"}
    document = json.loads(streamed.stdout)
    validate(document)
    assert document["dns_resolver"] == recorded
    observations = json.loads((bundle / "observations.json").read_text(encoding="utf-8"))
    assert observations["dns_resolver"] == recorded
    report = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    assert report["dns_resolver"] == recorded
    header = f"- DNS answers from {where} (given by --nameserver)"
    assert header in markdown.stdout.splitlines()[:6]
    assert runner.invoke(cli, ["verify", str(bundle)]).exit_code == 0
    # A replay asks no server: it says which ones answered the observations it evaluates.
    replayed = runner.invoke(cli, ["replay", str(bundle), "--format", "markdown"])
    assert replayed.exit_code == 0, replayed.stderr
    assert header in replayed.stdout.splitlines()
    replayed_json = runner.invoke(cli, ["replay", str(bundle), "--format", "json"])
    assert json.loads(replayed_json.stdout)["dns_resolver"] == recorded


def test_a_nameserver_from_the_environment_says_so(
    server: ZoneServer, inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A value left in a CI job's environment is worth seeing in the report.
    where = f"{server.host}:{server.port}"
    monkeypatch.setenv("SOVSCAN_NAMESERVER", where)
    base = ["scan", "-c", str(inventory), "--no-store", "--fail-on", "never"]
    html = CliRunner().invoke(cli, [*base, "--format", "html"])
    table = CliRunner().invoke(cli, [*base, "--format", "table"])
    csv = CliRunner().invoke(cli, [*base, "--format", "csv"])
    assert html.exit_code == table.exit_code == csv.exit_code == 0, html.stderr
    said = f"DNS answers from {where} (given by SOVSCAN_NAMESERVER)"
    assert f'<span id="dns-resolver">{said}</span>' in html.stdout
    assert (
        f"<tr><th>DNS resolver</th><td><code>{where} (given by SOVSCAN_NAMESERVER)" in html.stdout
    )
    assert said in table.stdout.splitlines()[:6]
    assert said in csv.stdout.splitlines()[1]  # the scan row's provenance


def test_the_system_s_resolvers_are_recorded_as_such_and_nothing_else_of_resolv_conf(
    tmp_path: Path, server: ZoneServer, inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(RESOLV_CONF, encoding="utf-8")
    system = dns.resolver.Resolver(filename=str(conf))
    assert resolver_record(system, "system") == DnsResolver(
        ("127.0.0.1:53", "[2001:db8::53]:53"), "system"
    )
    # Through the CLI, without --nameserver: the system's resolver, here pointed at the
    # loopback server (the suite reaches nothing else).

    def loopback_system(config: ScanConfig) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(filename=str(conf))
        resolver.nameservers = [server.host]
        resolver.port = server.port
        return resolver

    monkeypatch.setattr(scan_module, "system_resolver", loopback_system)
    monkeypatch.delenv("SOVSCAN_NAMESERVER", raising=False)
    bundle = tmp_path / "evidence"
    result = CliRunner().invoke(
        cli,
        ["scan", "-c", str(inventory), "--no-store", "--fail-on", "never", "--format", "json",
         "--evidence", str(bundle)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    recorded = {"servers": [f"{server.host}:{server.port}"], "source": "system", "given_by": None}
    document = json.loads(result.stdout)
    validate(document)
    assert document["dns_resolver"] == recorded
    for name in ("observations.json", "report.json", "policy.json"):
        text = (bundle / name).read_text(encoding="utf-8")
        assert "corp.example" not in text and "ndots" not in text and "rotate" not in text
    observations = json.loads((bundle / "observations.json").read_text(encoding="utf-8"))
    assert observations["dns_resolver"] == recorded


def test_a_scan_that_asks_no_dns_question_records_no_resolver(inventory: Path) -> None:
    # An AWS-only inventory: no resolver is made, none is recorded (the field is absent).
    config = replace(load_config(inventory), domains=(), saas=())
    assert scan_module.system_resolver(config) is None


@pytest.mark.parametrize(
    "planted",
    [
        "not an object",
        {"servers": ["127.0.0.1:53\x1b[31m"], "source": "given", "given_by": "--nameserver"},
        {"servers": ["127.0.0.1:53"], "source": "dhcp", "given_by": None},
        {"servers": "127.0.0.1:53", "source": "system", "given_by": None},
    ],
)
def test_a_bundle_s_resolver_is_read_only_as_recorded(
    tmp_path: Path, server: ZoneServer, inventory: Path, planted: object
) -> None:
    # Reports print it: a bundle rewritten with its manifest (what only --manifest-sha256
    # catches) still cannot plant control characters or another meaning there.
    bundle = tmp_path / "evidence"
    where = f"{server.host}:{server.port}"
    done = CliRunner().invoke(
        cli,
        ["scan", "-c", str(inventory), "--no-store", "--fail-on", "never", "--nameserver",
         where, "--format", "json", "--evidence", str(bundle), "-o", str(tmp_path / "r.json")],
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    path = bundle / "observations.json"
    observations = json.loads(path.read_text(encoding="utf-8"))
    observations["dns_resolver"] = planted
    path.write_text(json.dumps(observations), encoding="utf-8")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["observations.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(EvidenceError, match="malformed observations"):
        load_observations(bundle)
