"""A CSV handed on alone says which scan it is (a first `scan` row), what could not be seen (one
`gap` row per gap, after the findings) and what the reader must know (one `notice` row each)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from sovscan.model import Finding, Gap, ScanScope, Severity, Status
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
    rows = _rows(make_scan(assets=(bucket,), findings=(finding,), gaps=gaps))[1:]
    assert [r["status"] for r in rows] == ["risk", "gap", "gap"]
    assert [(r["asset_id"], r["message"]) for r in rows[1:]] == [
        ("aws:123456789012:ca-central-1:*", "AccessDenied: s3:ListAllMyBuckets"),
        ("dns:typo.example", '\'=HYPERLINK("http://evil.example")'),
    ]
    # The other cells are empty (no finding key: a waiver cannot accept a gap).
    filled = ("status", "asset_id", "message", "unit")
    assert all(r[c] == "" for r in rows[1:] for c in COLUMNS if c not in filled)


def test_a_complete_scan_has_no_gap_rows() -> None:
    assert "gap" not in {r["status"] for r in _rows(make_scan())}


def test_the_first_row_ties_the_csv_to_its_scan() -> None:
    scan = make_scan()
    first = _rows(scan)[0]
    assert (first["status"], first["asset_id"], first["asset_name"]) == (
        "scan",
        scan.id,
        scan.policy.institution,
    )
    assert first["finding_key"] == "" and first["rule_id"] == ""  # not a finding
    for part in (
        f"sovscan {scan.tool_version}",
        f"started {scan.started_at.isoformat()}",
        "complete",
        f"exposure score {scan.score.value}/100",
        f"rules {scan.rules_digest}",
        f"data {scan.data_digest}",
    ):
        assert part in first["message"]
    partial = make_scan(gaps=(Gap("dns:a.example", "timeout"),))
    assert "partial: 1 gaps" in _rows(partial)[0]["message"]


def test_notices_are_rows_after_the_gaps_and_neutralised() -> None:
    notices = ("waiver for x expired on 2026-01-01", "=cmd|' /C calc'!A0")
    scan = replace(make_scan(gaps=(Gap("dns:a.example", "timeout"),)), notices=notices)
    rows = _rows(scan)
    assert [r["status"] for r in rows[-3:]] == ["gap", "notice", "notice"]
    assert [r["message"] for r in rows[-2:]] == [notices[0], "'" + notices[1]]


def test_each_row_names_its_body_for_a_pivot_table() -> None:
    # An auditor of 400 public bodies pivots the CSV by body: the domain was only inside
    # asset_id (`dns:<domain>:...`), and a gap's scope names a host, not its domain.
    scan = make_scan(
        gaps=(
            Gap("dns:universite.example", "SOA: timeout"),
            Gap("dns:www.universite.example:A", "REFUSED"),
            Gap("dns:outlook.example:AAAA", "REFUSED"),  # a provider's host: under no domain
            Gap("aws:123456789012:us-east-1:rds", "AccessDenied"),
            Gap("m365-tenant:universite.example", "HTTP 500"),
            Gap("probe:saas", "stopped"),
        )
    )
    scope = ScanScope(
        domains=frozenset({"universite.example", "cegep.example"}),
        names=(("universite.example", "=Université Exemple"),),
    )
    rows = _rows(replace(scan, scope=scope))
    assert list(rows[0])[-2:] == ["unit", "unit_name"]  # last: the other columns keep places
    units = [(r["status"], r["asset_id"], r["unit"], r["unit_name"]) for r in rows]
    named = "'=Université Exemple"  # neutralised as every cell is
    assert units == [
        ("scan", scan.id, "", ""),
        ("risk", "aws:123456789012:s3:research-data", "aws:123456789012", ""),
        ("unknown", "dns:universite.example:txt:acme", "dns:universite.example", named),
        ("gap", "dns:universite.example", "dns:universite.example", named),
        ("gap", "dns:www.universite.example:A", "dns:universite.example", named),
        ("gap", "dns:outlook.example:AAAA", "", ""),
        ("gap", "aws:123456789012:us-east-1:rds", "aws:123456789012", ""),
        ("gap", "m365-tenant:universite.example", "dns:universite.example", named),
        ("gap", "probe:saas", "", ""),
    ]
