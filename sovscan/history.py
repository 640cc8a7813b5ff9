"""The scan history: an SQLite file of past scans, and the differences between two of them."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sovscan import chain
from sovscan.engine.facts import classification_of
from sovscan.errors import SovscanError
from sovscan.model import Finding, Policy, ResolvedAsset, Scan, ScanScope, Status, WaiverMark
from sovscan.report.json import scan_document
from sovscan.report.safe import terminal_safe, utf8_safe
from sovscan.scope import (
    UnitGaps,
    covers,
    describe_unit,
    dropped,
    incomplete_units,
    scope_document,
    scope_from_document,
    scope_unit,
)


class HistoryError(SovscanError):
    """The history store cannot be opened, read or written."""


def _chain(connection: sqlite3.Connection) -> None:
    """Version 6: the hash chain (sovscan.chain). A store's existing scans are chained now, and
    the chain's start record says so: it vouches for them only from this migration on."""
    _run_sql(connection, chain.SCHEMA)
    chain.start_chain(connection, datetime.now(UTC).isoformat(timespec="seconds"))


# Each entry moves the store from version i to i + 1; never edit a shipped entry, append one.
_MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
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
    # The classification the scan judged each asset by (its label, else the default): a
    # relabelled asset explains findings that changed. NULL in scans recorded before.
    "ALTER TABLE assets ADD COLUMN classification TEXT",
    # What each scan was configured to look at (sovscan.scope: JSON), and the unit of that scope
    # each asset lies in: what a narrower newer scope left out is unseen, not resolved or removed.
    # NULL in scans recorded before: unknown, so within every scope, as they were judged.
    """
    ALTER TABLE scans ADD COLUMN scope TEXT;
    ALTER TABLE assets ADD COLUMN scope TEXT
    """,
    # Whether a waiver accepted each finding (1, else 0), and the waiver's owner and expiry: a
    # waiver that lapsed or was removed makes its risk newly unaccepted. NULL in findings
    # recorded before: unknown, so judged as before (not waived).
    """
    ALTER TABLE findings ADD COLUMN waived INTEGER;
    ALTER TABLE findings ADD COLUMN waiver_owner TEXT;
    ALTER TABLE findings ADD COLUMN waiver_expires TEXT
    """,
    # Who runs each asset's service (its control's operator; '' when unknown), so that a diff
    # says a finding changed because its asset changed hands. NULL in assets recorded before:
    # not kept, so no change.
    "ALTER TABLE assets ADD COLUMN operator TEXT",
    # Each scan's SHA-256 over its content and the previous scan's digest: a tamper-evident
    # record for auditors (sovscan.chain; `sovscan history --verify`).
    _chain,
    # Which units of its scope each scan's gaps left incomplete (sovscan.scope.incomplete_units,
    # a JSON list; [] for a complete scan): a partial scan still saw its other units whole, so
    # what it lacks there is gone, not unseen. NULL in scans recorded before: every unit
    # incomplete when the scan was partial, none when it was complete, as they recorded. The
    # hash chain covers it when not NULL, so older links keep their digests.
    "ALTER TABLE scans ADD COLUMN incomplete TEXT",
    # The ids of the rules each scan judged by (a JSON list): a profile or a rules folder can
    # leave a rule out, and a scan that did not judge a rule tells nothing of its findings (gone
    # from it, a risk is not resolved). NULL in scans recorded before: every rule, as judged.
    # The hash chain covers it when not NULL.
    "ALTER TABLE scans ADD COLUMN rules TEXT",
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
    risks: int  # risk findings no waiver accepts (every risk, in a scan recorded before waivers)
    waived: int | None = None  # risk findings a waiver accepts; None: not recorded then
    # The units of its scope its gaps left incomplete (sovscan.scope.incomplete_units; empty
    # when complete). None: a partial scan recorded before sovscan kept them, every unit
    # incomplete.
    incomplete_units: tuple[str, ...] | None = ()


@dataclass(frozen=True, slots=True)
class StoredWaiver:
    """The waiver that accepted a finding in a stored scan."""

    owner: str
    expires: str  # ISO date, the last day it applied


# Why a change reads "unseen" (or an asset "new" that was there before the older scan's scope
# left it out, or a risk "unaccepted"): the `reason` of a FindingChange or AssetChange.
OUT_OF_SCOPE = "out of the newer scan's scope"
NOT_JUDGED = (
    "not judged by the newer scan: its rules (a profile, or rules folders) leave the rule out"
)
NOT_SEEN = "not seen by the newer scan, which is partial"
# NOT_SEEN where the newer scan kept which units its gaps touched: "...: a gap in domain a.example"
NOT_SEEN_IN = NOT_SEEN + ": {gap}"
NOT_TOLD = "unknown in the newer scan"
OUT_OF_OLDER_SCOPE = "out of the older scan's scope"
# Why an asset is "back", or a finding's older status was read from before the older scan:
# the older scan's scope left it out, and an earlier scan of the institution saw it.
BACK_IN_SCOPE = "back in scope, last seen in scan {scan} on {date}"
# Why a finding's older status, or an asset's older row, was read from before the older scan
# (or why it is new): a gap of the older scan touched its unit, so the latest earlier scan that
# saw the unit whole stands in, as for `--fail-on-new`.
OLDER_GAP = "{gap} in the older scan; as last told in scan {scan} on {date}"
OLDER_GAP_NEVER = "{gap} in the older scan, and no earlier scan saw it whole"
# The {gap} of those reasons: "a gap in domain a.example", or for an asset of no unit:
NO_UNIT_GAP = "a gap (its asset has no unit: any gap counts)"


@dataclass(frozen=True, slots=True)
class Aspect:
    """One thing that differs between the two scans, beyond a finding's status: its severity,
    or its asset's operator, place, jurisdictions or classification."""

    what: str  # "classification", "operator", "place", "jurisdictions", "severity"
    old: str | None  # None: unknown
    new: str | None


@dataclass(frozen=True, slots=True)
class FindingChange:
    """A finding that differs between two scans."""

    # "new" (now a risk), "resolved" (no longer a risk), "relabelled" (no longer a risk, and
    # its asset's classification changed meanwhile: not shown to be fixed; its aspects always
    # hold that classification change), "changed", "unseen": a risk the newer scan could not
    # see (absent from a partial scan), did not look for (out of its scope) or could not tell
    # (unknown), not resolved; "accepted": a risk still, now waived; "unaccepted": a risk
    # still, whose waiver lapsed or was removed (a new risk for --fail-on-new); "back": a risk
    # out of the older scan's scope, a risk when an earlier scan last told it (BACK_IN_SCOPE),
    # so not new.
    change: str
    key: str
    rule_id: str
    asset_id: str
    old_status: str | None
    new_status: str | None
    severity: str
    message: str
    first_seen: str | None  # when this finding was first a risk, in the whole history
    # Why it is unseen (OUT_OF_SCOPE, NOT_SEEN, NOT_TOLD), or unaccepted (the waiver lapsed on
    # its expiry, or was removed before it); BACK_IN_SCOPE (after the former, "; "-joined) when
    # its older status was told before the older scan, whose scope left its asset out.
    reason: str | None = None
    # The waiver that accepted it in each scan (the older side's as last told); None: none, or
    # a scan recorded before sovscan kept waivers.
    old_waiver: StoredWaiver | None = None
    new_waiver: StoredWaiver | None = None
    # What else changed: its severity, and its asset's classification, operator, place and
    # jurisdictions. Empty when the asset is on one side only.
    aspects: tuple[Aspect, ...] = ()


@dataclass(frozen=True, slots=True)
class AssetChange:
    """An asset that appeared, disappeared or moved between two scans."""

    # "new", "removed", "changed", "unseen" (not in a partial newer scan, or out of its scope),
    # or "back": out of the older scan's scope, and seen by an earlier scan (BACK_IN_SCOPE; its
    # `old_` fields and aspects are as that scan saw it)
    change: str
    asset_id: str
    kind: str
    old_place: str | None
    new_place: str | None
    old_jurisdictions: str | None
    new_jurisdictions: str | None
    first_seen: str | None
    # The label each scan judged the asset by; None for a scan recorded before sovscan kept it.
    old_classification: str | None = None
    new_classification: str | None = None
    # Why it is unseen (OUT_OF_SCOPE, NOT_SEEN), back (BACK_IN_SCOPE), or new though it may
    # have been there before (OUT_OF_OLDER_SCOPE: the older scan did not look where it is, and
    # no scan before it saw it).
    reason: str | None = None
    # What changed, for a "changed" or "back" asset: classification, operator, place,
    # jurisdictions.
    aspects: tuple[Aspect, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanDiff:
    """What changed from `old` to `new`."""

    old: StoredScan
    new: StoredScan
    findings: tuple[FindingChange, ...]
    assets: tuple[AssetChange, ...]
    # Partial scans between `old` and `new` that the default comparison passed over, oldest
    # first: those recorded before sovscan kept which units their gaps touched, which tell
    # nothing (a partial scan that kept them is compared with, unit by unit).
    passed_over: tuple[StoredScan, ...] = ()
    # The default comparison found no earlier scan that is complete or kept its incomplete
    # units, and compared with a partial one: `--fail-on-new` then counts every risk of `new`
    # as new, which this diff cannot show.
    no_complete_baseline: bool = False
    # What the older scan's scope covered and the newer one's does not ("AWS account
    # 123456789012: us-east-1", "domain old.example"); empty when either scope is unknown.
    dropped_scope: tuple[str, ...] = ()
    # The settings that judged the two scans, where they differ ("profile: eu-gdpr ->
    # secnumcloud"): a change there changes findings without anything in the estate changing.
    settings_changed: tuple[str, ...] = ()

    @property
    def new_risks(self) -> tuple[FindingChange, ...]:
        """The risks `--fail-on-new` counts: new ones, and those newly unaccepted."""
        return tuple(f for f in self.findings if f.change in NEW_RISK_CHANGES)

    @property
    def relabelled(self) -> tuple[FindingChange, ...]:
        """The risks that turned ok as their asset's classification changed; `--fail-on-new`
        counts those no waiver accepted before (`relabelled_risks`)."""
        return tuple(f for f in self.findings if f.change == "relabelled")


NEW_RISK_CHANGES = frozenset({"new", "unaccepted"})


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
            migration = _MIGRATIONS[index]
            if callable(migration):
                migration(connection)
            else:
                _run_sql(connection, migration)
            connection.execute(f"PRAGMA user_version = {index + 1}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _run_sql(connection: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript would commit the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


def check_store(path: Path) -> None:
    """Fail now, before a long scan, if the store cannot be opened or created."""
    with open_store(path, create=True):
        pass


FindingRow = tuple[str, str, str, str, str, str, int, str | None, str | None]
"""key, rule_id, asset_id, status, severity, message, waived (1 or 0), the waiver's owner and
expiry."""
AssetRow = tuple[str, str, str | None, str | None, str, str | None, str]
"""asset_id, kind, place ("edge" for an edge location), jurisdictions (comma-separated),
classification (the asset's label, else the policy's default), the unit of the scan's scope it
lies in (`scope.scope_unit`), operator ('' when unknown)."""


def finding_row(finding: Finding) -> FindingRow:
    # utf8_safe: SQLite takes UTF-8 only, and hostile text may hold a lone surrogate.
    return (
        finding.key,
        utf8_safe(finding.rule_id),
        utf8_safe(finding.asset_id),
        finding.status.value,
        finding.severity.value,
        utf8_safe(finding.message),
        *waiver_columns(finding.waiver),
    )


def waiver_columns(waiver: WaiverMark | None) -> tuple[int, str | None, str | None]:
    """A finding's last three FindingRow columns: waived (1 or 0), the waiver's owner, expiry."""
    if waiver is None:
        return 0, None, None
    return 1, utf8_safe(waiver.owner), utf8_safe(waiver.expires)


def asset_row(item: ResolvedAsset, policy: Policy) -> AssetRow:
    jurisdictions = item.control.jurisdictions
    place = "edge" if item.location.edge else item.location.place
    return (
        utf8_safe(item.asset.id),
        utf8_safe(item.asset.kind),
        None if place is None else utf8_safe(place),
        None if jurisdictions is None else utf8_safe(",".join(jurisdictions)),
        utf8_safe(classification_of(item.asset.attributes.get("classification"), policy)),
        _unit(item),
        utf8_safe(item.control.operator or ""),
    )


def _unit(item: ResolvedAsset) -> str | None:
    unit = scope_unit(item.asset.id, item.asset.attributes)
    return None if unit is None else utf8_safe(unit)


def save_scan(path: Path, scan: Scan) -> str:
    """Record `scan` in one transaction: a crash leaves the store as it was before. Returns its
    digest in the store's hash chain."""
    document = utf8_safe(json.dumps(scan_document(scan), ensure_ascii=False, sort_keys=True))
    return record_scan(
        path,
        scan,
        lambda: (document,),
        (finding_row(f) for f in scan.findings),
        (asset_row(a, scan.policy) for a in scan.assets),
    )


def record_scan(
    path: Path,
    scan: Scan,
    document: Callable[[], Iterable[str]],
    findings: Iterable[FindingRow],
    assets: Iterable[AssetRow],
) -> str:
    """Record a scan whose document, findings and assets come in pieces (a streamed scan's are
    read back from disk): one transaction, so a crash leaves the store as it was before.

    `document` is called twice: once to size the stored text, once to write it. Returns the
    scan's digest in the store's hash chain: the chain's head.
    """
    size = sum(len(piece.encode("utf-8")) for piece in document())
    with open_store(path, create=True) as connection:
        try:
            connection.execute("BEGIN IMMEDIATE")
            recorded = chain.link_of(connection, scan.id)
            connection.execute("DELETE FROM scans WHERE id = ?", (scan.id,))
            cursor = connection.execute(
                "INSERT INTO scans (id, institution, started_at, finished_at, score, complete,"
                " document, scope, incomplete, rules)"
                " VALUES (?, ?, ?, ?, ?, ?, CAST(zeroblob(?) AS TEXT), ?, ?, ?)",
                (
                    scan.id,
                    scan.policy.institution,
                    scan.started_at.isoformat(),
                    scan.finished_at.isoformat(),
                    scan.score.value,
                    int(scan.complete),
                    size,
                    _scope_text(scan.scope),
                    _incomplete_text(scan),
                    _rules_text(scan),
                ),
            )
            _write_document(connection, cursor.lastrowid, document())
            connection.executemany(
                "INSERT OR REPLACE INTO findings (scan_id, key, rule_id, asset_id, status,"
                " severity, message, waived, waiver_owner, waiver_expires)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((scan.id, *row) for row in findings),
            )
            connection.executemany(
                "INSERT OR REPLACE INTO assets (scan_id, asset_id, kind, place, jurisdictions,"
                " classification, scope, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((scan.id, *row) for row in assets),
            )
            digest = _link(connection, path, scan.id, recorded)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            connection.execute("ROLLBACK")
            raise HistoryError(f"{path}: cannot record the scan ({exc})") from None
        except HistoryError:
            connection.execute("ROLLBACK")
            raise
    return digest


def _link(
    connection: sqlite3.Connection, path: Path, scan_id: str, recorded: tuple[int, str, str] | None
) -> str:
    """Chain the scan just written; one recorded before under the same id (the same run
    recorded again) keeps its link if its content is the same, and is refused otherwise: the
    store is append-only, and replacing a chained scan would break the chain."""
    if recorded is None:
        return chain.link_scan(connection, scan_id)
    _seq, previous, digest = recorded
    if chain.scan_digest(connection, scan_id, previous) != digest:
        raise HistoryError(
            f"{path}: scan {scan_id} is already recorded, with other content; the history "
            "store is append-only (its hash chain would break), so it was not recorded again"
        )
    chain.set_link(connection, scan_id, recorded)
    return digest


def _scope_text(scope: ScanScope | None) -> str | None:
    if scope is None:
        return None
    return utf8_safe(json.dumps(scope_document(scope), ensure_ascii=False, sort_keys=True))


def _incomplete_text(scan: Scan) -> str:
    """The `incomplete` column: the units the scan's gaps left incomplete, as a JSON list."""
    units = incomplete_units(scan.gaps, scan.scope)
    return utf8_safe(json.dumps(list(units), ensure_ascii=False))


def _rules_text(scan: Scan) -> str | None:
    """The `rules` column: the ids of the rules the scan judged by, as a JSON list; None when
    the scan names none (a scan made without its rules' words: every rule, as before)."""
    if not scan.rules:
        return None
    return utf8_safe(json.dumps(sorted(scan.rules), ensure_ascii=False))


def _rules_of(text: object) -> frozenset[str] | None:
    """The rules a scan judged by, from its `rules` column; None (every rule) when it did not
    keep them. A list that cannot be read (edited by hand) names none: unknown, as an
    unreadable scope or unit list is, so a risk gone from that scan is not resolved."""
    if text is None:
        return None
    try:
        ids = json.loads(str(text))
    except (ValueError, RecursionError):
        return frozenset()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return frozenset()
    return frozenset(ids)


def _incomplete_of(complete: object, text: object) -> tuple[str, ...] | None:
    """A scan's incomplete units from its `complete` and `incomplete` columns: none for a
    complete scan, None (every unit) for a partial one that did not keep them, or whose list
    is not one (edited by hand: unknown is not safe)."""
    if complete:
        return ()
    try:
        units = None if text is None else json.loads(str(text))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json recurses
        return None
    if not isinstance(units, list) or not units or not all(isinstance(u, str) for u in units):
        return None  # a partial scan's gaps touch at least one unit
    return tuple(units)


class _Scopes:
    """The scopes of a store's scans and the units their gaps left incomplete, each read once:
    whether a scan looked where an asset is (`covers`), and whether it saw that unit whole
    (`saw`), for Python and for SQL (`sovscan_covers(scan_id, unit, asset_id)`,
    `sovscan_saw(scan_id, unit, asset_id)`), so a diff and `--fail-on-new` judge alike."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._read: dict[str, tuple[ScanScope | None, UnitGaps | None, frozenset[str] | None]] = {}
        self._documented: dict[str, frozenset[str] | None] = {}  # `judged`, for older scans
        connection.create_function("sovscan_covers", 3, self._sql_covers)
        connection.create_function("sovscan_saw", 3, self._sql_saw)
        connection.create_function("sovscan_judged", 2, self._sql_judged)

    def _of(self, scan_id: str) -> tuple[ScanScope | None, UnitGaps | None, frozenset[str] | None]:
        if scan_id not in self._read:
            row = self._connection.execute(
                "SELECT scope, complete, incomplete, rules FROM scans WHERE id = ?", (scan_id,)
            ).fetchone()
            text, complete, incomplete, rules = (None, 0, None, None) if row is None else row
            try:
                parsed = None if text is None else scope_from_document(json.loads(text))
            except (ValueError, RecursionError):
                parsed = None
            units = _incomplete_of(complete, incomplete)
            gaps = None if units is None else UnitGaps(units)
            self._read[scan_id] = (parsed, gaps, _rules_of(rules))
        return self._read[scan_id]

    def judged(self, scan_id: str, rule_id: str) -> bool:
        """Whether scan `scan_id` judged by rule `rule_id`: one that did not tells nothing of its
        findings. A scan recorded before the `rules` column has them in its stored document (the
        report's `rules`); always, for one whose document names none."""
        rules = self._of(scan_id)[2]
        if rules is None:
            if scan_id not in self._documented:
                self._documented[scan_id] = self._rules_in_document(scan_id)
            rules = self._documented[scan_id]
        return rules is None or rule_id in rules

    def _rules_in_document(self, scan_id: str) -> frozenset[str] | None:
        """The rule ids of a scan's stored document (read only for a scan whose `rules` column
        is NULL, once); None when it names none, frozenset() when it cannot be read."""
        try:
            row = self._connection.execute(
                # One parse of the document (it can be hundreds of MB); no `rules`: no rows.
                "SELECT json_group_array(r.key) FROM scans s, json_each(s.document, '$.rules') r"
                " WHERE s.id = ?",
                (scan_id,),
            ).fetchone()
        except sqlite3.Error:
            return frozenset()  # a document edited into something else: it tells nothing
        rules = None if row is None else _rules_of(row[0])
        return rules or None  # none named: a scan made without its rules' words

    def of(self, scan_id: str) -> ScanScope | None:
        """A scan's scope; None when unknown (a scan recorded before scopes were kept)."""
        return self._of(scan_id)[0]

    def covers(self, scan_id: str, unit: str | None, asset_id: str) -> bool:
        """Whether scan `scan_id` looked where the asset is: its stored `unit`, else the one its
        id gives (an asset recorded before units were kept)."""
        return covers(self.of(scan_id), unit if unit is not None else scope_unit(asset_id))

    def saw(self, scan_id: str, unit: str | None, asset_id: str) -> bool:
        """Whether no gap of scan `scan_id` touched the asset's unit (read as for `covers`):
        always for a complete scan; never for a partial scan recorded before sovscan kept
        which units its gaps touched, nor, in a partial scan, for an asset of no unit."""
        gaps = self._of(scan_id)[1]
        if gaps is None:
            return False
        return not gaps.touches(unit if unit is not None else scope_unit(asset_id))

    def whole(self, scan_id: str, unit: str | None, asset_id: str) -> bool:
        """Whether scan `scan_id` covered the asset's unit and saw it whole: what it lacks
        there is gone."""
        return self.covers(scan_id, unit, asset_id) and self.saw(scan_id, unit, asset_id)

    def _sql_covers(self, scan_id: object, unit: object, asset_id: object) -> int:
        return int(self.covers(str(scan_id), None if unit is None else str(unit), str(asset_id)))

    def _sql_judged(self, scan_id: object, rule_id: object) -> int:
        return int(self.judged(str(scan_id), str(rule_id)))

    def _sql_saw(self, scan_id: object, unit: object, asset_id: object) -> int:
        return int(self.saw(str(scan_id), None if unit is None else str(unit), str(asset_id)))


def _write_document(
    connection: sqlite3.Connection, rowid: int | None, pieces: Iterable[str]
) -> None:
    if rowid is None:  # sqlite3 always sets it after an INSERT
        raise sqlite3.OperationalError("no row id for the scan")
    with connection.blobopen("scans", "document", rowid) as blob:
        for piece in pieces:
            blob.write(piece.encode("utf-8"))


def verify_store(path: Path, head: str | None = None) -> chain.ChainCheck:
    """Recompute the store's hash chain (sovscan.chain.verify_chain); `head`, a digest recorded
    earlier apart from the store, must still be in it."""
    with open_store(path) as connection:
        return chain.verify_chain(connection, head)


def list_scans(path: Path, institution: str | None = None) -> list[StoredScan]:
    """Scans in the store, oldest first, optionally for one institution. Raises HistoryError,
    as `diff_scans` does, naming the institutions held when the store holds scans but none of
    `institution` (misspelt or renamed); an empty store is an empty list."""
    with open_store(path) as connection:
        rows = connection.execute(
            _STORED_SCANS, {"id": None, "institution": institution}
        ).fetchall()
        if institution is not None and not rows and _holds_a_scan(connection):
            _check_held(connection, path, institution)
    return [_stored_scan(row) for row in rows]


# StoredScans (of one :id, or of one :institution, or all), oldest first: their risks
# unwaived, and waived (NULL when a risk was recorded before waivers were kept: unknown).
_STORED_SCANS = (
    "SELECT s.id, s.institution, s.started_at, s.score, s.complete,"
    " (SELECT COUNT(*) FROM findings f WHERE f.scan_id = s.id AND f.status = 'risk'"
    "  AND f.waived IS NOT 1),"
    " (SELECT CASE WHEN COUNT(*) = COUNT(f.waived) THEN COALESCE(SUM(f.waived IS 1), 0) END"
    "  FROM findings f"
    "  WHERE f.scan_id = s.id AND f.status = 'risk'),"
    " s.incomplete"
    " FROM scans s WHERE (:id IS NULL OR s.id = :id)"
    " AND (:institution IS NULL OR s.institution = :institution)"
    " ORDER BY s.started_at, s.id"
)


def _stored_scan(row: Sequence[Any]) -> StoredScan:
    waived = None if row[6] is None else int(row[6])
    incomplete = _incomplete_of(row[4], row[7])
    return StoredScan(row[0], row[1], row[2], row[3], bool(row[4]), row[5], waived, incomplete)


def load_document(path: Path, scan_id: str) -> dict[str, Any]:
    """The JSON document of a stored scan (a unique id prefix is enough)."""
    with open_store(path) as connection:
        row = _find(connection, path, scan_id)
        document: dict[str, Any] = json.loads(
            connection.execute("SELECT document FROM scans WHERE id = ?", (row,)).fetchone()[0]
        )
    return document


def diff_scans(
    path: Path,
    old_id: str | None = None,
    new_id: str | None = None,
    *,
    institution: str | None = None,
) -> ScanDiff:
    """What changed between two stored scans. By default the newest scan (`new_id`, else the
    newest of `institution`, else the newest of the store) against the baseline `--fail-on-new`
    reads from: the latest earlier scan of its institution that is complete or kept which units
    its gaps touched (`_baseline`), else the latest earlier scan. Where the older scan did not
    see a unit whole, the latest earlier scan that did stands in, unit by unit.
    Raises HistoryError when there are not two scans to compare, when the store holds no scan
    of `institution`, or when a scan given is not of it."""
    with open_store(path) as connection:
        if institution is not None:
            _check_held(connection, path, institution)
        new_full = (
            _find(connection, path, new_id) if new_id else _latest(connection, path, institution)
        )
        old_given = _find(connection, path, old_id) if old_id else None
        if institution is not None:
            _check_of(connection, path, institution, old_given, new_full)
        institution = _institution_of(connection, new_full)  # the one asked for, if any
        baseline = None if old_id else _baseline(connection, institution, new_full)
        if old_given is not None:
            old_full = old_given
        else:
            old_full = baseline or _latest(connection, path, institution, before=new_full)
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
        # What a partial older scan did not see in a unit stands as the latest earlier scan
        # that saw that unit whole saw it (`_Pair.last_whole`).
        pair = _Pair(
            connection,
            _Scopes(connection),
            old,
            new,
            _rows(connection, _ASSETS_OF_SCAN, old.id),
            _rows(connection, _ASSETS_OF_SCAN, new.id),
        )
        findings = _finding_changes(pair)
        assets = _asset_changes(pair)
        passed_over = () if old_id else _partial_between(connection, old, new)
        old_scope, new_scope = pair.scopes.of(old.id), pair.scopes.of(new.id)
        lost = () if old_scope is None or new_scope is None else dropped(old_scope, new_scope)
        settings = _settings_changed(connection, old.id, new.id)
    return ScanDiff(
        old, new, findings, assets, passed_over, not old_id and baseline is None, lost, settings
    )


# What judged a scan, as its stored document records it: (label, JSON path).
_SETTINGS = (
    ("profile", "$.profile"),
    ("allowed locations", "$.institution.allowed_locations"),
    ("home jurisdictions", "$.institution.home_jurisdictions"),
    ("default classification", "$.institution.default_classification"),
    ("frameworks", "$.institution.frameworks"),
    ("sector", "$.institution.sector"),
    ("rules (digest)", "$.digests.rules"),
    ("offline data (digest)", "$.digests.data"),
)


def _settings_changed(connection: sqlite3.Connection, old_id: str, new_id: str) -> tuple[str, ...]:
    """The settings of `_SETTINGS` that differ between two stored scans, as "label: old ->
    new" (a list as its items joined by ", ", a digest cut to 12 characters, none as "none");
    one line saying so when a scan's document cannot be read."""
    old, new = _settings_of(connection, old_id), _settings_of(connection, new_id)
    if old is None or new is None:
        unread = old_id if old is None else new_id
        return (f"settings: not known (the stored document of scan {unread} cannot be read)",)
    return tuple(
        f"{label}: {_setting(before, label)} -> {_setting(after, label)}"
        for (label, _), before, after in zip(_SETTINGS, old, new, strict=True)
        if before != after
    )


def _settings_of(connection: sqlite3.Connection, scan_id: str) -> list[Any] | None:
    """A stored scan's `_SETTINGS` values (None for one it lacks); None when its document cannot
    be read. One json_extract of every path: the document is parsed once, not once a path (a
    national scan's is hundreds of MB), and its answer, a JSON array, tells a list from a string."""
    paths = ", ".join(f"'{path}'" for _, path in _SETTINGS)
    query = f"SELECT json_extract(document, {paths}) FROM scans WHERE id = ?"  # noqa: S608 - constant fragments only
    try:
        row = connection.execute(query, (scan_id,)).fetchone()
        values = None if row is None or row[0] is None else json.loads(row[0])
    except (sqlite3.Error, ValueError, RecursionError):
        return None
    if not isinstance(values, list) or len(values) != len(_SETTINGS):
        return None
    return values


def _setting(value: object, label: str) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "none"
    text = str(value)
    if not label.endswith("(digest)"):
        return text
    # A profile's rules are "<digest>+<profile>": the digest cut, the profile kept.
    digest, plus, rest = text.partition("+")
    return f"{digest[:12]}{plus}{rest}"


def scope_dropped_since(path: Path, scan_id: str) -> tuple[StoredScan | None, tuple[str, ...]]:
    """The scan of the institution before `scan_id` that `diff` compares it with by default
    (`_baseline`), and what its scope covered that `scan_id`'s does not (empty when either
    scope is unknown, or none is before)."""
    with open_store(path) as connection:
        institution = _institution_of(connection, scan_id)
        previous = _baseline(connection, institution, scan_id)
        if previous is None:
            return None, ()
        scopes = _Scopes(connection)
        before, now = scopes.of(previous), scopes.of(scan_id)
        stored = _stored(connection, previous)
    if before is None or now is None:
        return stored, ()
    return stored, dropped(before, now)


def _institution_of(connection: sqlite3.Connection, scan_id: str) -> str:
    return str(
        connection.execute("SELECT institution FROM scans WHERE id = ?", (scan_id,)).fetchone()[0]
    )


def _named(institution: str) -> str:
    """An institution's name for a one-line error: quoted, escaped for the terminal and cut."""
    return repr(terminal_safe(institution, 80))


def _holds_a_scan(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM scans LIMIT 1").fetchone() is not None


def _check_held(connection: sqlite3.Connection, path: Path, institution: str) -> None:
    """The store holds a scan of `institution`; else an error naming the institutions it holds
    (a misspelt or renamed institution)."""
    if connection.execute(
        "SELECT 1 FROM scans WHERE institution = ? LIMIT 1", (institution,)
    ).fetchone():
        return
    held = [
        str(row[0])
        for row in connection.execute("SELECT DISTINCT institution FROM scans ORDER BY 1")
    ]
    if held:
        more = f" and {len(held) - 5} more (sovscan history lists them)" if len(held) > 5 else ""
        holds = f"it holds scans of {', '.join(_named(name) for name in held[:5])}{more}"
    else:
        holds = "it holds no scan"
    raise HistoryError(f"{path}: the history store holds no scan of {_named(institution)}; {holds}")


def _check_of(
    connection: sqlite3.Connection, path: Path, institution: str, *scan_ids: str | None
) -> None:
    """Each scan given (None: not given) is of `institution`."""
    for scan_id in scan_ids:
        if scan_id is None:
            continue
        its = _institution_of(connection, scan_id)
        if its != institution:
            raise HistoryError(
                f"{path}: scan {scan_id} is of {_named(its)}, not of {_named(institution)}"
            )


def new_risk_keys(path: Path, new_id: str) -> set[str] | None:
    """Keys of the findings that are risks in scan `new_id` and were not at their last told
    status before it; None when the institution has no earlier scan that is complete or kept
    which units its gaps touched (every risk is new). The same rule as `diff`'s default
    comparison, so the two agree whenever such a scan exists (without one, `diff` compares
    with a partial scan and says so).

    A finding's last told status is its status in the latest earlier scan that saw the
    finding's unit whole (`sovscan.scope`: a domain, an AWS account or region, a SaaS
    endpoint) and could tell it: one where no gap touched that unit, and the finding was risk
    or ok there, or absent (gone) though the scan's scope covered its unit. A scan where it was
    unknown is passed over, and so are scans with a gap in its unit (a scan recorded before
    sovscan kept units: any gap), and scans whose scope left its asset out: what a scan could
    not see, or did not look at, must not look new after an outage or a narrowed scope, and a
    risk first seen in a unit with a gap must still be new at the next scan that sees the unit
    whole. A gap elsewhere passes nothing over: one domain that never answers does not keep
    every other body's risks new.

    A risk that a waiver accepted at its last told status and none accepts now is new too: its
    waiver lapsed or was removed, so it is newly unaccepted. Asked in SQL, so no scan is
    loaded."""
    with open_store(path) as connection:
        _Scopes(connection)  # sovscan_covers, sovscan_saw
        asked = _scan_asked(connection, new_id)
        if _baseline(connection, str(asked["institution"]), new_id) is None:
            return None
        rows = connection.execute(
            "SELECT n.key FROM findings n"  # noqa: S608 - a constant fragment, no input
            " LEFT JOIN assets a ON a.scan_id = n.scan_id AND a.asset_id = n.asset_id"
            f" LEFT JOIN findings t ON t.scan_id = {_LAST_TOLD_SCAN} AND t.key = n.key"
            " WHERE n.scan_id = :scan_id AND n.status = 'risk'"
            " AND NOT COALESCE(t.status = 'risk' AND NOT (t.waived IS 1 AND n.waived IS 0), 0)",
            asked,
        ).fetchall()
    return {str(row[0]) for row in rows}


@dataclass(frozen=True, slots=True)
class Relabel:
    """A risk at its last told status that is ok in a newer scan whose asset's classification
    changed since: `diff` lists it as relabelled."""

    key: str
    rule_id: str
    asset_id: str
    severity: str  # the risk's, at its last told status
    old_classification: str
    new_classification: str
    waived: bool  # a waiver accepted the risk at its last told status


def relabelled_risks(path: Path, new_id: str) -> tuple[Relabel, ...]:
    """The findings ok in scan `new_id` that were risks at their last told status (as
    `new_risk_keys` reads it), their asset labelled otherwise then: what the default `diff`
    lists as relabelled. Empty when no earlier scan told them."""
    with open_store(path) as connection:
        _Scopes(connection)  # sovscan_covers, sovscan_saw
        rows = connection.execute(
            "SELECT n.key, n.rule_id, n.asset_id, t.severity, ta.classification,"  # noqa: S608 - a constant fragment, no input
            " a.classification, t.waived IS 1 FROM findings n"
            " JOIN assets a ON a.scan_id = n.scan_id AND a.asset_id = n.asset_id"
            f" JOIN findings t ON t.scan_id = {_LAST_TOLD_SCAN} AND t.key = n.key"
            " JOIN assets ta ON ta.scan_id = t.scan_id AND ta.asset_id = n.asset_id"
            " WHERE n.scan_id = :scan_id AND n.status = 'ok' AND t.status = 'risk'"
            " AND ta.classification != a.classification"
            " ORDER BY n.asset_id, n.rule_id, n.key",
            _scan_asked(connection, new_id),
        ).fetchall()
    return tuple(
        Relabel(str(k), str(rule), str(asset), str(severity), str(old), str(new), bool(waived))
        for k, rule, asset, severity, old, new, waived in rows
    )


# The latest scan before :scan_id (of :institution, started :started_at) that saw the unit of
# finding `n` (whose asset's row in :scan_id is `a`) whole and could tell it: no gap touched
# the unit there (`s.complete = 1` answers without asking Python), and the finding was risk or
# ok, or absent though that scan's scope covered its unit and it judged by the finding's rule.
# Unknown findings tell nothing. NULL when none. `_TOLD_ROW` asks the same for the Python diff.
_LAST_TOLD_SCAN = (
    "(SELECT s.id FROM scans s LEFT JOIN findings t ON t.scan_id = s.id AND t.key = n.key"
    " WHERE s.institution = :institution"
    " AND (s.started_at, s.id) < (:started_at, :scan_id)"
    " AND (s.complete = 1 OR sovscan_saw(s.id, a.scope, n.asset_id))"
    " AND (t.status != 'unknown'"
    "  OR (t.status IS NULL AND sovscan_covers(s.id, a.scope, n.asset_id)"
    "   AND sovscan_judged(s.id, n.rule_id)))"
    " ORDER BY s.started_at DESC, s.id DESC LIMIT 1)"
)


def _scan_asked(connection: sqlite3.Connection, scan_id: str) -> dict[str, str]:
    """`_LAST_TOLD_SCAN`'s parameters for scan `scan_id`."""
    institution, started_at = connection.execute(
        "SELECT institution, started_at FROM scans WHERE id = ?", (scan_id,)
    ).fetchone()
    return {"scan_id": scan_id, "institution": institution, "started_at": started_at}


def _baseline(connection: sqlite3.Connection, institution: str, scan_id: str) -> str | None:
    """The latest scan of `institution` before `scan_id` that tells what it saw unit by unit:
    a complete one, or a partial one that kept which units its gaps touched. A partial scan
    recorded before sovscan kept them tells nothing (every unit incomplete): passed over."""
    row = connection.execute(
        "SELECT id FROM scans WHERE institution = ? AND (complete = 1 OR incomplete IS NOT NULL)"
        " AND (started_at, id) < (SELECT started_at, id FROM scans WHERE id = ?)"
        " ORDER BY started_at DESC, id DESC LIMIT 1",
        (institution, scan_id),
    ).fetchone()
    return None if row is None else str(row[0])


_FINDINGS_OF_SCAN = (
    "SELECT key, rule_id, asset_id, status, severity, message, waived, waiver_owner,"
    " waiver_expires FROM findings WHERE scan_id = ?"
)
_ASSETS_OF_SCAN = (
    "SELECT asset_id, kind, place, jurisdictions, classification, scope, operator FROM assets"
    " WHERE scan_id = ?"
)
_ASSET_OF_SCAN = _ASSETS_OF_SCAN + " AND asset_id = ?"


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
    row = connection.execute(_STORED_SCANS, {"id": scan_id, "institution": None})
    return _stored_scan(row.fetchone())


Rows = dict[str, Sequence[Any]]  # a scan's findings or assets by key or asset id


def _rows(connection: sqlite3.Connection, query: str, *params: str) -> Rows:
    return {r[0]: r for r in connection.execute(query, params)}


def _partial_between(
    connection: sqlite3.Connection, old: StoredScan, new: StoredScan
) -> tuple[StoredScan, ...]:
    rows = connection.execute(
        "SELECT id FROM scans WHERE institution = ? AND complete = 0 AND incomplete IS NULL"
        " AND (started_at, id) > (?, ?) AND (started_at, id) < (?, ?) ORDER BY started_at, id",
        (old.institution, old.started_at, old.id, new.started_at, new.id),
    ).fetchall()
    return tuple(_stored(connection, str(row[0])) for row in rows)


@dataclass(frozen=True)
class _Pair:
    """The two scans a diff compares, with what both sides' judgements read."""

    connection: sqlite3.Connection
    scopes: _Scopes
    old: StoredScan
    new: StoredScan
    old_assets: Rows
    new_assets: Rows
    # Units of assets neither scan has (read from an earlier scan's row), by asset id.
    units: dict[str, str] = field(default_factory=dict)
    # `last_whole`'s answers, by unit.
    _whole_before: dict[str | None, str | None] = field(default_factory=dict)

    def unit(self, asset_id: str) -> str | None:
        """The scope unit an asset lies in, as the newer scan, else the older, recorded it."""
        for assets in (self.new_assets, self.old_assets):
            row = assets.get(asset_id)
            if row is not None and row[5] is not None:
                return str(row[5])
        return self.units.get(asset_id) or scope_unit(asset_id)

    def covered(self, scan: StoredScan, asset_id: str) -> bool:
        """Whether `scan`'s scope covered where the asset is."""
        return self.scopes.covers(scan.id, self.unit(asset_id), asset_id)

    def saw(self, scan: StoredScan, asset_id: str) -> bool:
        """Whether no gap of `scan` touched the asset's unit."""
        return self.scopes.saw(scan.id, self.unit(asset_id), asset_id)

    def whole(self, scan: StoredScan, asset_id: str) -> bool:
        """Whether `scan` covered the asset's unit and saw it whole: what it lacks there is
        gone."""
        return self.scopes.whole(scan.id, self.unit(asset_id), asset_id)

    def last_whole(self, asset_id: str) -> str | None:
        """The latest scan of the institution before the older scan that covered the asset's
        unit and saw it whole; None when none did. What the older scan did not see in that
        unit stands as this scan saw it."""
        unit = self.unit(asset_id)
        if unit not in self._whole_before:
            rows = self.connection.execute(
                "SELECT id FROM scans WHERE institution = ? AND (started_at, id) < (?, ?)"
                " ORDER BY started_at DESC, id DESC",
                (self.old.institution, self.old.started_at, self.old.id),
            )
            self._whole_before[unit] = next(
                (str(r[0]) for r in rows if self.scopes.whole(str(r[0]), unit, asset_id)), None
            )
        return self._whole_before[unit]

    def gap_in(self, asset_id: str) -> str:
        """A gap in the asset's unit, in words, for a reason: "a gap in domain a.example"."""
        unit = self.unit(asset_id)
        return NO_UNIT_GAP if unit is None else f"a gap in {describe_unit(unit)}"

    def asset(self, scan_id: str, asset_id: str) -> Sequence[Any] | None:
        """The asset's row in scan `scan_id`."""
        if scan_id == self.new.id:
            return self.new_assets.get(asset_id)
        if scan_id == self.old.id:
            return self.old_assets.get(asset_id)
        row = self.connection.execute(_ASSET_OF_SCAN, (scan_id, asset_id)).fetchone()
        return None if row is None else tuple(row)

    def told_new(self, after: Sequence[Any] | None, asset_id: str, rule_id: str) -> bool:
        """Whether the newer scan told this finding's status: risk or ok, or absent (gone)
        though it covered the asset's unit, saw it whole and judged by the finding's rule. An
        unknown finding, or one it lacks in a unit a gap touched or its scope left out, or by
        a rule it did not judge by, tells nothing."""
        if after is not None:
            return bool(after[3] != Status.UNKNOWN)
        return self.whole(self.new, asset_id) and self.scopes.judged(self.new.id, rule_id)

    def told_old(self, before: Sequence[Any] | None, asset_id: str, rule_id: str) -> bool:
        """Whether the older scan told this finding's status as `--fail-on-new` reads a scan
        (`_LAST_TOLD_SCAN`): no gap touched its unit, and it was risk or ok there, or absent
        though the scan's scope covered its unit and it judged by the finding's rule."""
        if not self.saw(self.old, asset_id):
            return False
        if before is not None:
            return bool(before[3] != Status.UNKNOWN)
        return self.covered(self.old, asset_id) and self.scopes.judged(self.old.id, rule_id)

    def older_gap(self, asset_id: str, told_in: str | None) -> str:
        """OLDER_GAP (or OLDER_GAP_NEVER) for an asset whose unit a gap of the older scan
        touched, its status read from scan `told_in`."""
        gap = self.gap_in(asset_id)
        if told_in is None:
            return OLDER_GAP_NEVER.format(gap=gap)
        return OLDER_GAP.format(gap=gap, scan=told_in, date=_started(self.connection, told_in))


# A finding (key, then unit and asset id twice, then institution, started_at and id of a scan)
# in the latest scan before that scan that saw its unit whole and could tell it, and that
# scan's id: a row of NULLs but the id when it was gone from that scan, no row when no such scan
# exists. Unknown findings tell nothing, nor does the absence of one from a scan whose scope
# left its asset out. `_LAST_TOLD_SCAN` asks the same for `new_risk_keys`.
_TOLD_ROW = (
    "SELECT t.key, t.rule_id, t.asset_id, t.status, t.severity, t.message, t.waived,"
    " t.waiver_owner, t.waiver_expires, s.id FROM scans s"
    " LEFT JOIN findings t ON t.scan_id = s.id AND t.key = ?"
    " WHERE s.institution = ? AND (s.started_at, s.id) < (?, ?)"
    " AND (s.complete = 1 OR sovscan_saw(s.id, ?, ?))"
    " AND (t.status != 'unknown'"
    "  OR (t.status IS NULL AND sovscan_covers(s.id, ?, ?) AND sovscan_judged(s.id, ?)))"
    " ORDER BY s.started_at DESC, s.id DESC LIMIT 1"
)


def _told_before(
    pair: _Pair, key: str, asset_id: str, rule_id: str
) -> tuple[Sequence[Any] | None, str | None]:
    """The finding as the latest scan before the older scan that saw its unit whole and could
    tell it had it (None when it was gone there), and that scan's id (None when no such scan
    exists)."""
    scan, unit = pair.old, pair.unit(asset_id)
    row = pair.connection.execute(
        _TOLD_ROW,
        (
            key,
            scan.institution,
            scan.started_at,
            scan.id,
            unit,
            asset_id,
            unit,
            asset_id,
            rule_id,
        ),
    ).fetchone()
    if row is None:
        return None, None
    return (None if row[0] is None else tuple(row)), str(row[9])


def _missed_in_gaps(pair: _Pair) -> dict[str, tuple[str, str]]:
    """Findings the older scan lacks in a unit one of its gaps touched (its scope covered it),
    that the newer scan lacks too though it saw that unit whole, and that were risks in an
    earlier scan: perhaps resolved meanwhile (`_told_change` reads their last told status). By
    key, their asset and rule ids; their units go to `pair.units`."""
    if pair.old.complete:
        return {}
    rows = pair.connection.execute(
        "SELECT f.key, f.asset_id, a.scope, f.rule_id FROM findings f"
        " JOIN scans s ON s.id = f.scan_id"
        " LEFT JOIN assets a ON a.scan_id = f.scan_id AND a.asset_id = f.asset_id"
        " WHERE s.institution = ? AND (s.started_at, s.id) < (?, ?) AND f.status = 'risk'"
        " AND NOT EXISTS (SELECT 1 FROM findings o WHERE o.scan_id = ? AND o.key = f.key)"
        " AND NOT EXISTS (SELECT 1 FROM findings n WHERE n.scan_id = ? AND n.key = f.key)"
        " ORDER BY s.started_at DESC, s.id DESC",
        (pair.old.institution, pair.old.started_at, pair.old.id, pair.old.id, pair.new.id),
    )
    missed: dict[str, tuple[str, str]] = {}
    looked: set[str] = set()
    for key, asset_id, unit, rule_id in rows:
        if key in looked:
            continue  # its latest earlier row decides
        looked.add(key)
        if unit is not None and asset_id not in pair.new_assets and asset_id not in pair.old_assets:
            pair.units.setdefault(str(asset_id), str(unit))
        old_missed = pair.covered(pair.old, asset_id) and not pair.saw(pair.old, asset_id)
        if old_missed and pair.whole(pair.new, asset_id):
            missed[str(key)] = (str(asset_id), str(rule_id))
    return missed


def _finding_changes(pair: _Pair) -> tuple[FindingChange, ...]:
    """Each finding's change from what the older scan told to what the newer one tells. Where
    the older scan told nothing (unknown, in a unit one of its gaps touched, or out of its
    scope), its last told status stands in, as for `--fail-on-new`: an outage, an unknown or a
    narrowed scope makes nothing look new and hides no resolution. Where the newer scan tells
    nothing (unknown, absent from a unit one of its gaps touched, or out of its scope), a told
    risk is "unseen", with the reason; absent from a unit it saw whole, it is gone."""
    connection, old_scan, new_scan = pair.connection, pair.old, pair.new
    institution = old_scan.institution
    old = _rows(connection, _FINDINGS_OF_SCAN, old_scan.id)
    new = _rows(connection, _FINDINGS_OF_SCAN, new_scan.id)
    # Each finding's asset and rule ids, by key.
    ids = {key: (str(row[2]), str(row[1])) for rows in (old, new) for key, row in rows.items()}
    for key, missed in _missed_in_gaps(pair).items():
        ids.setdefault(key, missed)
    changes = []
    for key in sorted(ids):
        before, after = old.get(key), new.get(key)
        asset_id, rule_id = ids[key]
        passed = None
        if before is not None and not pair.saw(old_scan, asset_id):
            # A gap touched its unit in the older scan: its row there is not its told status
            # (`--fail-on-new` passes that scan over for it), and its last told status stands
            # in, shown as the older side (`_told_change` says so in its reason).
            before, passed = None, before
        differs = before is not None and after is not None and _finding_differs(before, after)
        in_new_scope = after is not None or pair.covered(new_scan, asset_id)
        reason = None
        relabel: Aspect | None = None
        if not pair.told_new(after, asset_id, rule_id):
            shown = before if before is not None else passed
            if shown is not None and shown[3] == Status.RISK:
                change = "unseen"  # the newer scan could not see, look or tell: not resolved
                reason = NOT_TOLD if after is not None else _not_seen(pair, asset_id)
                if not in_new_scope:
                    reason = OUT_OF_SCOPE
                elif after is None and pair.whole(new_scan, asset_id):
                    reason = NOT_JUDGED
            elif differs:
                change = "changed"
            else:
                continue
            earlier = shown
        else:
            told = _told_change(pair, key, ids[key], before, after, differs, passed)
            if told is None:
                continue
            change, reason, earlier, relabel = told
        shown_before = before if before is not None else earlier
        row = after if after is not None else shown_before
        if row is None:  # unreachable: the key came from a scan that has it
            continue
        aspects: tuple[Aspect, ...] = ()
        if shown_before is not None and after is not None:
            # The older side's asset as the scan it is shown from saw it.
            older_row = shown_before is before or shown_before is passed
            told_in = old_scan.id if older_row else str(shown_before[9])
            old_asset = pair.asset(told_in, asset_id)
            new_asset = pair.asset(new_scan.id, asset_id)
            if old_asset is not None and new_asset is not None:
                aspects = _asset_aspects(old_asset, new_asset)
            if shown_before[4] != after[4]:
                aspects = (*aspects, Aspect("severity", shown_before[4], after[4]))
        if relabel is not None and relabel not in aspects:
            # Relabelled since the scan that last told the risk, not since the older scan.
            aspects = (relabel, *(a for a in aspects if a.what != "classification"))
        changes.append(
            FindingChange(
                change,
                key,
                row[1],
                row[2],
                None if shown_before is None else shown_before[3],
                None if after is None else after[3],
                row[4],
                row[5],
                _first_seen_risk(connection, key, institution),
                reason,
                None if shown_before is None else _waiver(shown_before),
                None if after is None else _waiver(after),
                aspects,
            )
        )
    # Read by asset, then rule: the keys are hashes, and their order means nothing to a reader.
    return tuple(sorted(changes, key=lambda c: (c.asset_id, c.rule_id, c.key)))


def _told_change(
    pair: _Pair,
    key: str,
    ids: tuple[str, str],
    before: Sequence[Any] | None,
    after: Sequence[Any] | None,
    differs: bool,
    passed: Sequence[Any] | None = None,
) -> tuple[str, str | None, Sequence[Any] | None, Aspect | None] | None:
    """A finding's change when the newer scan told its status: the change, its reason, the row
    its older status is read from (the older scan's, else the last told before it), and the
    relabel that explains a risk gone. None: nothing to list.

    `passed` is the older scan's row when a gap touched its unit there (then `before` is None):
    not its told status, so it makes nothing new; but a risk it showed that no earlier scan
    told, gone or ok in a newer scan that told it, is resolved (changed, when its asset was
    relabelled meanwhile: never a fix it cannot show)."""
    old_scan = pair.old
    asset_id, rule_id = ids  # the finding's asset and rule
    in_old_scope = before is not None or pair.covered(old_scan, asset_id)
    back_from = None
    gap_from: tuple[str | None] | None = None  # (the scan it was last told in,) after a gap
    if pair.told_old(before, asset_id, rule_id):
        earlier = before
    else:
        earlier, told_in = _told_before(pair, key, asset_id, rule_id)
        if not in_old_scope:
            back_from = told_in  # the older scan did not look there; this one did before
        elif not pair.saw(old_scan, asset_id):
            # A gap in its unit: the older scan's row, if any, is not its told status.
            gap_from = (told_in,)
    risk_before = earlier is not None and earlier[3] == Status.RISK
    risk_after = after is not None and after[3] == Status.RISK
    reason, relabel = None, None
    if risk_after and not risk_before:
        change = "new"
    elif risk_before and earlier is not None and not risk_after:
        told_in = old_scan.id if earlier is before else str(earlier[9])
        relabel = _relabel(pair, told_in, asset_id) if after is not None else None
        change = "resolved" if relabel is None else "relabelled"
    elif earlier is None and passed is not None and passed[3] == Status.RISK and not risk_after:
        # Seen a risk only by the older scan, with a gap in its unit: shown as it saw it.
        earlier = passed
        moved = _relabel(pair, old_scan.id, asset_id) if after is not None else None
        change = "resolved" if moved is None else "changed"
    elif earlier is not None and risk_before and _waiver_moved(earlier, after, 1, 0):
        change = "unaccepted"  # as `new_risk_keys` counts it
        reason = _waiver_gone(earlier, pair.new)
    elif risk_before and _waiver_moved(earlier, after, 0, 1):
        change = "accepted"
    elif differs:
        change = "changed"
    elif back_from is not None and risk_after:
        change = "back"  # a known risk again in view: not new, and listed so it is not missed
    else:
        return None
    if back_from is not None:
        back = _back_in_scope(pair.connection, back_from)
        reason = back if reason is None else f"{reason}; {back}"
    if gap_from is not None:
        gap = pair.older_gap(asset_id, gap_from[0])
        reason = gap if reason is None else f"{reason}; {gap}"
    return change, reason, earlier, relabel


def _not_seen(pair: _Pair, asset_id: str) -> str:
    """Why the newer scan lacks a finding or an asset it did not see: NOT_SEEN, naming the
    unit its gap touched when the scan kept it."""
    if pair.new.incomplete_units is None:
        return NOT_SEEN
    return NOT_SEEN_IN.format(gap=pair.gap_in(asset_id))


def _waiver_moved(
    earlier: Sequence[Any] | None, after: Sequence[Any] | None, was: int, now: int
) -> bool:
    """Whether the finding's waived column went from `was` to `now` (NULL, not kept, never
    moves)."""
    return earlier is not None and after is not None and earlier[6] == was and after[6] == now


def _back_in_scope(connection: sqlite3.Connection, scan_id: str) -> str:
    """BACK_IN_SCOPE for scan `scan_id`, the last that saw the asset or told the finding."""
    return BACK_IN_SCOPE.format(scan=scan_id, date=_started(connection, scan_id))


def _started(connection: sqlite3.Connection, scan_id: str) -> str:
    """The day scan `scan_id` started (not `_stored`, which counts its risks)."""
    row = connection.execute("SELECT started_at FROM scans WHERE id = ?", (scan_id,)).fetchone()
    return str(row[0])[:10]


def _relabel(pair: _Pair, told_in: str, asset_id: str) -> Aspect | None:
    """The classification change of the asset between scan `told_in` (the one that last told
    its risk) and the newer scan; None when both kept the same label, or either kept none."""
    before, after = pair.asset(told_in, asset_id), pair.asset(pair.new.id, asset_id)
    if before is None or after is None or before[4] is None or after[4] is None:
        return None
    return None if before[4] == after[4] else Aspect("classification", before[4], after[4])


def _finding_differs(before: Sequence[Any], after: Sequence[Any]) -> bool:
    """Status, severity, message or waiver changed; whether a waiver accepted a finding that a
    scan recorded before sovscan kept it (NULL) is not a change."""
    if tuple(before[3:6]) != tuple(after[3:6]):
        return True
    return before[6] is not None and after[6] is not None and before[6:9] != after[6:9]


def _waiver(row: Sequence[Any]) -> StoredWaiver | None:
    """The waiver that accepted a finding's row, if any."""
    if row[6] != 1:
        return None
    return StoredWaiver(str(row[7] or ""), str(row[8] or ""))


def _waiver_gone(earlier: Sequence[Any], new_scan: StoredScan) -> str:
    """Why a waiver no longer accepts its risk: it expired before the newer scan, or was
    taken out of the inventory before its expiry."""
    owner, expires = str(earlier[7] or "?"), str(earlier[8] or "?")
    if expires < new_scan.started_at[:10]:
        return f"waiver lapsed: expired {expires} (owner {owner})"
    return f"waiver removed: it ran until {expires} (owner {owner})"


def _first_seen_risk(connection: sqlite3.Connection, key: str, institution: str) -> str | None:
    row = connection.execute(
        "SELECT MIN(s.started_at) FROM findings f JOIN scans s ON s.id = f.scan_id"
        " WHERE f.key = ? AND f.status = 'risk' AND s.institution = ?",
        (key, institution),
    ).fetchone()
    return None if row[0] is None else str(row[0])


def _assets_missed_in_gaps(pair: _Pair) -> Rows:
    """The assets the older scan lacks in units one of its gaps touched (its scope covered
    them), as the latest earlier scan that saw each unit whole had them (`_Pair.last_whole`),
    that scan's id an eighth column: an outage makes nothing look new or removed."""
    if pair.old.complete:
        return {}
    rows = pair.connection.execute(
        "SELECT a.asset_id, a.scope FROM assets a JOIN scans s ON s.id = a.scan_id"
        " WHERE s.institution = ? AND (s.started_at, s.id) < (?, ?)"
        " AND NOT EXISTS (SELECT 1 FROM assets o WHERE o.scan_id = ? AND o.asset_id = a.asset_id)"
        " ORDER BY s.started_at DESC, s.id DESC",
        (pair.old.institution, pair.old.started_at, pair.old.id, pair.old.id),
    )
    by_scan: dict[str, set[str]] = {}
    looked: set[str] = set()
    for asset_id, unit in rows:
        if asset_id in looked:
            continue  # its latest earlier row says its unit
        looked.add(asset_id)
        if unit is not None and asset_id not in pair.new_assets:
            pair.units.setdefault(str(asset_id), str(unit))
        if not pair.covered(pair.old, asset_id) or pair.saw(pair.old, asset_id):
            continue  # out of the older scan's scope ("back"), or gone when it looked
        base = pair.last_whole(asset_id)
        if base is not None:
            by_scan.setdefault(base, set()).add(str(asset_id))
    earlier: Rows = {}
    for base, wanted in by_scan.items():
        for row in pair.connection.execute(_ASSETS_OF_SCAN, (base,)):
            if row[0] in wanted:
                earlier[str(row[0])] = (*row, base)
    return earlier


def _asset_changes(pair: _Pair) -> tuple[AssetChange, ...]:
    """Each asset's change; an asset the newer scan did not look for (out of its scope) or
    could not see (a gap touched its unit) is "unseen", never "removed"."""
    connection, old_scan, new_scan = pair.connection, pair.old, pair.new
    institution = old_scan.institution
    old, new = pair.old_assets, pair.new_assets
    # Where a gap of the older scan touched a unit, the older side is read from the latest
    # earlier scan that saw the unit whole: an outage makes nothing look new or removed.
    earlier = _assets_missed_in_gaps(pair)
    changes = []
    for asset_id in sorted(old.keys() | new.keys() | earlier.keys()):
        before, after = old.get(asset_id) or earlier.get(asset_id), new.get(asset_id)
        stood_in = None if asset_id in old or before is None else str(before[7])
        seen = None
        if before is None and after is not None and not pair.covered(old_scan, asset_id):
            # Read as last seen: its `was` columns and what changed while it was out of view.
            before = seen = _seen_before(pair, asset_id)
        aspects = _asset_aspects(before, after) if before and after else ()
        if before and after and not aspects and seen is None:
            continue
        reason = None
        if seen is not None:
            change, reason = "back", _back_in_scope(connection, str(seen[7]))
        elif before is None:
            change = "new"
            if not pair.covered(old_scan, asset_id):
                reason = OUT_OF_OLDER_SCOPE  # perhaps there all along: the older scan did not look
            elif not pair.saw(old_scan, asset_id) and pair.last_whole(asset_id) is None:
                reason = pair.older_gap(asset_id, None)  # perhaps there all along too
        elif after is not None:
            change = "changed"
        elif not pair.covered(new_scan, asset_id):
            change, reason = "unseen", OUT_OF_SCOPE
        elif pair.saw(new_scan, asset_id):
            # Also when only an earlier scan had it: the newer scan looked at its unit whole,
            # as the findings side says when it calls the asset's risks resolved.
            change = "removed"
        elif asset_id not in old:
            continue  # neither the older scan nor the newer one saw its unit whole
        else:
            change, reason = "unseen", _not_seen(pair, asset_id)
        if stood_in is not None and change in ("changed", "removed"):
            reason = pair.older_gap(asset_id, stood_in)
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
                before[4] if before else None,
                after[4] if after else None,
                reason,
                aspects,
            )
        )
    return tuple(changes)


def _seen_before(pair: _Pair, asset_id: str) -> Sequence[Any] | None:
    """The asset's row in the latest scan of the institution before the older scan that had it,
    and that scan's id (an eighth column); None when none had it."""
    old = pair.old
    row = pair.connection.execute(
        "SELECT a.asset_id, a.kind, a.place, a.jurisdictions, a.classification, a.scope,"
        " a.operator, s.id FROM assets a JOIN scans s ON s.id = a.scan_id"
        " WHERE a.asset_id = ? AND s.institution = ? AND (s.started_at, s.id) < (?, ?)"
        " ORDER BY s.started_at DESC, s.id DESC LIMIT 1",
        (asset_id, old.institution, old.started_at, old.id),
    ).fetchone()
    return None if row is None else tuple(row)


def _asset_aspects(before: Sequence[Any], after: Sequence[Any]) -> tuple[Aspect, ...]:
    """What differs between two rows of one asset: classification, operator, place and
    jurisdictions. A classification or an operator a scan recorded before sovscan kept it
    (NULL) is not a change; an unknown place, jurisdiction or operator is None."""
    aspects = []
    for what, index in (("classification", 4), ("operator", 6), ("place", 2), ("jurisdictions", 3)):
        old, new = before[index], after[index]
        if old == new or (what in _KEPT_LATER and (old is None or new is None)):
            continue
        if what == "operator":
            old, new = old or None, new or None  # '' is unknown
        aspects.append(Aspect(what, old, new))
    return tuple(aspects)


_KEPT_LATER = frozenset({"classification", "operator"})  # NULL in rows recorded before
