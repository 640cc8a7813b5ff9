"""`sovscan scan --domains FILE`: many institutions' domains in one run, through a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dns.zone
import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import ZoneServer

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


def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "sovscan.toml"
    path.write_text('[institution]\nname = "Ministry"\nhome = "CA-QC"\n', encoding="utf-8")
    return path


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
            "scan",
            "-c",
            str(inventory(tmp_path)),
            "--domains",
            str(domains),
            "--nameserver",
            f"{server.host}:{server.port}",
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
        "scan",
        "-c",
        str(inventory(tmp_path)),
        "--domains",
        str(domains),
        "--nameserver",
        f"{server.host}:{server.port}",
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
