"""A scan killed at random points never leaves a half-written report or a corrupt store."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import Fault, ZoneServer, load_zones
from tests.hostile.conftest import DEMO_ZONES, SOVSCAN, run_cli

REPEATS = int(os.environ.get("SOVSCAN_KILL_REPEATS", "10"))
SEED = int(os.environ.get("SOVSCAN_KILL_SEED", "9"))
INVENTORY = """[institution]
name = "Université Exemple"
home = "CA-QC"

[dns]
domains = ["universite.example"]
"""


@pytest.fixture(scope="module")
def slow_dns() -> Iterator[str]:
    """The demo zones, answering some names slowly so a scan lasts long enough to be killed."""
    faults = [Fault("_domainkey.universite.example", "slow", delay=0.05)]
    with ZoneServer(load_zones(DEMO_ZONES), faults=faults) as server:
        yield f"{server.host}:{server.port}"


def _env(folder: Path, nameserver: str) -> dict[str, str]:
    return {
        "HOME": str(folder),
        "XDG_CACHE_HOME": str(folder / "cache"),
        "SOVSCAN_NAMESERVER": nameserver,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _passthrough() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in {"PATH", "PYTHONPATH"}}


def _args(folder: Path) -> list[str]:
    return [
        "scan", "--config", str(folder / "sovscan.toml"), "--format", "json",
        "--output", str(folder / "report.json"), "--store", str(folder / "store.sqlite"),
        "--fail-on", "never",
    ]  # fmt: skip


def _check_report(path: Path, previous: bytes | None) -> None:
    """Absent, the previous complete version, or a whole new document: never partial."""
    if not path.exists():
        assert previous is None, "the previous complete report disappeared"
        return
    data = path.read_bytes()
    if data == previous:
        return
    document = json.loads(data)  # raises on a partial write
    assert document["schema"] == "sovscan.scan/1"
    assert document["institution"]["name"] == "Université Exemple"
    assert data.endswith(b"}\n")


def _check_store(folder: Path, env: dict[str, str], *, cli: bool = True) -> int:
    store = folder / "store.sqlite"
    if not store.exists():
        return 0
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = int(connection.execute("SELECT count(*) FROM scans").fetchone()[0])
    if not cli:
        return count
    history = run_cli(["history", "--store", str(store), "--format", "json"], env, cwd=folder)
    assert history.code == 0, history.stderr
    assert len(json.loads(history.stdout)) == count
    return count


def _stray(folder: Path) -> list[str]:
    known = {"sovscan.toml", "report.json", "store.sqlite", "store.sqlite-wal", "store.sqlite-shm"}
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in known)


@pytest.mark.slow
def test_sigkill_at_random_points(tmp_path: Path, slow_dns: str) -> None:
    (tmp_path / "sovscan.toml").write_text(INVENTORY, encoding="utf-8")
    env = _env(tmp_path, slow_dns)
    started = time.monotonic()
    first = run_cli(_args(tmp_path), env, cwd=tmp_path)
    duration = time.monotonic() - started
    assert first.code == 0, first.stderr
    previous: bytes | None = (tmp_path / "report.json").read_bytes()
    _check_report(tmp_path / "report.json", None)
    stored = _check_store(tmp_path, env)
    assert stored == 1

    rng = random.Random(SEED)
    for attempt in range(REPEATS):
        # Most kills land late in the run, where the report and the store are written.
        delay = duration * rng.uniform(0.3, 1.1)
        process = subprocess.Popen(
            [*SOVSCAN, *_args(tmp_path)],
            env={**_passthrough(), **env},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        _check_report(tmp_path / "report.json", previous)
        previous = (tmp_path / "report.json").read_bytes()
        # `sovscan history` (a subprocess) on the last kill; SQLite's own check on every one.
        assert _check_store(tmp_path, env, cli=attempt == REPEATS - 1) >= stored
        # The only files a killed run may leave are write_atomic's own temporary files.
        stray = _stray(tmp_path)
        assert all(n.startswith(".report.json.") and n.endswith(".tmp") for n in stray), stray

    # A run after the kills completes. (A temporary report a kill left behind is only fresh here;
    # its clean-up by a later run is checked deterministically below.)
    final = run_cli(_args(tmp_path), env, cwd=tmp_path)
    assert final.code == 0, final.stderr
    _check_report(tmp_path / "report.json", None)
    assert _check_store(tmp_path, env) >= stored + 1


def test_the_next_run_removes_a_killed_runs_temporary_report(tmp_path: Path, slow_dns: str) -> None:
    # What SIGKILL between mkstemp and rename leaves behind (sovscan/files.py naming).
    (tmp_path / "sovscan.toml").write_text(INVENTORY, encoding="utf-8")
    stale = tmp_path / ".report.json.k1ll3d.tmp"
    stale.write_text('{"schema": "sovscan.scan/1", "half', encoding="utf-8")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    result = run_cli(_args(tmp_path), _env(tmp_path, slow_dns), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert not stale.exists(), "a stale temporary report from a killed run is never removed"


def _work_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".sovscan-scan-*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sent", "code", "line"),
    [
        (signal.SIGINT, 130, "sovscan: error: interrupted; no report was written"),
        (signal.SIGTERM, 143, "sovscan: error: terminated (SIGTERM); the run stopped"),
    ],
)
def test_sigint_and_sigterm_exit_with_one_line_and_no_report(
    tmp_path: Path, sent: signal.Signals, code: int, line: str
) -> None:
    (tmp_path / "sovscan.toml").write_text(INVENTORY, encoding="utf-8")
    # A server that never answers keeps the scan busy until the interrupt.
    faults = [Fault("universite.example", "drop"), Fault("faculte-gateway.example", "drop")]
    with ZoneServer(load_zones(DEMO_ZONES), faults=faults) as server:
        answered: list[float] = []
        respond = server.authority.respond

        def counting(query):  # type: ignore[no-untyped-def]
            answered.append(time.monotonic())
            return respond(query)

        server.authority.respond = counting  # type: ignore[method-assign]
        env = _env(tmp_path, f"{server.host}:{server.port}")
        process = subprocess.Popen(
            [*SOVSCAN, *_args(tmp_path)],
            env={**_passthrough(), **env},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not answered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answered, "the scan never reached the DNS server"
        assert _work_folders(tmp_path), "a streamed scan keeps its batches beside the report"
        process.send_signal(sent)
        stdout, stderr = process.communicate(timeout=20)
    lines = stderr.decode("utf-8", "replace").splitlines()
    assert process.returncode == code, lines
    assert lines == [line]
    assert stdout == b""
    assert not (tmp_path / "report.json").exists()
    assert _stray(tmp_path) == []
    assert _work_folders(tmp_path) == []


def test_a_corrupt_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    store.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # a header, then garbage
    result = CliRunner().invoke(cli, ["history", "--store", str(store)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sovscan: error: {store}: "), lines
    assert store.read_bytes().startswith(b"SQLite format 3\x00\xff")  # never silently replaced
