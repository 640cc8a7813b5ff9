"""The CSV report: one row per finding, with the asset's location and control beside it, then
one row per gap (status `gap`: the scope in `asset_id`, the reason in `message`), so that a
partial scan's CSV says what could not be seen, as every other format does."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from sovscan.model import Finding, Gap, ResolvedAsset, Scan
from sovscan.report.safe import spreadsheet_safe

COLUMNS = (
    "finding_key",
    "rule_id",
    "status",
    "severity",
    "asset_id",
    "asset_kind",
    "asset_name",
    "provider",
    "region",
    "country",
    "subdivision",
    "edge",
    "location_method",
    "operator",
    "parent",
    "jurisdictions",
    "laws",
    "control_method",
    "message",
    "missing",
    "references",
    "waived_by",
    "waiver_expires",
    "waiver_reason",
)


def render(scan: Scan) -> str:
    """Findings as CSV (RFC 4180). Cells a spreadsheet would run as a formula are neutralised."""
    by_id = {item.asset.id: item for item in scan.assets}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(finding_row(f, by_id.get(f.asset_id)) for f in scan.findings)
    writer.writerows(gap_row(g) for g in scan.gaps)
    return buffer.getvalue()


def header() -> str:
    """The first line of the report."""
    return ",".join(COLUMNS) + "\r\n"


def rows_text(findings: Iterable[Finding], item: ResolvedAsset | None) -> str:
    """The report's lines for `findings`, all of asset `item` (a streamed scan writes these)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(finding_row(f, item) for f in findings)
    return buffer.getvalue()


def gap_rows_text(gaps: Iterable[Gap]) -> str:
    """The report's closing lines, one per gap (a streamed scan writes these last)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(gap_row(g) for g in gaps)
    return buffer.getvalue()


def gap_row(gap: Gap) -> list[str]:
    """A gap as a row of the findings' columns: what could not be seen, and why."""
    row = dict.fromkeys(COLUMNS, "")
    # No finding key: a gap is not a finding, and a waiver cannot accept it.
    row.update(status="gap", asset_id=gap.scope, message=gap.reason)
    return [spreadsheet_safe(cell) for cell in row.values()]


def finding_row(finding: Finding, item: ResolvedAsset | None) -> list[str]:
    """One finding's cells, beside its asset's location and control; formula-safe."""
    row = [
        finding.key,
        finding.rule_id,
        finding.status.value,
        finding.severity.value,
        finding.asset_id,
        *(_asset_columns(item) if item else [""] * 13),
        finding.message,
        ";".join(finding.missing),
        ";".join(f"{r.framework}:{r.control}" for r in finding.references),
        finding.waiver.owner if finding.waiver else "",
        finding.waiver.expires if finding.waiver else "",
        finding.waiver.reason if finding.waiver else "",
    ]
    return [spreadsheet_safe(cell) for cell in row]


def _asset_columns(item: ResolvedAsset) -> Sequence[str]:
    location, control = item.location, item.control
    return [
        item.asset.kind,
        item.asset.name,
        location.provider or "",
        location.region or "",
        location.country or "",
        location.subdivision or "",
        "yes" if location.edge else "no",
        location.method.value,
        control.operator or "",
        control.parent or "",
        ";".join(control.jurisdictions) if control.jurisdictions is not None else "",
        ";".join(control.laws) if control.laws is not None else "",
        control.method.value,
    ]
