"""A partial scan's CSV says what could not be seen: one `gap` row per gap, after the findings."""

from __future__ import annotations

import csv
import io

from sovscan.model import Finding, Gap, Severity, Status
from sovscan.report import REPORTERS
from sovscan.report.csv import COLUMNS
from tests.factories import make_scan, resolved_bucket


def _rows(scan: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(REPORTERS["csv"](scan))))  # type: ignore[arg-type]


def test_every_gap_is_a_row_after_the_findings() -> None:
    bucket = resolved_bucket()
    finding = Finding("foreign-law-reach", bucket.asset.id, Status.RISK, Severity.HIGH, "m")
    gaps = (
        Gap("aws:123456789012:ca-central-1:*", "AccessDenied: s3:ListAllMyBuckets"),
        Gap("dns:typo.example", '=HYPERLINK("http://evil.example")'),
    )
    rows = _rows(make_scan(assets=(bucket,), findings=(finding,), gaps=gaps))
    assert [r["status"] for r in rows] == ["risk", "gap", "gap"]
    assert [(r["asset_id"], r["message"]) for r in rows[1:]] == [
        ("aws:123456789012:ca-central-1:*", "AccessDenied: s3:ListAllMyBuckets"),
        ("dns:typo.example", '\'=HYPERLINK("http://evil.example")'),
    ]
    # The other cells are empty (no finding key: a waiver cannot accept a gap).
    filled = ("status", "asset_id", "message")
    assert all(r[c] == "" for r in rows[1:] for c in COLUMNS if c not in filled)


def test_a_complete_scan_has_no_gap_rows() -> None:
    assert "gap" not in {r["status"] for r in _rows(make_scan())}
