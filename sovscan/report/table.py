"""The terminal report: where each asset's data is, who controls it, and what the rules found."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from tabulate import tabulate

from sovscan.model import Finding, Location, ResolvedAsset, Scan, Status
from sovscan.report.safe import terminal_safe, terminal_safe_text

_CELL = 60  # characters before a cell is cut; wrapped columns stay readable on 100-column terminals


NARROW = 110  # below this many columns, assets and findings are listed, not tabulated


def render(scan: Scan, width: int | None = None) -> str:
    """The scan as plain text for a terminal `width` columns wide (None: wide tables), every
    control character escaped."""
    narrow = width is not None and width < NARROW
    sections = [
        _header(scan),
        _assets_list(scan.assets) if narrow else _assets(scan.assets),
        _findings_list(scan.findings) if narrow else _findings(scan.findings),
    ]
    if scan.gaps:
        sections.append(_gaps_list(scan) if narrow else _gaps(scan))
    if scan.notices:
        sections.append("Notices\n" + "\n".join(f"- {_safe(n)}" for n in scan.notices))
    text = "\n\n".join(sections) + "\n"
    if narrow and width is not None:
        text = "\n".join(_wrap(line, width) for line in text.split("\n"))
    return terminal_safe_text(text)


def _wrap(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, width=width, subsequent_indent=indent, break_long_words=True)


def _header(scan: Scan) -> str:
    policy, score = scan.policy, scan.score
    status = (
        "complete" if scan.complete else f"PARTIAL: {len(scan.gaps)} scope(s) could not be seen"
    )
    by_severity = ", ".join(f"{sev} {count}" for sev, count in score.by_severity.items() if count)
    lines = [
        f"sovscan {scan.tool_version}: {_safe(policy.institution)}",
        (
            f"home {policy.home}; data may rest in {', '.join(policy.allowed_locations)}; "
            f"not foreign: {', '.join(policy.home_jurisdictions)}"
        ),
        f"scan {scan.id} at {scan.started_at.isoformat(timespec='seconds')} ({status})"
        + (f"; profile {scan.profile}" if scan.profile else ""),
        f"exposure score {_score_text(scan)}; {score.assets_total} assets, "
        f"{score.assets_at_risk} at risk, {score.assets_unknown} with unknowns"
        + (f"; risk findings: {by_severity}" if by_severity else ""),
    ]
    return "\n".join(lines)


def _score_text(scan: Scan) -> str:
    if scan.complete:
        return f"{scan.score.value}/100"
    # A partial scan's score covers only what was seen: never let it read as the estate's.
    return f"{scan.score.value}/100 for the part seen only (partial scan)"


def _assets(assets: Sequence[ResolvedAsset]) -> str:
    rows = [
        [
            _safe(item.asset.name),
            item.asset.kind,
            _where(item.location),
            _who(item),
            _laws(item),
        ]
        for item in assets
    ]
    headers = ["asset", "kind", "where the data is", "operator (parent)", "jurisdictions: laws"]
    table = tabulate(rows, headers, tablefmt="simple", maxcolwidths=[32, 16, 36, 34, 40])
    return "Where the data is and who can compel it\n" + (table if rows else "(no assets)")


def _assets_list(assets: Sequence[ResolvedAsset]) -> str:
    lines = ["Where the data is and who can compel it"]
    for item in assets:
        lines += [
            f"* {_safe(item.asset.name)} ({item.asset.kind})",
            f"    where: {_where(item.location)}",
            f"    who:   {_who(item).replace(chr(10), '; ')}",
            f"    laws:  {_laws(item)}",
        ]
    return "\n".join(lines if assets else [*lines, "(no assets)"])


def _findings_list(findings: Sequence[Finding]) -> str:
    shown = [f for f in findings if f.status is not Status.OK]
    shown.sort(key=lambda f: (f.status is not Status.RISK, -f.severity.rank, f.rule_id, f.asset_id))
    lines = [f"Findings ({len(shown)} risk or unknown; {len(findings) - len(shown)} ok not shown)"]
    for finding in shown:
        lines += [
            f"* [{finding.severity.value} {_status(finding)}] {finding.rule_id}",
            f"    {_safe(finding.asset_id)}",
            f"    {_message(finding)}",
        ]
    return "\n".join(lines)


def _where(location: Location) -> str:
    if location.edge:
        return f"{location.provider or '?'} global edge (no single country)"
    if location.place is None and location.provider is None:
        return "unknown"
    parts = [location.provider or "?", location.region or "", location.place or "place unknown"]
    return " ".join(p for p in parts if p) + f" [{location.method.value}]"


def _who(item: ResolvedAsset) -> str:
    control = item.control
    if control.operator is None:
        return "unknown"
    if control.parent and control.parent != control.operator:
        return f"{_safe(control.operator)}\nparent: {_safe(control.parent)}"
    return _safe(control.operator)


def _laws(item: ResolvedAsset) -> str:
    control = item.control
    if control.jurisdictions is None:
        return "unknown"
    laws = ", ".join(control.laws or ()) or "none known"
    return f"{'+'.join(control.jurisdictions)}: {laws}"


def _findings(findings: Sequence[Finding]) -> str:
    shown = [f for f in findings if f.status is not Status.OK]
    shown.sort(key=lambda f: (f.status is not Status.RISK, -f.severity.rank, f.rule_id, f.asset_id))
    ok_count = len(findings) - len(shown)
    rows = [
        [f.severity.value, f.status.value, f.rule_id, _safe(f.asset_id), _message(f)] for f in shown
    ]
    headers = ["severity", "status", "rule", "asset", "finding"]
    title = f"Findings ({len(shown)} risk or unknown; {ok_count} ok not shown)"
    if not rows:
        return title + "\n(none)"
    return (
        title + "\n" + tabulate(rows, headers, tablefmt="simple", maxcolwidths=[8, 7, 30, 40, 60])
    )


def _status(finding: Finding) -> str:
    return f"{finding.status.value} (waived)" if finding.waiver else finding.status.value


def _message(finding: Finding) -> str:
    text = _safe(finding.message)  # an unknown finding's message already names what is missing
    if finding.waiver:
        waiver = finding.waiver
        text += (
            f" [accepted by {_safe(waiver.owner)} until {waiver.expires}: {_safe(waiver.reason)}]"
        )
    return text


def _gaps(scan: Scan) -> str:
    rows = [[_safe(gap.scope), _safe(gap.reason)] for gap in scan.gaps]
    table = tabulate(
        rows, ["scope", "why it could not be seen"], tablefmt="simple", maxcolwidths=[40, 60]
    )
    return "Gaps: the scan is partial, and nothing below was judged safe\n" + table


def _gaps_list(scan: Scan) -> str:
    lines = ["Gaps: the scan is partial, and nothing below was judged safe"]
    lines += [f"* {_safe(gap.scope)}: {_safe(gap.reason)}" for gap in scan.gaps]
    return "\n".join(lines)


def _safe(text: str) -> str:
    return terminal_safe(text, limit=_CELL * 4)
