"""The CSV report: one row per finding, with the asset's location and control beside it.

Around them, rows in the same columns say what every other format says beside its findings: a
first row for the scan itself (status `scan`: its id in `asset_id`, the institution in
`asset_name`, its provenance in `message`), so a CSV handed on alone can be tied to its scan,
its evidence and its history; then one row per gap (status `gap`: the scope in `asset_id`, the
reason in `message`), so a partial scan's CSV says what could not be seen; then one per notice
(status `notice`), such as an expired waiver.

The last two columns say which body audited a row belongs to, so one pivot table gives
per-body results: `unit` (`dns:<domain>`, `aws:<account>`, `saas:<host>`, `m365:<domain>...`,
as `scope.report_unit` reads it from the asset id or gap scope) and `unit_name` (the body's name
from the --domains CSV's name column). They come last so that the columns before keep their
places."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sovscan.model import AttrValue, Finding, Gap, ResolvedAsset, Scan, ScanScope
from sovscan.report.bound import bound_text
from sovscan.report.safe import spreadsheet_safe
from sovscan.scope import report_unit, unit_name


@dataclass(frozen=True, slots=True)
class Units:
    """What a row's unit and its body's name are read with: the scan's domains and names."""

    domains: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, scope: ScanScope | None) -> Units:
        """A replay's scan has no scope: its rows' units are read from their ids alone."""
        return cls() if scope is None else cls(scope.domains, dict(scope.names))

    def cells(
        self, named: str, attributes: Mapping[str, AttrValue] | None = None
    ) -> tuple[str, str]:
        unit = report_unit(named, attributes, self.domains)
        return unit or "", unit_name(unit, self.names)


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
    "unit",
    "unit_name",
)


def render(scan: Scan) -> str:
    """Findings as CSV (RFC 4180). Cells a spreadsheet would run as a formula are neutralised."""
    by_id = {item.asset.id: item for item in scan.assets}
    units = Units.of(scan.scope)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(scan_row(scan))
    writer.writerows(finding_row(f, by_id.get(f.asset_id), units) for f in scan.findings)
    writer.writerows(gap_row(g, units) for g in scan.gaps)
    writer.writerows(notice_row(n) for n in scan.notices)
    return buffer.getvalue()


def header() -> str:
    """The first line of the report."""
    return ",".join(COLUMNS) + "\r\n"


def rows_text(findings: Iterable[Finding], item: ResolvedAsset | None, units: Units) -> str:
    """The report's lines for `findings`, all of asset `item` (a streamed scan writes these)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(finding_row(f, item, units) for f in findings)
    return buffer.getvalue()


def scan_row_text(scan: Scan) -> str:
    """The report's line after the header: the scan itself."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(scan_row(scan))
    return buffer.getvalue()


def closing_rows_text(scan: Scan) -> str:
    """The report's closing lines, one per gap, then one per notice (a streamed scan writes
    these last)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    units = Units.of(scan.scope)
    writer.writerows(gap_row(g, units) for g in scan.gaps)
    writer.writerows(notice_row(n) for n in scan.notices)
    return buffer.getvalue()


def scan_row(scan: Scan) -> list[str]:
    """The scan as a row of the findings' columns: its id, institution and provenance."""
    score = scan.score
    bound = bound_text(score)
    coverage = "complete" if scan.complete else f"partial: {len(scan.gaps)} gaps"
    provenance = "; ".join(
        (
            f"sovscan {scan.tool_version}",
            f"started {scan.started_at.isoformat()}",
            f"finished {scan.finished_at.isoformat()}",
            *(
                [f"replay of scan {replay.scan_id}, observed {replay.started_at.isoformat()}"]
                if (replay := scan.replay_of)
                else []
            ),
            *([f"DNS answers from {r.describe()}"] if (r := scan.dns_resolver) else []),
            coverage,
            f"exposure score {score.value}/100" + (f" ({bound})" if bound else ""),
            *([f"profile {scan.profile}"] if scan.profile else []),
            f"rules {scan.rules_digest}",
            f"data {scan.data_digest}",
        )
    )
    return _special_row(
        status="scan", asset_id=scan.id, asset_name=scan.policy.institution, message=provenance
    )


def gap_row(gap: Gap, units: Units) -> list[str]:
    """A gap as a row of the findings' columns: what could not be seen, and why."""
    unit, name = units.cells(gap.scope)
    # No finding key: a gap is not a finding, and a waiver cannot accept it.
    return _special_row(
        status="gap", asset_id=gap.scope, message=gap.reason, unit=unit, unit_name=name
    )


def notice_row(notice: str) -> list[str]:
    """A notice (an expired or unused waiver, a replay) as a row of the findings' columns."""
    return _special_row(status="notice", message=notice)


def _special_row(**cells: str) -> list[str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(cells)
    return [spreadsheet_safe(cell) for cell in row.values()]


def finding_row(finding: Finding, item: ResolvedAsset | None, units: Units) -> list[str]:
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
        *units.cells(finding.asset_id, item.asset.attributes if item else None),
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
