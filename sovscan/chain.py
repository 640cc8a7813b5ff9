"""The history store's hash chain: each recorded scan keeps a SHA-256 digest of its content (the
scan row, its findings and its assets, in a stable order) and of the digest of the scan recorded
before it, so a row changed, added or deleted by hand breaks the chain from that scan on.

The chain's first link hangs on the store's `chain_start` record: when the chain began, and how
many scans the store held then (a store migrated from before the chain has its scans chained as
they stood at the migration; the chain vouches for them only from then on).

It does not stop whoever can rewrite the store from recomputing every digest after an edit, nor
show that the newest scans were deleted: that takes a head digest kept apart from the store.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

CHAIN_FORMAT = "sovscan.chain/1"

# The columns each digest covers. A column a later migration adds must enter the digest so that
# the scans recorded before it keep theirs (only when not NULL, say), or old links would break.
_SCAN_COLUMNS = "id, institution, started_at, finished_at, score, complete, scope"
# Added later, each hashed on its own line only when not NULL (`_LATER_SCAN_COLUMNS`): the units
# a scan's gaps left incomplete (history migration 7), the rules it judged by (migration 8).
_LATER_SCAN_COLUMNS = ("incomplete", "rules")
_FINDING_COLUMNS = (
    "key, rule_id, asset_id, status, severity, message, waived, waiver_owner, waiver_expires"
)
_ASSET_COLUMNS = "asset_id, kind, place, jurisdictions, classification, scope, operator"
_CHUNK = 1 << 20  # a stored document is hashed a MiB at a time: it can be hundreds of MB

SCHEMA = """
ALTER TABLE scans ADD COLUMN chain_seq INTEGER;
ALTER TABLE scans ADD COLUMN chain_previous TEXT;
ALTER TABLE scans ADD COLUMN chain_digest TEXT;
CREATE UNIQUE INDEX scans_by_chain ON scans (chain_seq);
CREATE TABLE chain_start (started_at TEXT NOT NULL, scans_before INTEGER NOT NULL)
"""
"""The migration's SQL, run before `start_chain`."""


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What `verify_chain` found."""

    scans: int  # scans in the store
    head: str | None  # the newest link's digest as recorded; None for a store without scans
    started_at: str | None  # when the chain began (None when its start record is damaged)
    chained_at_start: int  # scans the store held when the chain began, chained as they stood
    problem: str | None  # the first broken link, in one line; None: intact


def start_chain(connection: sqlite3.Connection, started_at: str) -> None:
    """Begin the chain: a new store's, or an older store's at its migration, whose scans are
    chained then, in the order they were recorded."""
    scan_ids = [str(row[0]) for row in connection.execute("SELECT id FROM scans ORDER BY rowid")]
    connection.execute("INSERT INTO chain_start VALUES (?, ?)", (started_at, len(scan_ids)))
    for scan_id in scan_ids:
        link_scan(connection, scan_id)


def link_scan(connection: sqlite3.Connection, scan_id: str) -> str:
    """Chain scan `scan_id`, just recorded, after the newest link; its digest."""
    head = connection.execute(
        "SELECT chain_seq, chain_digest FROM scans WHERE chain_seq IS NOT NULL"
        " ORDER BY chain_seq DESC LIMIT 1"
    ).fetchone()
    seq, previous = (1, _genesis(connection)) if head is None else (int(head[0]) + 1, head[1])
    digest = scan_digest(connection, scan_id, str(previous))
    set_link(connection, scan_id, (seq, str(previous), digest))
    return digest


def set_link(connection: sqlite3.Connection, scan_id: str, link: tuple[int, str, str]) -> None:
    """Write a scan's link: its place in the chain, the digest before it, and its own."""
    connection.execute(
        "UPDATE scans SET chain_seq = ?, chain_previous = ?, chain_digest = ? WHERE id = ?",
        (*link, scan_id),
    )


def link_of(connection: sqlite3.Connection, scan_id: str) -> tuple[int, str, str] | None:
    """A recorded scan's link; None when it is not in the store, or not chained."""
    row = connection.execute(
        "SELECT chain_seq, chain_previous, chain_digest FROM scans WHERE id = ?", (scan_id,)
    ).fetchone()
    if row is None or None in row:
        return None
    return int(row[0]), str(row[1]), str(row[2])


def scan_digest(connection: sqlite3.Connection, scan_id: str, previous: str) -> str:
    """SHA-256 over `previous` and the scan's content: one JSON line each for the scan row, its
    document's length, its findings by key and its assets by id (the document's bytes follow
    their line). JSON with ASCII escapes, so no value can pass for a line break or another row."""
    hasher = hashlib.sha256()

    def line(*values: Any) -> None:
        hasher.update(json.dumps(values, separators=(",", ":")).encode("ascii") + b"\n")

    line(CHAIN_FORMAT, previous)
    # A store is chained at migration 6, before later migrations add their columns.
    held = {str(r[0]) for r in connection.execute("SELECT name FROM pragma_table_info('scans')")}
    later = [name for name in _LATER_SCAN_COLUMNS if name in held]
    row = connection.execute(
        f"SELECT rowid, {_SCAN_COLUMNS}{''.join(', ' + n for n in later)}"  # noqa: S608 - constant columns
        " FROM scans WHERE id = ?",
        (scan_id,),
    ).fetchone()
    count = len(_SCAN_COLUMNS.split(","))
    line("scan", *row[1 : 1 + count])
    for name, value in zip(later, row[1 + count :], strict=True):
        if value is not None:  # NULL in scans recorded before the column: their digest as then
            line(f"scan.{name}", value)
    _hash_document(connection, int(row[0]), line, hasher.update)
    for table, columns, order in (
        ("findings", _FINDING_COLUMNS, "key"),
        ("assets", _ASSET_COLUMNS, "asset_id"),
    ):
        query = f"SELECT {columns} FROM {table} WHERE scan_id = ? ORDER BY {order}"  # noqa: S608 - constant names
        for item in connection.execute(query, (scan_id,)):
            line(table, *item)
    return hasher.hexdigest()


def _hash_document(
    connection: sqlite3.Connection,
    rowid: int,
    line: Callable[..., None],
    update: Callable[[bytes], None],
) -> None:
    try:
        with connection.blobopen("scans", "document", rowid, readonly=True) as blob:
            line("document", len(blob))
            while chunk := blob.read(_CHUNK):
                update(chunk)
    except sqlite3.Error:  # not text any more (an edit made it NULL or a number): a change too
        value = connection.execute("SELECT document FROM scans WHERE rowid = ?", (rowid,))
        line("document", repr(value.fetchone()[0]))


def _genesis(connection: sqlite3.Connection) -> str:
    """The digest the first link follows: of the chain's start record(s)."""
    rows = connection.execute("SELECT started_at, scans_before FROM chain_start ORDER BY rowid")
    text = json.dumps([CHAIN_FORMAT, "start", *map(list, rows)], separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def verify_chain(connection: sqlite3.Connection, head: str | None = None) -> ChainCheck:
    """Recompute every link, oldest first, and name the first that does not hold; with `head`
    (a digest recorded earlier, apart from the store), also that the chain still holds it."""
    connection.execute("BEGIN")  # one snapshot: a scan recorded meanwhile is not half seen
    try:
        start = connection.execute("SELECT started_at, scans_before FROM chain_start").fetchall()
        links = connection.execute(
            "SELECT id, started_at, chain_seq, chain_previous, chain_digest FROM scans"
            " ORDER BY chain_seq IS NULL, chain_seq, rowid"
        ).fetchall()
        problem = _start_problem(start) or _links_problem(connection, links)
        problem = problem or _orphans_problem(connection) or _head_problem(links, head)
    finally:
        connection.execute("COMMIT")
    return ChainCheck(
        len(links),
        str(links[-1][4]) if links and links[-1][4] is not None else None,
        str(start[0][0]) if len(start) == 1 else None,
        int(start[0][1]) if len(start) == 1 else 0,
        problem,
    )


def _start_problem(start: Sequence[Sequence[Any]]) -> str | None:
    if len(start) == 1:
        return None
    return f"the chain's start record was altered ({len(start)} records, expected 1)"


def _links_problem(connection: sqlite3.Connection, links: Sequence[Sequence[Any]]) -> str | None:
    previous = _genesis(connection)
    for expected, (scan_id, started_at, seq, recorded_previous, digest) in enumerate(links, 1):
        where = f"scan {scan_id} (link {seq}, started {started_at})"
        if seq is None:
            return (
                f"scan {scan_id} (started {started_at}) is not in the chain: it was added to the "
                "store by hand"
            )
        if seq != expected:
            return f"link {expected} is missing before {where}: a scan was deleted from the store"
        if recorded_previous != previous:
            return f"{where} no longer follows the link before it: its link was altered"
        if scan_digest(connection, str(scan_id), previous) != digest:
            return (
                f"{where} differs from what was recorded: its scan row, a finding or an asset "
                "was changed, added or deleted"
            )
        previous = str(digest)
    return None


def _orphans_problem(connection: sqlite3.Connection) -> str | None:
    row = connection.execute(
        "SELECT scan_id FROM findings WHERE scan_id NOT IN (SELECT id FROM scans)"
        " UNION SELECT scan_id FROM assets WHERE scan_id NOT IN (SELECT id FROM scans) LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return f"findings or assets of scan {row[0]} remain, but not the scan: it was deleted"


def _head_problem(links: Sequence[Sequence[Any]], head: str | None) -> str | None:
    if head is None or any(str(link[4]).lower() == head.lower() for link in links):
        return None
    return (
        f"the head digest {head} is not in the chain: scans recorded up to it were deleted, or "
        "the chain was rewritten"
    )
