"""`sovscan scan --domains FILE`: many institutions' domains in one run, through a real server."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dns.zone
import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import Fault, ZoneServer
from sovscan.history import load_document
from tests.engine.test_rules_cli import own_folder

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
@ IN MX 10 {name}-example.mail.protection.outlook.com.
@ IN TXT "MS=ms1234"
"""


@pytest.fixture
def server() -> Iterator[ZoneServer]:
    zones = [
        dns.zone.from_text(ZONE.format(name=f"school{i}"), origin=f"school{i}.example")
        for i in range(20)
    ]
    with ZoneServer(zones) as running:
        yield running


@pytest.fixture
def complete_server() -> Iterator[ZoneServer]:
    """The schools and their mail hosts' addresses: a scan with no gap."""
    outlook = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\n" + "".join(
        f"school{i}-example IN A 52.101.{i}.1\n" for i in range(20)
    )
    zones = [
        dns.zone.from_text(ZONE.format(name=f"school{i}"), origin=f"school{i}.example")
        for i in range(20)
    ]
    zones.append(dns.zone.from_text(outlook, origin="mail.protection.outlook.com"))
    with ZoneServer(zones) as running:
        yield running


def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "sovscan.toml"
    path.write_text('[institution]\nname = "Ministry"\nhome = "CA-QC"\n', encoding="utf-8")
    return path


def scan_args(tmp_path: Path, domains: Path, server: ZoneServer) -> list[str]:
    """`scan` of a domains file against the loopback server; each test adds its own flags."""
    return [
        "scan", "-c", str(inventory(tmp_path)), "--domains", str(domains),
        "--nameserver", f"{server.host}:{server.port}",
    ]  # fmt: skip


def test_domains_file_is_scanned_concurrently(tmp_path: Path, server: ZoneServer) -> None:
    domains = tmp_path / "domains.csv"
    domains.write_text(
        "domain,owner\n"
        + "".join(f"school{i}.example,board {i}\n" for i in range(20))
        + "SCHOOL3.example.,duplicate\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        [
            *scan_args(tmp_path, domains, server),
            "--concurrency",
            "8",
            "--format",
            "json",
            "--no-store",
        ],
    )
    assert result.exit_code in (0, 1, 3), result.stderr
    document = json.loads(result.stdout)
    mx_domains = {a["attributes"]["domain"] for a in document["assets"] if a["kind"] == "dns.mx"}
    assert mx_domains == {f"school{i}.example" for i in range(20)}
    mx = [a for a in document["assets"] if a["kind"] == "dns.mx"]
    assert all(a["control"]["parent"] and "Microsoft" in a["control"]["parent"] for a in mx)


def test_bad_domains_file_is_one_line(tmp_path: Path) -> None:
    domains = tmp_path / "domains.txt"
    domains.write_text("school1.example\nnot a domain!\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["scan", "-c", str(inventory(tmp_path)), "--domains", str(domains), "--no-store"]
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{domains}:2" in lines[0]


def test_progress_only_on_a_terminal(tmp_path: Path, server: ZoneServer) -> None:
    import os
    import pty
    import subprocess
    import sys

    domains = tmp_path / "domains.txt"
    domains.write_text("school1.example\nschool2.example\n", encoding="utf-8")
    command = [
        str(Path(sys.executable).parent / "sovscan"),
        *scan_args(tmp_path, domains, server),
        "--no-store",
        "--format",
        "json",
        "--fail-on",
        "never",
    ]
    piped = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert piped.returncode in (0, 3), piped.stderr
    assert "probing" not in piped.stderr  # cron and CI logs stay quiet

    leader, follower = pty.openpty()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower) as process:
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=120) in (0, 3)
    os.close(leader)
    assert b"probing dns" in seen and b"\r\x1b[K" in seen


@pytest.mark.parametrize("output_format", ["json", "csv", "table"])
def test_fail_on_new_counts_risks_the_previous_scan_did_not_have(
    tmp_path: Path, complete_server: ZoneServer, output_format: str
) -> None:
    """json and csv scans are streamed (sovscan.stream), table scans are held: both answer the
    same from the history store."""
    store = tmp_path / "history.sqlite"

    def scan(count: int, *flags: str) -> int:
        domains = tmp_path / f"domains-{count}.txt"
        domains.write_text("".join(f"school{i}.example\n" for i in range(count)), "utf-8")
        result = CliRunner().invoke(
            cli,
            [
                *scan_args(tmp_path, domains, complete_server),
                "--format",
                output_format,
                "--output",
                str(tmp_path / f"report-{count}.{output_format}"),
                "--store",
                str(store),
                "--fail-on",
                "low",
                *flags,
            ],
        )
        assert result.exit_code in (0, 1), result.stderr
        return result.exit_code

    assert scan(3, "--fail-on-new") == 1  # the first scan: every risk is new
    assert scan(3, "--fail-on-new") == 0  # the same estate again
    assert scan(3) == 1  # the risks are still there
    assert scan(6, "--fail-on-new") == 1  # three more schools, three more risky mail hosts
    with sqlite3.connect(store) as connection:
        counts = connection.execute(
            "SELECT s.id, COUNT(a.asset_id) FROM scans s JOIN assets a ON a.scan_id = s.id"
            " GROUP BY s.id ORDER BY s.started_at"
        ).fetchall()
    assert counts[-1][1] > counts[0][1]
    if output_format == "json":
        report = json.loads((tmp_path / "report-6.json").read_text("utf-8"))
        stored = load_document(store, report["scan_id"])
        assert stored == report


def test_a_long_domain_list_in_a_held_format_is_warned_about(
    tmp_path: Path, complete_server: ZoneServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sovscan.cli.HELD_DOMAINS_HINT", 2)
    domains = tmp_path / "domains.txt"
    domains.write_text("school0.example\nschool1.example\nschool2.example\n", "utf-8")
    base = [
        *scan_args(tmp_path, domains, complete_server),
        "--no-store",
        "--fail-on",
        "never",
    ]
    held = CliRunner().invoke(cli, [*base, "--format", "markdown"])
    assert held.exit_code == 0, held.stderr
    assert "3 domains: --format markdown holds the whole scan in memory" in held.stderr
    streamed = CliRunner().invoke(cli, [*base, "--format", "csv"])
    assert streamed.exit_code == 0 and "holds the whole scan" not in streamed.stderr
    assert streamed.stdout.count("school1-example.mail.protection.outlook.com") >= 1


def test_a_full_disk_while_streaming_is_one_line_and_no_report(
    tmp_path: Path, complete_server: ZoneServer
) -> None:
    import resource
    import signal
    import subprocess
    import sys

    domains = tmp_path / "domains.txt"
    domains.write_text("".join(f"school{i}.example\n" for i in range(20)), encoding="utf-8")
    report = tmp_path / "audit.json"

    def small_files() -> None:  # the kernel refuses writes past 16 KiB: a disk that is full
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    command = [
        str(Path(sys.executable).parent / "sovscan"),
        *scan_args(tmp_path, domains, complete_server),
        "--no-store", "--format", "json", "--output", str(report),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, preexec_fn=small_files
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1 and lines[0].startswith(f"sovscan: error: {tmp_path}/.sovscan-scan-")
    assert "cannot keep the scan's batches (File too large)" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domains.txt", "sovscan.toml"]


def test_a_mailbox_stays_personal_when_unlabelled_assets_default_to_public(
    tmp_path: Path, complete_server: ZoneServer
) -> None:
    # An institution whose unlabelled assets are public still has its mail under US control.
    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "Ministry"\nhome = "CA-QC"\ndefault_classification = "public"\n'
        '[dns]\ndomains = ["school0.example"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        [
            "scan", "-c", str(config), "--format", "json", "--fail-on", "never",
            "--nameserver", f"{complete_server.host}:{complete_server.port}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    findings = report["findings"]
    reach = {f["asset_id"]: f["status"] for f in findings if f["rule_id"] == "foreign-law-reach"}
    assert report["institution"]["default_classification"] == "public"
    assert reach == {"dns:school0.example:mailbox": "risk"}  # "ok" before: public by default


@pytest.mark.parametrize(
    ("expect", "code"), [("risk", 0), ("ok", 2)], ids=["cases-pass", "a-case-fails"]
)
def test_a_scan_refuses_an_own_rule_that_fails_its_own_cases(
    tmp_path: Path, server: ZoneServer, expect: str, code: int
) -> None:
    own = own_folder(tmp_path)
    cases = own / "own" / "own-rule.test.yaml"
    text = cases.read_text(encoding="utf-8")
    cases.write_text(text.replace("expect: risk", f"expect: {expect}", 1), encoding="utf-8")
    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n[dns]\ndomains = ["school0.example"]\n'
        f"[rules]\ndirs = [{json.dumps(str(own))}]\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "scan", "-c", str(config), "--format", "json", "--output", str(report),
            "--no-store", "--fail-on", "never",
            "--nameserver", f"{server.host}:{server.port}",
        ],
    )  # fmt: skip
    assert result.exit_code in ((0, 3) if code == 0 else (code,)), result.stderr
    if code == 2:
        (line,) = result.stderr.splitlines()
        assert line == (
            f"sovscan: error: {own.as_posix()}/own/own-rule.test.yaml: cases[0] "
            "(grant data in Ohio): expected ok; got risk; "
            "`sovscan rules validate DIR` runs them all"
        )
        assert not report.exists()
    else:
        assert report.exists()


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# every institution was removed\n", "domain\n", "name,domain\n# none\n"],
)
def test_a_domains_file_without_a_domain_is_exit_2(tmp_path: Path, text: str) -> None:
    # With an inventory naming no source either, it was a complete scan of 0 assets, exit 0.
    from tests.test_config import scan_writes_nothing

    domains = tmp_path / "domains.csv"
    domains.write_text(text, encoding="utf-8")
    message = scan_writes_nothing(tmp_path, inventory(tmp_path), "--domains", str(domains))
    assert message == (
        f"{domains}: the domains file names no domain; expected one domain per line, or a CSV "
        "with a 'domain' column"
    )


def test_a_bad_domains_file_creates_no_history_store(tmp_path: Path) -> None:
    # The store was created before the domains file was read.
    from tests.test_config import scan_writes_nothing

    domains = tmp_path / "domains.txt"
    domains.write_text("school1.example\nnot a domain!\n", encoding="utf-8")
    message = scan_writes_nothing(tmp_path, inventory(tmp_path), "--domains", str(domains))
    assert message == (
        f"{domains}:2: expected a domain name such as universite.example; got 'not a domain!'"
    )


def test_an_unknown_profile_creates_no_history_store(tmp_path: Path) -> None:
    # The profile was resolved after the store was created.
    from tests.test_config import scan_writes_nothing

    config = tmp_path / "sovscan.toml"
    config.write_text(
        '[institution]\nname = "X"\nhome = "CA"\nprofile = "hipaa"\n'
        '[dns]\ndomains = ["school1.example"]\n',
        encoding="utf-8",
    )
    message = scan_writes_nothing(tmp_path, config)
    assert message.startswith(f"{config}: institution.profile: expected one of ")


@pytest.mark.usefixtures("logging_restored")
def test_gaps_on_stderr_are_bounded_by_default_and_all_listed_at_v(
    tmp_path: Path, server: ZoneServer
) -> None:
    # 400 domains gave 1,100 warning lines, and the evidence digest to keep was lost among them.
    from sovscan.cli import GAPS_LOGGED

    domains = tmp_path / "domains.txt"
    domains.write_text("".join(f"school{i}.example\n" for i in range(20)), encoding="utf-8")
    args = [*scan_args(tmp_path, domains, server), "--no-store", "--fail-on", "never"]
    bundle = tmp_path / "bundle"
    default = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "r.csv"), "--format", "csv"])
    verbose = CliRunner().invoke(cli, ["-v", *args, "--format", "json"])
    quiet = CliRunner().invoke(cli, ["-q", *args, "-o", str(tmp_path / "r.txt")])
    held = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "r.md"), "--evidence", str(bundle)])
    replayed = CliRunner().invoke(cli, ["replay", str(bundle), "-o", str(tmp_path / "re.md")])
    gaps = json.loads(verbose.stdout)["gaps"]
    assert len(gaps) > GAPS_LOGGED + 1
    for run in (default, verbose, quiet, held, replayed):
        assert run.exit_code == 3, run.stderr
    named = [line for line in default.stderr.splitlines() if "could not see dns:" in line]
    assert len(named) == GAPS_LOGGED
    (more,) = [line for line in default.stderr.splitlines() if "more scope(s)" in line]
    assert more.startswith(
        f"sovscan: warning: could not see {len(gaps) - GAPS_LOGGED} more scope(s), listed in "
        f"the report (-v logs them all); {len(gaps)} gaps by reason: {len(gaps)} "
    )
    assert default.stderr.splitlines()[-1].startswith("sovscan: warning: partial scan, exit 3")
    assert len([ln for ln in verbose.stderr.splitlines() if "could not see dns:" in ln]) == len(
        gaps
    )
    assert len(quiet.stderr.splitlines()) == 1
    lines = held.stderr.splitlines()
    assert lines[0].startswith("sovscan: evidence: bundle ") and len(lines) == GAPS_LOGGED + 3
    # A replay saw nothing: its bundle's gaps are one line, the exit reason, not a scan's log.
    (line,) = replayed.stderr.splitlines()
    assert line.startswith(
        f"sovscan: warning: replay of a partial scan, exit 3: the scan could not see {len(gaps)} "
    )


def test_a_french_domains_csv_names_each_body_in_the_csv_and_json_reports(
    tmp_path: Path, server: ZoneServer
) -> None:
    # `Organisme;Domaine`, as French Excel writes it, failed at line 1; and the body's name was
    # lost, so the CSV could not be pivoted by body without parsing asset ids.
    import csv

    from tests.report.test_json import validate

    domains = tmp_path / "organismes.csv"
    domains.write_text(
        "Nom;Domaine\nCSS des Cèdres;school1.example\nVille, Québec;school2.example\n",
        encoding="utf-8",
    )
    args = [*scan_args(tmp_path, domains, server), "--no-store", "--fail-on", "never"]
    streamed = CliRunner().invoke(cli, [*args, "--format", "csv"])
    held = CliRunner().invoke(cli, [*args, "--format", "csv", "--evidence", str(tmp_path / "b")])
    as_json = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert streamed.exit_code == held.exit_code == as_json.exit_code == 3, streamed.stderr
    rows = list(csv.DictReader(streamed.stdout.splitlines()))
    by_unit = {(r["status"] == "gap", r["unit"], r["unit_name"]) for r in rows[1:]}
    assert (False, "dns:school1.example", "CSS des Cèdres") in by_unit
    assert (False, "dns:school2.example", "Ville, Québec") in by_unit
    assert all(r["unit"].startswith("dns:school") for r in rows if r["finding_key"])
    held_rows = list(csv.DictReader(held.stdout.splitlines()))
    assert rows[1:] == held_rows[1:]  # held or streamed, the same rows (the scan row has times)
    document = json.loads(as_json.stdout)
    validate(document)
    assert document["scope"]["domain_names"] == {
        "school1.example": "CSS des Cèdres",
        "school2.example": "Ville, Québec",
    }


def test_a_domains_csv_without_a_domain_column_is_one_line(tmp_path: Path) -> None:
    from tests.test_config import scan_writes_nothing

    domains = tmp_path / "fr.csv"
    domains.write_text("Organisme;Site\nCSS A;a.example\n", encoding="utf-8")
    message = scan_writes_nothing(tmp_path, inventory(tmp_path), "--domains", str(domains))
    assert message == f"{domains}:1: a CSV needs a 'domain' column; found columns Organisme, Site"


@pytest.mark.parametrize("in_flight", [32, 0])
def test_dns_time_outs_end_with_one_notice_saying_what_to_try(
    tmp_path: Path, in_flight: int
) -> None:
    # Random time-outs from an overloaded server churn the quarterly diffs: the report says
    # once, not per gap, what to try. Two domains whose server never answers stand in for it.
    zones = [
        dns.zone.from_text(ZONE.format(name=f"school{i}"), f"school{i}.example") for i in range(3)
    ]
    faults = [Fault("dead0.example", "drop"), Fault("dead1.example", "drop")]
    domains = tmp_path / "domains.txt"
    domains.write_text("school0.example\nschool1.example\ndead0.example\ndead1.example\n")
    limits = f"\n[limits]\ndns_lifetime = 0.6\ndns_timeout = 0.3\ndns_in_flight = {in_flight}\n"
    with ZoneServer(zones, faults=faults) as server:
        args = scan_args(tmp_path, domains, server)  # writes the inventory: limits go after
        config = inventory(tmp_path)
        config.write_text(config.read_text(encoding="utf-8") + limits, encoding="utf-8")
        result = CliRunner().invoke(cli, [*args, "--format", "json", "--no-store"])
    assert result.exit_code == 3, result.stderr
    document = json.loads(result.stdout)
    timeouts = [g for g in document["gaps"] if "timeout: no answer within 0.6s" in g["reason"]]
    assert {g["scope"].split(":")[1] for g in timeouts} == {"dead0.example", "dead1.example"}
    notices = [n for n in document["notices"] if "no answer in time" in n]
    assert len(notices) == 1, document["notices"]
    assert notices[0].startswith(f"{len(timeouts)} DNS gap(s)")
    assert "--nameserver a resolver that can take the load" in notices[0]
    assert ("limits.dns_in_flight (now 32)" in notices[0]) == (in_flight == 32)
