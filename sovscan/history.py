"""The scan history: an SQLite file of past scans, and the differences between two of them."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovscan.errors import SovscanError
from sovscan.model import Finding, ResolvedAsset, Scan, Status
from sovscan.report.json import scan_document
from sovscan.report.safe import terminal_safe, utf8_safe


class HistoryError(SovscanError):
    """The history store cannot be opened, read or written."""


# Each entry moves the store from version i to i + 1; never edit a shipped entry, append one.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE scans (
        id TEXT PRIMARY KEY,
        institution TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        score INTEGER NOT NULL,
        complete INTEGER NOT NULL,
        document TEXT NOT NULL
    );
    CREATE INDEX scans_by_institution ON scans (institution, started_at);
    CREATE TABLE findings (
        scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        asset_id TEXT NOT NULL,
        status TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (scan_id, key)
    );
    CREATE INDEX findings_by_key ON findings (key);
    CREATE TABLE assets (
        scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        asset_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        place TEXT,
        jurisdictions TEXT,
        PRIMARY KEY (scan_id, asset_id)
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def default_store_path() -> Path:
    """$SOVSCAN_STORE, else $XDG_DATA_HOME/sovscan/history.sqlite (~/.local/share by default)."""
    explicit = os.environ.get("SOVSCAN_STORE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sovscan" / "history.sqlite"


@dataclass(frozen=True, slots=True)
class StoredScan:
    """One scan as the history lists it."""

    id: str
    institution: str
    started_at: str
    score: int
    complete: bool
    risks: int


@dataclass(frozen=True, slots=True)
class FindingChange:
    """A finding that differs between two scans."""

    # "new" (now a risk), "resolved" (no longer a risk), "changed", or "unseen": a risk the
    # newer scan could not see (absent from a partial scan) or tell (unknown), not resolved.
    change: str
    key: str
    rule_id: str
    asset_id: str
    old_status: str | None
    new_status: str | None
    severity: str
    message: str
    first_seen: str | None  # when this finding was first a risk, in the whole history


@dataclass(frozen=True, slots=True)
class AssetChange:
    """An asset that appeared, disappeared or moved between two scans."""

    change: str  # "new", "removed", "changed", or "unseen" (not in the newer scan, partial)
    asset_id: str
    kind: str
    old_place: str | None
    new_place: str | None
    old_jurisdictions: str | None
    new_jurisdictions: str | None
    first_seen: str | None


@dataclass(frozen=True, slots=True)
class ScanDiff:
    """What changed from `old` to `new`."""

    old: StoredScan
    new: StoredScan
    findings: tuple[FindingChange, ...]
    assets: tuple[AssetChange, ...]

    @property
    def new_risks(self) -> tuple[FindingChange, ...]:
        return tuple(f for f in self.findings if f.change == "new")


@contextmanager
def open_store(path: Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """An open, migrated store. Safe with concurrent scans: WAL mode and a busy timeout.

    With `create` a missing store is made (and, for the default location only, its folder);
    without it, a missing store is an error, so a read never leaves an empty file behind.
    """
    if not path.exists():
        if not create:
            raise HistoryError(f"{path}: no history store here (a scan creates it)")
        if path == default_store_path():
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise HistoryError(f"{path}: the folder for the history store does not exist")
    try:
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(f"{path}: cannot open the history store ({exc})") from None
    with closing(connection):
        try:
            _refuse_foreign(connection, path)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            _migrate(connection, path)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{path}: not a sovscan history store ({exc})") from None
        yield connection


def _refuse_foreign(connection: sqlite3.Connection, path: Path) -> None:
    """Another program's SQLite database is never written to, nor its journal mode changed.

    Ours: empty (a new store), or holding sovscan's tables under a schema version. One
    statement reads both, so a concurrent scan's migration is seen whole or not at all.
    """
    version, names = connection.execute(
        "SELECT (SELECT user_version FROM pragma_user_version),"
        " (SELECT group_concat(name, char(31)) FROM"
        "  (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name))"
    ).fetchone()
    tables = set(names.split("\x1f")) if names else set()
    if not tables or (int(version) and tables >= _OWN_TABLES):
        return
    # Table names come from the foreign file: escaped and cut before they reach a terminal.
    shown = ", ".join(terminal_safe(str(name), 40) for name in sorted(tables)[:3])
    raise HistoryError(
        f"{path}: not a sovscan history store (it holds other tables: {shown}); nothing was changed"
    )


_OWN_TABLES = frozenset({"scans", "findings", "assets"})


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    connection.execute("BEGIN IMMEDIATE")  # one migrator at a time
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"{path}: history store version {version} is newer than this sovscan "
                f"({SCHEMA_VERSION}); upgrade sovscan"
            )
        for index in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[index].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {index + 1}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def check_store(path: Path) -> None:
    """Fail now, before a long scan, if the store cannot be opened or created."""
    with open_store(path, create=True):
        pass


FindingRow = tuple[str, str, str, str, str, str]
"""key, rule_id, asset_id, status, severity, message."""
AssetRow = tuple[str, str, str | None, str | None]
"""asset_id, kind, place ("edge" for an edge location), jurisdictions (comma-separated)."""


def finding_row(finding: Finding) -> FindingRow:
    # utf8_safe: SQLite takes UTF-8 only, and hostile text may hold a lone surrogate.
    return (
        finding.key,
        utf8_safe(finding.rule_id),
        utf8_safe(finding.asset_id),
        finding.status.value,
        finding.severity.value,
        utf8_safe(finding.message),
    )


def asset_row(item: ResolvedAsset) -> AssetRow:
    jurisdictions = item.control.jurisdictions
    place = "edge" if item.location.edge else item.location.place
    return (
        utf8_safe(item.asset.id),
        utf8_safe(item.asset.kind),
        None if place is None else utf8_safe(place),
        None if jurisdictions is None else utf8_safe(",".join(jurisdictions)),
    )


def save_scan(path: Path, scan: Scan) -> None:
    """Record `scan` in one transaction: a crash leaves the store as it was before."""
    document = utf8_safe(json.dumps(scan_document(scan), ensure_ascii=False, sort_keys=True))
    record_scan(
        path,
        scan,
        lambda: (document,),
        (finding_row(f) for f in scan.findings),
        (asset_row(a) for a in scan.assets),
    )


def record_scan(
    path: Path,
    scan: Scan,
    document: Callable[[], Iterable[str]],
    findings: Iterable[FindingRow],
    assets: Iterable[AssetRow],
) -> None:
    """Record a scan whose document, findings and assets come in pieces (a streamed scan's are
    read back from disk): one transaction, so a crash leaves the store as it was before.

    `document` is called twice: once to size the stored text, once to write it.
    """
    size = sum(len(piece.encode("utf-8")) for piece in document())
    with open_store(path, create=True) as connection:
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM scans WHERE id = ?", (scan.id,))
            cursor = connection.execute(
                "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, CAST(zeroblob(?) AS TEXT))",
                (
                    scan.id,
                    scan.policy.institution,
                    scan.started_at.isoformat(),
                    scan.finished_at.isoformat(),
                    scan.score.value,
                    int(scan.complete),
                    size,
                ),
            )
            _write_document(connection, cursor.lastrowid, document())
            connection.executemany(
                "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((scan.id, *row) for row in findings),
            )
            connection.executemany(
                "INSERT OR REPLACE INTO assets VALUES (?, ?, ?, ?, ?)",
                ((scan.id, *row) for row in assets),
            )
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            connection.execute("ROLLBACK")
            raise HistoryError(f"{path}: cannot record the scan ({exc})") from None


def _write_document(
    connection: sqlite3.Connection, rowid: int | None, pieces: Iterable[str]
) -> None:
    if rowid is None:  # sqlite3 always sets it after an INSERT
        raise sqlite3.OperationalError("no row id for the scan")
    with connection.blobopen("scans", "document", rowid) as blob:
        for piece in pieces:
            blob.write(piece.encode("utf-8"))


def list_scans(path: Path, institution: str | None = None) -> list[StoredScan]:
    """Scans in the store, oldest first, optionally for one institution."""
    with open_store(path) as connection:
        rows = connection.execute(
            "SELECT s.id, s.institution, s.started_at, s.score, s.complete,"
            " (SELECT COUNT(*) FROM findings f WHERE f.scan_id = s.id AND f.status = 'risk')"
            " FROM scans s WHERE (? IS NULL OR s.institution = ?) ORDER BY s.started_at, s.id",
            (institution, institution),
        ).fetchall()
    return [StoredScan(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]


def load_document(path: Path, scan_id: str) -> dict[str, Any]:
    """The JSON document of a stored scan (a unique id prefix is enough)."""
    with open_store(path) as connection:
        row = _find(connection, path, scan_id)
        document: dict[str, Any] = json.loads(
            connection.execute("SELECT document FROM scans WHERE id = ?", (row,)).fetchone()[0]
        )
    return document


def diff_scans(path: Path, old_id: str | None = None, new_id: str | None = None) -> ScanDiff:
    """What changed between two stored scans; by default the last two of the newest scan's
    institution. Raises HistoryError when there are not two scans to compare."""
    with open_store(path) as connection:
        new_full = _find(connection, path, new_id) if new_id else _latest(connection, path, None)
        institution = connection.execute(
            "SELECT institution FROM scans WHERE id = ?", (new_full,)
        ).fetchone()[0]
        old_full = (
            _find(connection, path, old_id)
            if old_id
            else _latest(connection, path, institution, before=new_full)
        )
        old, new = _stored(connection, old_full), _stored(connection, new_full)
        if old.institution != new.institution:
            raise HistoryError(
                f"{path}: scan {old.id} is of {old.institution!r} and scan {new.id} of "
                f"{new.institution!r}; diff compares two scans of one institution"
            )
        if (old.started_at, old.id) >= (new.started_at, new.id):
            raise HistoryError(
                f"{path}: scan {old.id} ({old.started_at}) is not older than scan {new.id} "
                f"({new.started_at}); give the older scan first"
            )
        findings = _finding_changes(connection, old, new)
        assets = _asset_changes(connection, old, new)
    return ScanDiff(old, new, findings, assets)


def new_risk_keys(path: Path, new_id: str) -> set[str] | None:
    """Keys of the findings that are risks in scan `new_id` and were not in the latest earlier
    complete scan of the institution; None when there is none (every risk is new). A partial
    scan is passed over either way: what it could not see, or first saw while its run reported
    only "partial" (exit 3), must neither look new after an outage nor go unreported. Asked in
    SQL, so neither scan is loaded."""
    with open_store(path) as connection:
        institution = connection.execute(
            "SELECT institution FROM scans WHERE id = ?", (new_id,)
        ).fetchone()[0]
        base = _latest_complete(connection, institution, new_id)
        if base is None:
            return None
        rows = connection.execute(
            "SELECT n.key FROM findings n WHERE n.scan_id = ? AND n.status = 'risk'"
            " AND NOT EXISTS (SELECT 1 FROM findings o"
            " WHERE o.scan_id = ? AND o.key = n.key AND o.status = 'risk')",
            (new_id, base),
        ).fetchall()
    return {str(row[0]) for row in rows}


def _latest_complete(connection: sqlite3.Connection, institution: str, scan_id: str) -> str | None:
    """The latest complete scan of `institution` before `scan_id`."""
    row = connection.execute(
        "SELECT id FROM scans WHERE institution = ? AND complete = 1"
        " AND (started_at, id) < (SELECT started_at, id FROM scans WHERE id = ?)"
        " ORDER BY started_at DESC, id DESC LIMIT 1",
        (institution, scan_id),
    ).fetchone()
    return None if row is None else str(row[0])


_FINDINGS_OF_SCAN = (
    "SELECT key, rule_id, asset_id, status, severity, message FROM findings WHERE scan_id = ?"
)
_ASSETS_OF_SCAN = "SELECT asset_id, kind, place, jurisdictions FROM assets WHERE scan_id = ?"


def _find(connection: sqlite3.Connection, path: Path, scan_id: str) -> str:
    rows = connection.execute(
        "SELECT id FROM scans WHERE id LIKE ? ESCAPE '\\'",
        (scan_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
    ).fetchall()
    if len(rows) != 1:
        found = "no scan" if not rows else f"{len(rows)} scans"
        raise HistoryError(f"{path}: scan id {scan_id!r}: expected one scan; found {found}")
    return str(rows[0][0])


def _latest(
    connection: sqlite3.Connection, path: Path, institution: str | None, before: str | None = None
) -> str:
    query = "SELECT id FROM scans WHERE (? IS NULL OR institution = ?)"
    args: list[Any] = [institution, institution]
    if before is not None:
        query += " AND (started_at, id) < (SELECT started_at, id FROM scans WHERE id = ?)"
        args.append(before)
    row = connection.execute(query + " ORDER BY started_at DESC, id DESC LIMIT 1", args).fetchone()
    if row is None:
        what = "no earlier scan of this institution to compare with" if before else "no scan"
        raise HistoryError(f"{path}: the history store holds {what}")
    return str(row[0])


def _stored(connection: sqlite3.Connection, scan_id: str) -> StoredScan:
    row = connection.execute(
        "SELECT id, institution, started_at, score, complete,"
        " (SELECT COUNT(*) FROM findings WHERE scan_id = ? AND status = 'risk')"
        " FROM scans WHERE id = ?",
        (scan_id, scan_id),
    ).fetchone()
    return StoredScan(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


Rows = dict[str, Sequence[Any]]  # a scan's findings or assets by key or asset id


def _both_sides(
    connection: sqlite3.Connection,
    old_scan: StoredScan,
    new_scan: StoredScan,
    of_scan: str,
    told: Callable[[Sequence[Any]], bool],
) -> tuple[Rows, Rows]:
    """The rows of both scans. A partial older scan is read over the latest complete scan before
    it: what it lacks, or could not tell (an unknown finding), is taken from there, so an outage
    makes nothing look new and hides no resolution."""

    def rows(scan_id: str) -> Rows:
        return {r[0]: r for r in connection.execute(of_scan, (scan_id,))}

    old, new = rows(old_scan.id), rows(new_scan.id)
    if not old_scan.complete:
        base = _latest_complete(connection, old_scan.institution, old_scan.id)
        if base is not None:
            old = {**rows(base), **{key: row for key, row in old.items() if told(row)}}
    return old, new


def _finding_told(row: Sequence[Any]) -> bool:
    """Whether a findings row says something: an unknown finding could not tell."""
    return bool(row[3] != Status.UNKNOWN)


def _asset_told(_row: Sequence[Any]) -> bool:
    return True  # an asset present in a scan was seen


def _finding_changes(
    connection: sqlite3.Connection, old_scan: StoredScan, new_scan: StoredScan
) -> tuple[FindingChange, ...]:
    institution = old_scan.institution
    old, new = _both_sides(connection, old_scan, new_scan, _FINDINGS_OF_SCAN, _finding_told)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        old_status = before[3] if before else None
        new_status = after[3] if after else None
        risk_before, risk_after = old_status == Status.RISK, new_status == Status.RISK
        unseen = new_status == Status.UNKNOWN or (after is None and not new_scan.complete)
        if risk_before and unseen:
            change = "unseen"  # the newer scan could not see or tell: not resolved
        elif risk_after and not risk_before:
            change = "new"
        elif risk_before and not risk_after:
            change = "resolved"
        elif before and after and tuple(before[3:]) != tuple(after[3:]):
            change = "changed"
        else:
            continue
        row = after if after is not None else before
        if row is None:  # unreachable: the key came from one of the two scans
            continue
        changes.append(
            FindingChange(
                change,
                key,
                row[1],
                row[2],
                old_status,
                new_status,
                row[4],
                row[5],
                _first_seen_risk(connection, key, institution),
            )
        )
    # Read by asset, then rule: the keys are hashes, and their order means nothing to a reader.
    return tuple(sorted(changes, key=lambda c: (c.asset_id, c.rule_id, c.key)))


def _first_seen_risk(connection: sqlite3.Connection, key: str, institution: str) -> str | None:
    row = connection.execute(
        "SELECT MIN(s.started_at) FROM findings f JOIN scans s ON s.id = f.scan_id"
        " WHERE f.key = ? AND f.status = 'risk' AND s.institution = ?",
        (key, institution),
    ).fetchone()
    return None if row[0] is None else str(row[0])


def _asset_changes(
    connection: sqlite3.Connection, old_scan: StoredScan, new_scan: StoredScan
) -> tuple[AssetChange, ...]:
    institution = old_scan.institution
    old, new = _both_sides(connection, old_scan, new_scan, _ASSETS_OF_SCAN, _asset_told)
    changes = []
    for asset_id in sorted(old.keys() | new.keys()):
        before, after = old.get(asset_id), new.get(asset_id)
        if before and after and tuple(before[2:]) == tuple(after[2:]):
            continue
        if before is None:
            change = "new"
        elif after is None:
            change = "removed" if new_scan.complete else "unseen"
        else:
            change = "changed"
        row = after if after is not None else before
        if row is None:  # unreachable: the id came from one of the two scans
            continue
        first = connection.execute(
            "SELECT MIN(s.started_at) FROM assets a JOIN scans s ON s.id = a.scan_id"
            " WHERE a.asset_id = ? AND s.institution = ?",
            (asset_id, institution),
        ).fetchone()[0]
        changes.append(
            AssetChange(
                change,
                asset_id,
                row[1],
                before[2] if before else None,
                after[2] if after else None,
                before[3] if before else None,
                after[3] if after else None,
                first,
            )
        )
    return tuple(changes)
