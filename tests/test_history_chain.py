"""The history store's hash chain: an untouched store verifies, a tampered one names its first
broken link, and an older store is chained at its migration, saying so."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sovscan.cli import cli
from sovscan.history import (
    _MIGRATIONS,
    SCHEMA_VERSION,
    HistoryError,
    list_scans,
    save_scan,
    verify_store,
)
from sovscan.model import Gap
from tests.factories import lms_inventory
from tests.test_history import ASSET, ok, risk, scan_at


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three scans, recorded by sovscan."""
    path = tmp_path / "history.sqlite"
    save_scan(path, scan_at(0, (risk("a"), ok("b")), "scan-1"))
    save_scan(path, scan_at(10, (risk("a"), risk("b")), "scan-2"))
    save_scan(path, scan_at(20, (risk("b"),), "scan-3"))
    return path


def tamper(path: Path, *statements: str) -> None:
    """Edit the store as anyone with the file could: sqlite3, no sovscan."""
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)


def verify(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["history", "--store", str(path), "--verify", *args])


def test_an_untouched_store_verifies_and_prints_its_head(store: Path) -> None:
    head = save_scan(store, scan_at(30, (), "scan-4"))
    check = verify_store(store)
    assert (check.problem, check.scans, check.head, check.chained_at_start) == (None, 4, head, 0)
    result = verify(store)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{store}: hash chain intact; 4 scans, head SHA-256 {head} (keep it apart from the "
        "store; --head-sha256 checks it later)\n"
    )
    assert verify(store, "--head-sha256", head).exit_code == 0
    assert verify(store, "--head-sha256", head.upper()).exit_code == 0
    as_json = json.loads(verify(store, "--format", "json").stdout)
    assert as_json["problem"] is None and as_json["head"] == head and as_json["scans"] == 4


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            ["UPDATE findings SET status = 'ok' WHERE scan_id = 'scan-2' AND rule_id = 'a'"],
            (
                "scan scan-2 (link 2, started 2026-11-24T12:10:00+00:00) differs from what was "
                "recorded: its scan row, a finding or an asset was changed, added or deleted"
            ),
        ),
        (["UPDATE scans SET score = 0 WHERE id = 'scan-1'"], "scan scan-1 (link 1, "),
        (["UPDATE scans SET document = '{}' WHERE id = 'scan-3'"], "scan scan-3 (link 3, "),
        (["DELETE FROM assets WHERE scan_id = 'scan-2'"], "scan scan-2 (link 2, "),
        (
            [
                (
                    "INSERT INTO findings SELECT 'scan-1', 'forged', rule_id, asset_id, status,"
                    " severity, message, waived, waiver_owner, waiver_expires FROM findings"
                    " WHERE scan_id = 'scan-1' LIMIT 1"
                )
            ],
            "scan scan-1 (link 1, ",
        ),
        # With foreign keys on, the scan's findings and assets go with it: the gap shows.
        (
            ["PRAGMA foreign_keys = ON", "DELETE FROM scans WHERE id = 'scan-2'"],
            (
                "link 2 is missing before scan scan-3 (link 3, started 2026-11-24T12:20:00+00:00): "
                "a scan was deleted from the store"
            ),
        ),
        (
            ["UPDATE scans SET chain_previous = chain_digest WHERE id = 'scan-3'"],
            (
                "scan scan-3 (link 3, started 2026-11-24T12:20:00+00:00) no longer follows the "
                "link before it: its link was altered"
            ),
        ),
        (
            ["UPDATE chain_start SET scans_before = 0, started_at = '2020-01-01T00:00:00+00:00'"],
            "scan scan-1 (link 1, started 2026-11-24T12:00:00+00:00) no longer follows the link ",
        ),
        (
            [
                (
                    "INSERT INTO scans (id, institution, started_at, finished_at, score, complete,"
                    " document) SELECT 'forged', institution, started_at, finished_at, 0, 1, '{}'"
                    " FROM scans WHERE id = 'scan-1'"
                )
            ],
            "scan forged (started 2026-11-24T12:00:00+00:00) is not in the chain",
        ),
    ],
    ids=[
        "finding-updated",
        "score-updated",
        "document-updated",
        "assets-deleted",
        "finding-added",
        "scan-deleted",
        "link-altered",
        "start-altered",
        "scan-added",
    ],
)
def test_a_tampered_store_names_its_first_broken_link(
    store: Path, statements: list[str], expected: str
) -> None:
    assert verify_store(store).problem is None
    tamper(store, *statements)
    assert expected in str(verify_store(store).problem)
    result = verify(store)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"{store}: hash chain broken: ")
    assert expected in result.stdout and result.stdout.count("\n") == 1
    assert "Traceback" not in result.output


def test_the_newest_scan_deleted_needs_the_head_kept_elsewhere(store: Path) -> None:
    # What the chain alone cannot see, and why the head is printed to be kept apart.
    kept = verify_store(store).head
    assert kept is not None
    tamper(store, "PRAGMA foreign_keys = ON", "DELETE FROM scans WHERE id = 'scan-3'")
    assert verify_store(store).problem is None
    result = verify(store, "--head-sha256", kept)
    assert result.exit_code == 1
    assert f"the head digest {kept} is not in the chain: scans recorded up to it were deleted" in (
        result.stdout
    )


def test_a_scan_deleted_without_its_rows_is_seen_even_when_newest(store: Path) -> None:
    tamper(store, "DELETE FROM scans WHERE id = 'scan-3'")  # sqlite3 leaves foreign keys off
    problem = verify_store(store).problem
    assert problem == "findings or assets of scan scan-3 remain, but not the scan: it was deleted"


def test_an_older_store_is_chained_at_its_migration_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as connection:
        for migration in _MIGRATIONS[:5]:
            assert isinstance(migration, str)
            connection.executescript(migration)
        connection.execute("PRAGMA user_version = 5")
        for number in (1, 2):
            connection.execute(
                "INSERT INTO scans (id, institution, started_at, finished_at, score, complete,"
                " document) VALUES (?, 'Université Exemple', ?, ?, 0, 1, '{}')",
                (f"old-{number}", f"2026-0{number}-01T00:00:00+00:00", "2026-01-01"),
            )
            risky = risk("a")
            connection.execute(
                "INSERT INTO findings (scan_id, key, rule_id, asset_id, status, severity, message)"
                " VALUES (?, ?, 'a', ?, 'risk', 'high', ?)",
                (f"old-{number}", risky.key, ASSET, risky.message),
            )
    result = verify(path)
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{path}: hash chain intact; 2 scans, head SHA-256 ")
    assert second.startswith(f"{path}: the chain began on ")
    assert second.endswith(
        ", when the store was upgraded: it vouches for the 2 scans recorded before only since then"
    )
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    save_scan(path, scan_at(0, (risk("a"),), "scan-new"))
    check = verify_store(path)
    assert (check.problem, check.scans, check.chained_at_start) == (None, 3, 2)
    tamper(path, "UPDATE findings SET message = 'nothing to see' WHERE scan_id = 'old-1'")
    assert "scan old-1 (link 1, " in str(verify_store(path).problem)


def test_the_same_scan_recorded_again_keeps_its_link_or_is_refused(store: Path) -> None:
    head = verify_store(store).head
    again = save_scan(store, scan_at(10, (risk("a"), risk("b")), "scan-2"))  # the same run
    check = verify_store(store)
    assert check.problem is None and check.head == head and again != head
    with pytest.raises(HistoryError, match="scan scan-2 is already recorded, with other content"):
        save_scan(store, scan_at(10, (risk("a"),), "scan-2"))
    assert verify_store(store).problem is None  # rolled back: nothing changed
    assert [s.risks for s in list_scans(store)] == [1, 2, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--head-sha256", "00"], "--head-sha256: expected 64 hexadecimal digits; got '00'"),
        (["--institution", "X"], "--verify checks the whole store: drop --institution"),
    ],
)
def test_bad_verify_flags_are_one_line(store: Path, args: list[str], message: str) -> None:
    result = verify(store, *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert message in result.stderr and result.stderr.count("\n") == 1
    alone = CliRunner().invoke(cli, ["history", "--store", str(store), "--head-sha256", "0" * 64])
    assert alone.exit_code == 2 and "--head-sha256 goes with --verify" in alone.stderr


def test_a_missing_store_is_exit_2(tmp_path: Path) -> None:
    result = verify(tmp_path / "none.sqlite")
    assert result.exit_code == 2 and "no history store here" in result.stderr
    assert not (tmp_path / "none.sqlite").exists()


@pytest.mark.parametrize("output_format", ["table", "json"])  # a held and a streamed scan
def test_scans_recorded_by_the_cli_are_chained_and_log_the_head(
    tmp_path: Path, output_format: str
) -> None:
    path = tmp_path / "history.sqlite"
    inventory = lms_inventory(tmp_path)

    def scan() -> Result:
        args = ["-v", "scan", "-c", str(inventory), "--store", str(path), "--fail-on", "never"]
        return CliRunner().invoke(cli, [*args, "--format", output_format])

    heads: list[str] = []
    for _ in range(2):
        result = scan()
        assert result.exit_code == 0, result.output
        logged = _logged_head(result.stderr)
        heads.append(logged)
    check = verify_store(path)
    assert check.problem is None and check.scans == 2 and check.head == heads[-1]
    assert verify(path, "--head-sha256", heads[0]).exit_code == 0


def _logged_head(stderr: str) -> str:
    marker = "the store's hash chain head is SHA-256 "
    (line,) = [line for line in stderr.splitlines() if marker in line]
    return line.split(marker)[1].split()[0]


# Store version 7 keeps which units of its scope each scan's gaps left incomplete: the chain
# covers it, and a store recorded before it still verifies, its scans judged as they recorded.

STORE_V6 = Path(__file__).resolve().parent / "data" / "history" / "store-v6.sql"


def store_v6(path: Path) -> Path:
    """The version-6 store of tests/data/history, as its sovscan left it."""
    with sqlite3.connect(path) as connection:
        connection.executescript(STORE_V6.read_text(encoding="utf-8"))
        connection.execute("PRAGMA user_version = 6")
    return path


def test_a_store_from_before_units_is_migrated_verified_and_judged_as_recorded(
    tmp_path: Path,
) -> None:
    from sovscan.history import diff_scans, new_risk_keys
    from sovscan.report.diff import render_table
    from tests.test_history import partial_elsewhere

    path = store_v6(tmp_path / "history.sqlite")
    with sqlite3.connect(path) as connection:
        recorded_head = connection.execute(
            "SELECT chain_digest FROM scans ORDER BY chain_seq DESC LIMIT 1"
        ).fetchone()[0]
    # Opening migrates it; every link keeps the digest its sovscan recorded.
    check = verify_store(path)
    assert (check.problem, check.scans, check.head) == (None, 3, recorded_head)
    assert verify(path, "--head-sha256", recorded_head).exit_code == 0
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("SELECT incomplete FROM scans").fetchall() == [(None,)] * 3
    # As they recorded: the complete scans saw every unit whole, the partial one none.
    assert [s.incomplete_units for s in list_scans(path)] == [(), None, ()]
    # The partial scan tells nothing, and is passed over as before: d resolved, c new.
    shown = diff_scans(path)
    assert (shown.old.id, shown.new.id) == ("scan-1", "scan-3")
    assert [s.id for s in shown.passed_over] == ["scan-2"]
    assert [(c.rule_id, c.change) for c in shown.findings] == [("c", "new"), ("d", "resolved")]
    assert new_risk_keys(path, "scan-3") == {risk("c").key} == {c.key for c in shown.new_risks}
    # Asked for explicitly, the partial scan stands for none of its units: the same changes, and
    # nothing of the record it missed reads as new.
    explicit = diff_scans(path, "scan-2", "scan-3")
    assert [(c.rule_id, c.change) for c in explicit.findings] == [("c", "new"), ("d", "resolved")]
    assert explicit.assets == ()
    assert "recorded before sovscan kept which units its gaps touched" in render_table(explicit)
    # A scan recorded now keeps its units, and chains on.
    now = partial_elsewhere(scan_at(30, (risk("a"), risk("c")), "scan-4"))
    head = save_scan(path, replace(now, assets=now.assets[:1]))
    check = verify_store(path)
    assert (check.problem, check.scans, check.head) == (None, 4, head)
    assert list_scans(path)[-1].incomplete_units == (
        "dns:universite.example",
        "saas:universite.example",
    )
    later = diff_scans(path)
    assert (later.old.id, later.passed_over) == ("scan-3", ())
    assert [(a.asset_id, a.change) for a in later.assets] == [
        ("dns:universite.example:txt:acme", "unseen")
    ]
    assert later.findings == ()  # b was ok: nothing to call unseen


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE scans SET incomplete = '[]' WHERE id = 'scan-2'",  # a partial scan made whole
        "UPDATE scans SET incomplete = NULL WHERE id = 'scan-2'",  # passed for a pre-7 scan
        "UPDATE scans SET incomplete = '[\"dns:universite.example\"]' WHERE id = 'scan-1'",
    ],
)
def test_the_units_a_scan_left_incomplete_are_in_its_digest(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "history.sqlite"
    save_scan(path, scan_at(0, (risk("a"),), "scan-1"))
    gap = Gap("dns:universite.example", "SOA: timeout")
    save_scan(path, replace(scan_at(10, (risk("a"),), "scan-2"), gaps=(gap,)))
    assert verify_store(path).problem is None
    tamper(path, statement)
    assert "differs from what was recorded" in str(verify_store(path).problem)
