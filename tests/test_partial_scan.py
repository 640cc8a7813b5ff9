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


# Completeness per unit: a provincial audit of many bodies' domains is never complete (some
# domain always fails), yet each domain seen whole tells what it no longer has.


def _body(mx: str, extra: str = "") -> str:
    return (
        "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\n"
        f"ns1 IN A 192.0.2.53\n@ IN MX 10 {mx}\n{extra}"
    )


MAIL_HOSTS = """$TTL 300
@ SOA ns1 hostmaster 1 3600 300 2419200 300
@ NS ns1
ns1 A 192.0.2.53
a-example.mail.protection A 40.107.22.49
b-example.mail.protection A 40.107.22.50
"""
QUEBEC_ISP = """$TTL 300
@ SOA ns1 hostmaster 1 3600 300 2419200 300
@ NS ns1
ns1 A 192.0.2.53
mx A 104.36.24.25
"""
BODIES = """[institution]
name = "Province"
home = "CA-QC"
[dns]
domains = ["a.example", "b.example"]
[[networks]]
name = "ISP mail"
prefixes = ["104.36.24.0/24"]
operator = "Vidéotron"
jurisdictions = ["CA-QC", "CA"]
place = "CA-QC"
basis = "hosting contract, schedule 1"
"""
OLD_MX = "dns:b.example:mx:b-example.mail.protection.outlook.com"
WWW_B = "dns:b.example:host:www.b.example"


def _bodies_server(b_moved: bool, a_broken: bool) -> ZoneServer:
    """a.example and b.example on Microsoft 365; b moved to a Quebec ISP (and put its site on
    AWS in Virginia: a new risk); a answering SERVFAIL."""
    b_zone = (
        _body("mx.isp.example.", "www IN A 3.80.0.10")
        if b_moved
        else _body("b-example.mail.protection.outlook.com.")
    )
    zones = [
        dns.zone.from_text(_body("a-example.mail.protection.outlook.com."), origin="a.example"),
        dns.zone.from_text(b_zone, origin="b.example"),
        dns.zone.from_text(MAIL_HOSTS, origin="outlook.com"),
        dns.zone.from_text(QUEBEC_ISP, origin="isp.example"),
    ]
    faults = (Fault("a.example", "servfail"),) if a_broken else ()
    return ZoneServer(zones, faults=faults)


@pytest.mark.parametrize("output_format", ["table", "json"])  # held, and streamed
def test_a_domain_seen_whole_resolves_while_a_broken_one_is_unseen(
    tmp_path: Path, output_format: str
) -> None:
    from sovscan.history import diff_scans, list_scans, new_risk_keys, verify_store
    from sovscan.model import finding_key

    inventory = tmp_path / "sovscan.toml"
    inventory.write_text(BODIES, encoding="utf-8")
    store = tmp_path / "history.sqlite"

    def scan(server: ZoneServer) -> Result:
        args = ["scan", "-c", str(inventory), "--nameserver", f"{server.host}:{server.port}",
                "--store", str(store), "--fail-on-new", "--format", output_format,
                "-o", str(tmp_path / "report")]  # fmt: skip
        return CliRunner().invoke(cli, args)

    with _bodies_server(b_moved=False, a_broken=False) as server:
        first = scan(server)
    assert first.exit_code == 1, first.output  # the first scan: every risk is new
    with _bodies_server(b_moved=True, a_broken=True) as server:
        second = scan(server)
    assert second.exit_code == 3, second.output
    # Exit 3 wins, and says what it hides of exit 1.
    assert "it also holds 1 unwaived new risk finding(s) at or above --fail-on high" in (
        second.stderr
    )
    scans = list_scans(store)
    assert [s.incomplete_units for s in scans] == [(), ("dns:a.example",)]
    # --fail-on-new counts b's new site alone: a's risks were not seen, not found gone or new.
    www = finding_key("foreign-law-reach", WWW_B)
    assert new_risk_keys(store, scans[1].id) == {www}
    diff = diff_scans(store)
    findings = {(c.asset_id, c.rule_id): c for c in diff.findings}
    old_mx = findings[(OLD_MX, "control-plane-foreign-provider")]
    assert (old_mx.change, old_mx.old_status, old_mx.new_status, old_mx.reason) == (
        "resolved",
        "risk",
        None,
        None,
    )
    unseen = {(c.change, c.reason) for c in diff.findings if c.asset_id.startswith("dns:a.")}
    assert unseen == {
        ("unseen", "not seen by the newer scan, which is partial: a gap in domain a.example")
    }
    assert {c.key for c in diff.new_risks} == {www}
    assets = {a.asset_id: a.change for a in diff.assets}
    assert assets[OLD_MX] == "removed" and assets["dns:b.example:mx:mx.isp.example"] == "new"
    assert {change for asset, change in assets.items() if asset.startswith("dns:a.")} == {"unseen"}
    shown = CliRunner().invoke(cli, ["diff", "--store", str(store)])
    assert "The newer scan is partial: 1 unit had gaps (domain a.example)" in shown.stdout
    as_json = json.loads(
        CliRunner().invoke(cli, ["diff", "--store", str(store), "--format", "json"]).stdout
    )
    assert as_json["new"]["incomplete_units"] == ["dns:a.example"]
    # a answers again: its risks are as the first scan told them, b's site was told by the
    # second: nothing is new (compared with the last complete scan, b's site would be).
    with _bodies_server(b_moved=True, a_broken=False) as server:
        third = scan(server)
    assert third.exit_code == 0, third.output
    assert diff_scans(store).findings == ()
    assert verify_store(store).problem is None
