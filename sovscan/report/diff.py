"""Renderers for the difference between two scans: table, JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from types import MappingProxyType

from tabulate import tabulate

from sovscan.history import (
    OUT_OF_SCOPE,
    Aspect,
    AssetChange,
    FindingChange,
    ScanDiff,
    StoredScan,
    StoredWaiver,
)
from sovscan.report.markdown import md
from sovscan.report.safe import spreadsheet_safe, terminal_safe, terminal_safe_text
from sovscan.scope import describe_unit

DIFF_SCHEMA = "sovscan.diff/1"


def render_json(diff: ScanDiff) -> str:
    """The diff as a `sovscan.diff/1` JSON document."""
    document = {
        "schema": DIFF_SCHEMA,
        "old": asdict(diff.old),
        "new": asdict(diff.new),
        "passed_over": [asdict(scan) for scan in diff.passed_over],
        "dropped_scope": list(diff.dropped_scope),
        "settings_changed": list(diff.settings_changed),
        "findings": [asdict(change) for change in diff.findings],
        "assets": [asdict(change) for change in diff.assets],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _scan(scan: StoredScan) -> str:
    partial = "" if scan.complete else ", partial"
    return f"{scan.id} ({scan.started_at}, score {scan.score}{partial})"


_UNITS_SHOWN = 5  # incomplete units named in a diff's head (the JSON lists them all)


def _units(scan: StoredScan) -> str:
    """ "2 units had gaps (domain a.example; domain b.example)"; the scan kept them."""
    units = scan.incomplete_units or ()
    shown = "; ".join(describe_unit(unit) for unit in units[:_UNITS_SHOWN])
    more = f"; and {len(units) - _UNITS_SHOWN} more" if len(units) > _UNITS_SHOWN else ""
    return f"{len(units)} unit{'s' if len(units) != 1 else ''} had gaps ({shown}{more})"


def _partial_note(diff: ScanDiff) -> str:
    """Which partial scans the comparison passed over, and why some changes read "unseen";
    empty when neither applies."""
    notes = []
    if diff.passed_over:
        count = len(diff.passed_over)
        ids = ", ".join(scan.id for scan in diff.passed_over[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        notes.append(
            f"Compared with the latest earlier complete scan, as --fail-on-new does: passed over "
            f"{count} partial scan{'s' if count > 1 else ''} in between ({ids}{more}), recorded "
            "before sovscan kept which units their gaps touched: they tell nothing."
        )
    if diff.no_complete_baseline:
        notes.append(
            "No earlier complete scan: compared with a partial one, while --fail-on-new counts "
            "every risk of the newer scan as new (none was reported by a complete scan before)."
        )
    if not diff.old.complete:
        # Whether or not it kept its units: every unit of one that did not is incomplete.
        which = (
            _units(diff.old)
            if diff.old.incomplete_units is not None
            else "recorded before sovscan kept which units its gaps touched, all its units "
            "are taken as incomplete"
        )
        notes.append(
            f"The older scan is partial: {which}. There, each finding and asset is read as the "
            "latest earlier scan that saw its unit whole told it, as --fail-on-new reads it."
        )
    if not diff.new.complete and diff.new.incomplete_units is not None:
        notes.append(
            f"The newer scan is partial: {_units(diff.new)}. A risk or an asset it did not see "
            "there is listed as unseen, not as resolved or removed; in the units it saw whole, "
            "what it no longer has is resolved or removed."
        )
    elif not diff.new.complete:
        notes.append(
            "The newer scan is partial (it has gaps): a risk or an asset it did not see is "
            "listed as unseen, not as resolved or removed."
        )
    if diff.dropped_scope:
        count = len(diff.dropped_scope)
        shown = "; ".join(diff.dropped_scope[:_SCOPE_SHOWN])
        more = f"; and {count - _SCOPE_SHOWN} more" if count > _SCOPE_SHOWN else ""
        notes.append(
            f"The newer scan's scope dropped what the older one covered: {shown}{more}. A risk "
            "or an asset there is listed as unseen (out of the newer scan's scope), not as "
            "resolved or removed."
        )
    elif any(c.reason == OUT_OF_SCOPE for c in diff.findings) or any(
        a.reason == OUT_OF_SCOPE for a in diff.assets
    ):
        notes.append(
            "Some risks or assets lie out of the newer scan's scope (the older scan's own scope "
            "was not recorded): they are listed as unseen, not as resolved or removed."
        )
    if diff.settings_changed:
        notes.append(
            f"The two scans were judged with other settings: {'; '.join(diff.settings_changed)}. "
            "A finding that changed with them may reflect no change in the estate, and "
            "--fail-on-new counts a risk they made as new."
        )
    return " ".join(notes)


_SCOPE_SHOWN = 5  # dropped scope items named in a diff's head (the JSON lists them all)


def _details(
    change: FindingChange | AssetChange, escape: Callable[[str], str] = str, arrow: str = "->"
) -> str:
    """What a row's change is about beyond its statuses: why it is unseen or unaccepted, what
    else changed (a finding's severity, its asset's classification, operator, place and
    jurisdictions; an asset's operator and jurisdictions, its other columns saying the rest),
    and what became of a finding's waiver; each stored text through `escape`."""
    parts = [escape(change.reason)] if change.reason else []
    if isinstance(change, FindingChange):
        parts += [_aspect(a, escape, arrow) for a in change.aspects]
        if change.change != "unaccepted":
            parts += _waiver_change(change, escape, arrow)
    else:
        parts += [_aspect(a, escape, arrow) for a in change.aspects if a.what in _ASSET_DETAILS]
    return "; ".join(parts)


_ASSET_DETAILS = frozenset({"operator", "jurisdictions"})  # not in the assets table's columns


def _aspect(aspect: Aspect, escape: Callable[[str], str], arrow: str) -> str:
    """ "classification personal -> public", "operator unknown -> OVH SAS"."""
    return f"{aspect.what} {_value(aspect, aspect.old, escape)} {arrow} " + _value(
        aspect, aspect.new, escape
    )


def _value(aspect: Aspect, value: str | None, escape: Callable[[str], str]) -> str:
    if value is None:
        return "unknown"
    if aspect.what == "jurisdictions":
        return escape(value.replace(",", ", ")) if value else "none"
    return escape(value)


def _classification_aspect(change: FindingChange) -> str:
    """A finding's "personal -> public" when its asset was relabelled (always for a relabelled
    finding); "" otherwise."""
    for aspect in change.aspects:
        if aspect.what == "classification":
            return f"{aspect.old or ''} -> {aspect.new or ''}"
    return ""


def _waiver_change(change: FindingChange, escape: Callable[[str], str], arrow: str) -> list[str]:
    old, new = change.old_waiver, change.new_waiver
    if old == new:
        return []
    if old is None:
        return [] if new is None else [f"waived: {escape(_waiver(new))}"]
    if new is None:
        return [f"no longer waived (was: {escape(_waiver(old))})"]
    return [f"waiver: {escape(_waiver(old))} {arrow} {escape(_waiver(new))}"]


def _waiver(waiver: StoredWaiver) -> str:
    return f"{waiver.owner}, until {waiver.expires}"


def _classification(
    change: AssetChange, escape: Callable[[str], str] = str, arrow: str = "->"
) -> str:
    """The label, "personal -> public" when it changed; "-" when none was kept."""
    old, new = change.old_classification, change.new_classification
    if old is not None and new is not None and old != new:
        return f"{escape(old)} {arrow} {escape(new)}"
    return escape(new or old or "-")


def _counts(diff: ScanDiff) -> str:
    """ "3 changed, 1 new risks", and ", 1 relabelled" when a risk turned ok by a relabel."""
    counts = f"{len(diff.findings)} changed, {len(diff.new_risks)} new risks"
    relabelled = len(diff.relabelled)
    return counts + (f", {relabelled} relabelled" if relabelled else "")


def render_table(diff: ScanDiff) -> str:
    """The diff as terminal tables; control characters escaped."""
    head = f"{terminal_safe(diff.new.institution)}: scan {_scan(diff.old)} -> {_scan(diff.new)}"
    if note := _partial_note(diff):
        head += "\n" + note
    findings = tabulate(
        [
            [
                c.change,
                c.severity,
                c.rule_id,
                terminal_safe(c.asset_id),
                c.old_status or "-",
                c.new_status or "-",
                c.first_seen or "-",
                _details(c, terminal_safe) or "-",
            ]
            for c in diff.findings
        ],
        ["change", "severity", "rule", "asset", "was", "now", "first seen as risk", "details"],
        tablefmt="simple",
        maxcolwidths=[None, None, 30, 40, None, None, None, 50],
    )
    assets = tabulate(
        [
            [
                c.change,
                terminal_safe(c.asset_id),
                c.kind,
                c.old_place or "-",
                c.new_place or "-",
                terminal_safe(_classification(c)),
                c.first_seen or "-",
                _details(c, terminal_safe) or "-",
            ]
            for c in diff.assets
        ],
        ["change", "asset", "kind", "was in", "now in", "classification", "first seen", "details"],
        tablefmt="simple",
        maxcolwidths=[None, 44, None, None, None, 30, None, 40],
    )
    return terminal_safe_text(
        f"{head}\n\nFindings ({_counts(diff)})\n"
        f"{findings if diff.findings else '(none)'}\n\nAssets ({len(diff.assets)} changed)\n"
        f"{assets if diff.assets else '(none)'}\n"
    )


def render_csv(diff: ScanDiff) -> str:
    """One row per changed finding or asset."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [
            "what",
            "change",
            "id",
            "rule_or_kind",
            "was",
            "now",
            "severity",
            "first_seen",
            "message",
            "classification",
            "details",
        ]
    )
    for c in diff.findings:
        writer.writerow(
            [
                spreadsheet_safe(str(v))
                for v in (
                    "finding",
                    c.change,
                    c.asset_id,
                    c.rule_id,
                    c.old_status or "",
                    c.new_status or "",
                    c.severity,
                    c.first_seen or "",
                    c.message,
                    _classification_aspect(c),
                    _details(c),
                )
            ]
        )
    for a in diff.assets:
        writer.writerow(
            [
                spreadsheet_safe(str(v))
                for v in (
                    "asset",
                    a.change,
                    a.asset_id,
                    a.kind,
                    a.old_place or "",
                    a.new_place or "",
                    "",
                    a.first_seen or "",
                    "",
                    _classification(a) if a.old_classification or a.new_classification else "",
                    _details(a),
                )
            ]
        )
    return buffer.getvalue()


def render_markdown(diff: ScanDiff) -> str:
    """The diff for a ticket or a wiki page."""
    lines = [
        f"# Changes for {md(diff.new.institution)}",
        "",
        f"From scan `{_scan(diff.old)}` to `{_scan(diff.new)}`.",
        "",
        *([md(_partial_note(diff)), ""] if _partial_note(diff) else []),
        f"## Findings ({_counts(diff)})",
        "",
    ]
    if diff.findings:
        lines += [
            "| change | severity | rule | asset | was | now | first seen as risk | details |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c.change} | {c.severity} | {md(c.rule_id)} | {md(c.asset_id)} | "
            f"{c.old_status or '-'} | {c.new_status or '-'} | {c.first_seen or '-'} | "
            f"{_details(c, md, '→') or '-'} |"
            for c in diff.findings
        ]
    else:
        lines.append("(none)")
    lines += ["", f"## Assets ({len(diff.assets)} changed)", ""]
    if diff.assets:
        lines += [
            "| change | asset | was in | now in | classification | details |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {a.change} | {md(a.asset_id)} | {md(a.old_place or '-')} | "
            f"{md(a.new_place or '-')} | {_classification(a, md, '→')} | "
            f"{_details(a, md, '→') or '-'} |"
            for a in diff.assets
        ]
    else:
        lines.append("(none)")
    return "\n".join(lines) + "\n"


DIFF_REPORTERS: Mapping[str, Callable[[ScanDiff], str]] = MappingProxyType(
    {"table": render_table, "json": render_json, "csv": render_csv, "markdown": render_markdown}
)
