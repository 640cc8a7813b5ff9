"""What a probe cannot see is a Gap: every report lists it, and the exit code says partial."""

from __future__ import annotations

import json
from pathlib import Path

import dns.zone
import pytest
from click.testing import CliRunner, Result

from sovscan.cli import cli
from sovscan.dnsserver import Fault, ZoneServer

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
@ IN TXT "MS=ms1234"
www IN A 3.96.0.10
"""


def _two_domains(folder: Path) -> Path:
    """An inventory of ok.example and broken.example (which `_one_broken_server` SERVFAILs)."""
    inventory = folder / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n'
        '[dns]\ndomains = ["ok.example", "broken.example"]\n',
        encoding="utf-8",
    )
    return inventory


def _one_broken_server() -> ZoneServer:
    zones = [dns.zone.from_text(ZONE, origin=o) for o in ("ok.example", "broken.example")]
    return ZoneServer(zones, faults=(Fault("broken.example", "servfail"),))


def test_servfail_becomes_a_gap_and_exit_3(tmp_path: Path) -> None:
    inventory = _two_domains(tmp_path)
    with _one_broken_server() as server:
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
    assert lines[-1].startswith("sovscan: info: ") and lines[-1].endswith("gaps; exit 3")
    assert any("could not see dns:broken.example" in line for line in lines[:-1])


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize("output_format", ["table", "json"])  # held, and streamed
def test_quiet_says_in_one_line_why_a_scan_did_not_exit_0(
    tmp_path: Path, output_format: str
) -> None:
    # For cron, -q is silence on success; a partial scan or a risk still leaves one line in the
    # log saying why the exit code is not 0, as an error does.
    inventory = tmp_path / "sovscan.toml"
    zones = [dns.zone.from_text(ZONE, origin=o) for o in ("ok.example", "broken.example")]
    with ZoneServer(zones, faults=(Fault("broken.example", "servfail"),)) as server:

        def run(*flags: str, fail_on: str, domains: str = "ok.example, broken.example") -> Result:
            inventory.write_text(
                '[institution]\nname = "U"\nhome = "CA-QC"\n'
                f"[dns]\ndomains = {json.dumps(domains.split(', '))}\n",
                encoding="utf-8",
            )
            return CliRunner().invoke(
                cli,
                [*flags, "scan", "-c", str(inventory), "--nameserver",
                 f"{server.host}:{server.port}", "--no-store", "--format", output_format,
                 "--output", str(tmp_path / "report"), "--fail-on", fail_on],
            )  # fmt: skip

        partial = run("-q", fail_on="never")
        partial_json = run("-q", "--log-format", "json", fail_on="never")
        risky = run("-q", fail_on="low", domains="ok.example")
        risky_default = run(fail_on="low", domains="ok.example")
        clean = run("-q", fail_on="never", domains="ok.example")
    assert partial.exit_code == 3
    (line,) = partial.stderr.splitlines()
    assert line.startswith("sovscan: warning: partial scan, exit 3: ")
    assert "could not be seen (dns:broken.example" in line and "SERVFAIL" in line
    (record,) = [json.loads(line) for line in partial_json.stderr.splitlines()]
    assert record["level"] == "warning" and "partial scan, exit 3" in record["message"]
    assert risky.exit_code == 1
    (line,) = risky.stderr.splitlines()
    assert line.startswith("sovscan: warning: exit 1: ")
    assert "at or above --fail-on low" in line
    # Without -q too: a journal must say why a run failed, in its last line.
    assert risky_default.exit_code == 1
    last = risky_default.stderr.splitlines()[-1]
    assert "exit 1: " in last and "unwaived risk finding(s) at or above --fail-on low" in last
    assert clean.exit_code == 0 and clean.stderr == ""  # success stays silent


@pytest.mark.usefixtures("logging_restored")
def test_warnings_have_one_prefix_whatever_the_verbosity(tmp_path: Path) -> None:
    # -q said "sovscan: warning: partial scan, exit 3: ..." where the default said
    # "sovscan: WARNING: could not see ..." and no reason at all: a watcher grepping a journal
    # for one form missed the other. Now every level is written in lowercase, as in the JSON
    # lines, and the reason for exit 1 or 3 is the same line in every mode.
    inventory = _two_domains(tmp_path)
    with _one_broken_server() as server:
        args = ["scan", "-c", str(inventory), "--nameserver", f"{server.host}:{server.port}",
                "--no-store", "--format", "json", "-o", str(tmp_path / "report")]  # fmt: skip
        runs = {flag: CliRunner().invoke(cli, [*flag.split(), *args]) for flag in ("-q", "", "-v")}
        bad = CliRunner().invoke(cli, ["-q", *args[:-2], "-o", str(inventory)])
    quiet, default, verbose = (runs[flag] for flag in ("-q", "", "-v"))
    assert quiet.exit_code == default.exit_code == verbose.exit_code == 3
    (reason,) = quiet.stderr.splitlines()  # -q stays quiet: that one line only
    assert reason.startswith("sovscan: warning: partial scan, exit 3: 1 scope(s) could not be")
    assert reason in default.stderr.splitlines() and reason in verbose.stderr.splitlines()
    assert default.stderr.splitlines()[-1] == reason  # a journal's last line says why
    for run in (quiet, default, verbose):
        prefixes = {line.split(": ")[1] for line in run.stderr.splitlines()}
        assert prefixes <= {"warning", "info"} and prefixes == {p.lower() for p in prefixes}
    assert "sovscan: warning: could not see dns:broken.example" in default.stderr
    assert bad.exit_code == 2 and bad.stderr.startswith("sovscan: error: ")


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize("output_format", ["table", "json"])  # held, and streamed
def test_debug_logs_say_where_a_scan_is(tmp_path: Path, output_format: str) -> None:
    # -vv gave no progress at all off a terminal: a long cron scan's log could not say which
    # domain or account it was on, or which one failed first.
    inventory = _two_domains(tmp_path)
    with _one_broken_server() as server:
        nameserver = f"{server.host}:{server.port}"
        args = ["scan", "-c", str(inventory), "--nameserver", nameserver, "--no-store",
                "--format", output_format, "-o", str(tmp_path / "report")]  # fmt: skip
        debug = CliRunner().invoke(cli, ["-vv", *args])
        plain = CliRunner().invoke(cli, ["-v", *args])
    assert debug.exit_code == plain.exit_code == 3
    lines = debug.stderr.splitlines()
    assert "sovscan: debug: probing dns" in lines
    (ok,) = [line for line in lines if line.startswith("sovscan: debug: probe dns: dns:ok.")]
    assert ok.startswith("sovscan: debug: probe dns: dns:ok.example: ") and ok.endswith(" assets")
    assert any(
        line.startswith("sovscan: debug: probe dns: could not see dns:broken.example")
        and "SERVFAIL" in line
        for line in lines
    )
    assert "sovscan: debug: " not in plain.stderr


ALIASED = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
www IN CNAME foo.provider.example.
mail IN CNAME gone.ok.example.
"""


@pytest.mark.parametrize("in_flight", [256, 0])  # the bulk path, and one question at a time
def test_a_cname_end_the_nameserver_refuses_makes_the_scan_partial(
    tmp_path: Path, in_flight: int
) -> None:
    # --nameserver given an authoritative-only server: it answers www with the CNAME alone and
    # refuses provider.example. Where www is could not be seen: exit 3, not a complete scan.
    # mail's alias leads to a name that does not exist (NXDOMAIN): known, and no gap.
    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n[dns]\ndomains = ["alias.example"]\n'
        f"[limits]\ndns_in_flight = {in_flight}\n",
        encoding="utf-8",
    )
    zones = [
        dns.zone.from_text(ALIASED, origin="alias.example"),
        dns.zone.from_text(ZONE, origin="ok.example"),
    ]
    with ZoneServer(zones) as server:
        result = CliRunner().invoke(
            cli,
            ["scan", "-c", str(inventory), "--nameserver", f"{server.host}:{server.port}",
             "--no-store", "--format", "json", "--fail-on", "never"],
        )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    document = json.loads(result.stdout)
    reason = "CNAME target foo.provider.example. could not be resolved: REFUSED"
    assert document["gaps"] == [
        {"scope": "dns:www.alias.example:A", "reason": reason},
        {"scope": "dns:www.alias.example:AAAA", "reason": reason},
    ]
    assets = {asset["id"]: asset for asset in document["assets"]}
    www = assets["dns:alias.example:host:www.alias.example"]
    assert www["attributes"]["cname_chain"] == ["foo.provider.example"]
    assert "addresses" not in www["attributes"]  # unknown, not "no address"
    assert all(reason in evidence["detail"] for evidence in www["evidence"])
    mail = assets["dns:alias.example:host:mail.alias.example"]["attributes"]
    assert (mail["cname_chain"], mail["addresses"]) == (["gone.ok.example"], [])
    assert "could not see dns:www.alias.example:A" in result.stderr


DELEGATING = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
lame IN NS ns1.elsewhere.example.
lame IN NS ns2.elsewhere.example.
"""


@pytest.mark.parametrize("in_flight", [256, 0])  # the bulk path, and one question at a time
@pytest.mark.parametrize(
    "domains", [["lame.parent.example"], ["ok.example", "lame.parent.example"]]
)
def test_a_domain_the_nameserver_refers_away_makes_the_scan_partial(
    tmp_path: Path, in_flight: int, domains: list[str]
) -> None:
    # The auditor's trial: --nameserver was a server that does not recurse; it holds the parent
    # zone and answers for a delegated domain with a referral (no AA, NS, no SOA). That was read
    # as "no such record": no asset, no finding, no gap, "(complete)", exit 0. It is a gap.
    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n'
        f"[dns]\ndomains = {json.dumps(domains)}\n[limits]\ndns_in_flight = {in_flight}\n",
        encoding="utf-8",
    )
    zones = [
        dns.zone.from_text(ZONE, origin="ok.example"),
        dns.zone.from_text(DELEGATING, origin="parent.example"),
    ]
    with ZoneServer(zones) as server:
        where = f"{server.host}:{server.port}"
        base = ["scan", "-c", str(inventory), "--nameserver", where, "--no-store",
                "--fail-on", "never"]  # fmt: skip
        result = CliRunner().invoke(cli, [*base, "--format", "json"])
        table = CliRunner().invoke(cli, [*base, "--format", "table"])
    assert result.exit_code == table.exit_code == 3, result.stderr
    document = json.loads(result.stdout)
    assert document["complete"] is False and document["score"]["complete"] is False
    assert document["gaps"] == [
        {
            "scope": "dns:lame.parent.example",
            "reason": "SOA: referral to ns1.elsewhere.example, ns2.elsewhere.example (zone "
            f"lame.parent.example) from {where}, not an answer: the server does not recurse; "
            "give --nameserver a recursive resolver; the domain was not probed further",
        }
    ]
    assert not any("lame.parent.example" in asset["id"] for asset in document["assets"])
    assert "PARTIAL: 1 scope(s) could not be seen" in table.stdout
    assert "could not see dns:lame.parent.example: SOA: referral to" in result.stderr
    assert document["dns_resolver"] == {
        "servers": [where],
        "source": "given",
        "given_by": "--nameserver",
    }
    if "ok.example" in domains:
        # The domain the server holds is seen whole: its NODATA (no AAAA) and NXDOMAIN (no
        # mail host) are answers, as they were.
        assets = {asset["id"]: asset for asset in document["assets"]}
        www = assets["dns:ok.example:host:www.ok.example"]["attributes"]
        assert www["addresses"] == ["3.96.0.10"]
        assert "dns:ok.example:host:mail.ok.example" not in assets
        assert "dns:ok.example:txt:ms" in assets
