"""The terminal report: where each asset's data is, who controls it, and what the rules found."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from tabulate import tabulate

from sovscan.model import Finding, Location, ResolvedAsset, Scan, Status
from sovscan.report.bound import bound_text
from sovscan.report.safe import terminal_safe, terminal_safe_text
from sovscan.report.why import references_text

_CELL = 60  # characters before a cell is cut; wrapped columns stay readable on 100-column terminals
_NOTICE = _CELL * 16  # a notice is one of a few, and its end often says what to do: cut it later


NARROW = 110  # below this many columns, assets and findings are listed, not tabulated

MOST_ROWS = 500
"""Rows shown per section: a terminal is no place for 100,000 rows (tabulate wraps each one);
the most exposed come first, and the line under the section says how many other reports hold."""


class _Shortener:
    """Makes text safe for a cell, cutting what is longer than its bound, and remembers whether
    it cut anything: the report then says once, at its end, where the full text is."""

    __slots__ = ("cut",)

    def __init__(self) -> None:
        self.cut = False

    def __call__(self, text: str, limit: int = _CELL * 4) -> str:
        shown = terminal_safe(text)
        if len(shown) <= limit:
            return shown
        self.cut = True
        return shown[: limit - 1] + "…"


SHORTENED = "Text cut short above ends in …: the full text is in --format json, markdown or html."

EXPLAIN = (
    "Why a rule matters and what to do: sovscan explain <rule-id> (e.g. sovscan explain {rule}); "
    "every rule found: --format markdown or html."
)


def render(scan: Scan, width: int | None = None) -> str:
    """The scan as plain text for a terminal `width` columns wide (None: wide tables), every
    control character escaped."""
    narrow = width is not None and width < NARROW
    safe = _Shortener()
    assets = _most_exposed(scan)
    judged = _judged(scan.findings)
    sections = [
        _header(scan, safe),
        (_assets_list(assets, safe) if narrow else _assets(assets, safe))
        + _more(assets, scan.assets),
        (_findings_list if narrow else _findings)(judged, len(scan.findings), safe),
    ]
    if scan.gaps:
        sections.append(_gaps_list(scan, safe) if narrow else _gaps(scan, safe))
    if scan.notices:
        notices = (safe(notice, _NOTICE) for notice in scan.notices)
        sections.append("Notices\n" + "\n".join(f"- {notice}" for notice in notices))
    # Last, so a reader who scrolled to the end knows where to read more.
    more = [EXPLAIN.format(rule=safe(judged[0].rule_id, _CELL))] if judged else []
    more += [SHORTENED] if safe.cut else []
    if more:
        sections.append("\n".join(more))
    text = "\n\n".join(sections) + "\n"
    if narrow and width is not None:
        text = "\n".join(_wrap(line, width) for line in text.split("\n"))
    return terminal_safe_text(text)


def _most_exposed(scan: Scan) -> Sequence[ResolvedAsset]:
    """Every asset in id order, or, past MOST_ROWS, the most exposed ones: worst RISK first,
    then those with unknowns."""
    if len(scan.assets) <= MOST_ROWS:
        return scan.assets
    worst: dict[str, tuple[int, int]] = {}
    for finding in scan.findings:
        risk, unknown = worst.get(finding.asset_id, (0, 0))
        if finding.status is Status.RISK and finding.waiver is None:
            risk = max(risk, finding.severity.rank + 1)
        elif finding.status is Status.UNKNOWN:
            unknown = 1
        worst[finding.asset_id] = (risk, unknown)

    def exposure(item: ResolvedAsset) -> tuple[int, int, str]:
        risk, unknown = worst.get(item.asset.id, (0, 0))
        return -risk, -unknown, item.asset.id

    return sorted(scan.assets, key=exposure)[:MOST_ROWS]


# Where the rows the table leaves out can be read: the CSV has one row per finding only.
WHOLE_FINDINGS = "the json, csv and html reports"
WHOLE_OTHERS = "the json and html reports"


def _more(
    shown: Sequence[object],
    total: Sequence[object],
    order: str = "the most exposed first",
    elsewhere: str = WHOLE_OTHERS,
) -> str:
    hidden = len(total) - len(shown)
    if hidden <= 0:
        return ""
    return f"\n({len(shown)} of {len(total)} shown, {order}; {hidden} more in {elsewhere})"


def _wrap(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, width=width, subsequent_indent=indent, break_long_words=True)


def _header(scan: Scan, safe: _Shortener) -> str:
    policy, score = scan.policy, scan.score
    status = (
        "complete" if scan.complete else f"PARTIAL: {len(scan.gaps)} scope(s) could not be seen"
    )
    by_severity = ", ".join(f"{sev} {count}" for sev, count in score.by_severity.items() if count)
    lines = [
        f"sovscan {scan.tool_version}: {safe(policy.institution)}",
        (
            f"home {policy.home}; data may rest in {', '.join(policy.allowed_locations)}; "
            f"not foreign: {', '.join(policy.home_jurisdictions)}"
        ),
        f"scan {scan.id} at {scan.started_at.isoformat(timespec='seconds')} ({status})"
        + (f"; profile {scan.profile}" if scan.profile else ""),
        *_replay_of(scan, safe),
        *(
            [f"DNS answers from {safe(scan.dns_resolver.describe())}"]
            if scan.dns_resolver is not None
            else []
        ),
        f"exposure score {_score_text(scan)}; {score.assets_total} asset"
        f"{'' if score.assets_total == 1 else 's'}, "
        f"{score.assets_at_risk} at risk, {score.assets_unknown} with unknowns"
        + (f"; {_risk_label(scan)}: {by_severity}" if by_severity else ""),
    ]
    return "\n".join(lines)


def _risk_label(scan: Scan) -> str:
    """What the severity counts count: the score leaves waived risks out, and says so."""
    waived = sum(1 for f in scan.findings if f.waiver is not None and f.status is Status.RISK)
    return f"unwaived risk findings ({waived} waived)" if waived else "risk findings"


def _replay_of(scan: Scan, safe: _Shortener) -> list[str]:
    """A replay's provenance line: the scan whose observations it evaluated again, and when."""
    if scan.replay_of is None:
        return []
    observed = scan.replay_of.started_at.isoformat(timespec="seconds")
    return [f"replay of scan {safe(scan.replay_of.scan_id)}, observed {observed}"]


def _score_text(scan: Scan) -> str:
    bound = bound_text(scan.score)
    text = f"{scan.score.value}/100" + (f" ({bound})" if bound else "")
    if scan.complete:
        return text
    # A partial scan's score covers only what was seen: never let it read as the estate's.
    return f"{text} for the part seen only (partial scan)"


def _assets(assets: Sequence[ResolvedAsset], safe: _Shortener) -> str:
    rows = [
        [
            safe(item.asset.name),
            item.asset.kind,
            _where(item.location),
            _who(item, safe),
            _laws(item),
        ]
        for item in assets
    ]
    headers = ["asset", "kind", "where the data is", "operator (parent)", "jurisdictions: laws"]
    table = tabulate(rows, headers, tablefmt="simple", maxcolwidths=[32, 16, 36, 34, 40])
    return "Where the data is and who can compel it\n" + (table if rows else "(no assets)")


def _assets_list(assets: Sequence[ResolvedAsset], safe: _Shortener) -> str:
    lines = ["Where the data is and who can compel it"]
    for item in assets:
        lines += [
            f"* {safe(item.asset.name)} ({item.asset.kind})",
            f"    where: {_where(item.location)}",
            f"    who:   {_who(item, safe).replace(chr(10), '; ')}",
            f"    laws:  {_laws(item)}",
        ]
    return "\n".join(lines if assets else [*lines, "(no assets)"])


def _findings_list(judged: Sequence[Finding], total: int, safe: _Shortener) -> str:
    lines = [f"Findings ({len(judged)} risk or unknown; {total - len(judged)} ok not shown)"]
    shown = judged[:MOST_ROWS]
    for finding in shown:
        lines += [
            f"* [{finding.severity.value} {_status(finding)}] {finding.rule_id}",
            f"    {safe(finding.asset_id)}",
            f"    {_message(finding, safe)}",
        ]
        if finding.references:  # a list has the room a table row lacks
            lines.append(f"    references: {safe(references_text(finding.references))}")
    return "\n".join(lines) + _more(shown, judged, elsewhere=WHOLE_FINDINGS)


def _judged(findings: Sequence[Finding]) -> list[Finding]:
    """RISK and UNKNOWN findings: live risks (the most severe first), then unknowns, then what a
    waiver accepted, so a capped table never hides a live risk behind an accepted one."""
    shown = [f for f in findings if f.status is not Status.OK]
    shown.sort(key=lambda f: (_attention(f), -f.severity.rank, f.rule_id, f.asset_id))
    return shown


def _attention(finding: Finding) -> int:
    if finding.waiver is not None:
        return 2
    return 0 if finding.status is Status.RISK else 1


def _where(location: Location) -> str:
    where = _seen(location)
    if location.declared is not None:  # the vendor's storage, as the institution declares it
        return f"{where}; kept in {location.declared} (declared)"
    return where


def _seen(location: Location) -> str:
    if location.edge:
        return f"{location.provider or '?'} global edge (no single country)"
    if location.place is None and location.provider is None:
        return "unknown"
    parts = [location.provider or "?", location.region or "", location.place or "place unknown"]
    return " ".join(p for p in parts if p) + f" [{location.method.value}]"


def _who(item: ResolvedAsset, safe: _Shortener) -> str:
    control = item.control
    if control.operator is None:
        return "unknown"
    if control.parent and control.parent != control.operator:
        return f"{safe(control.operator)}\nparent: {safe(control.parent)}"
    return safe(control.operator)


def _laws(item: ResolvedAsset) -> str:
    control = item.control
    if control.jurisdictions is None:
        return "unknown"
    laws = ", ".join(control.laws or ()) or "none known"
    return f"{'+'.join(control.jurisdictions)}: {laws}"


def _findings(judged: Sequence[Finding], total: int, safe: _Shortener) -> str:
    shown = judged[:MOST_ROWS]
    ok_count = total - len(judged)
    rows = [
        [f.severity.value, _status(f), f.rule_id, safe(f.asset_id), _message(f, safe)]
        for f in shown
    ]
    headers = ["severity", "status", "rule", "asset", "finding"]
    title = f"Findings ({len(judged)} risk or unknown; {ok_count} ok not shown)"
    if not rows:
        return title + "\n(none)"
    table = tabulate(rows, headers, tablefmt="simple", maxcolwidths=[8, 8, 30, 40, 60])
    return title + "\n" + table + _more(shown, judged, elsewhere=WHOLE_FINDINGS)


def _status(finding: Finding) -> str:
    return f"{finding.status.value} (waived)" if finding.waiver else finding.status.value


def _message(finding: Finding, safe: _Shortener) -> str:
    text = safe(finding.message)  # an unknown finding's message already names what is missing
    if finding.waiver:
        waiver = finding.waiver
        text += f" [accepted by {safe(waiver.owner)} until {waiver.expires}: {safe(waiver.reason)}]"
    return text


def _gaps(scan: Scan, safe: _Shortener) -> str:
    shown = scan.gaps[:MOST_ROWS]
    rows = [[safe(gap.scope), safe(gap.reason)] for gap in shown]
    table = tabulate(
        rows, ["scope", "why it could not be seen"], tablefmt="simple", maxcolwidths=[40, 60]
    )
    title = "Gaps: the scan is partial, and nothing below was judged safe\n"
    return title + table + _more(shown, scan.gaps, "in the order found")


def _gaps_list(scan: Scan, safe: _Shortener) -> str:
    shown = scan.gaps[:MOST_ROWS]
    lines = ["Gaps: the scan is partial, and nothing below was judged safe"]
    lines += [f"* {safe(gap.scope)}: {safe(gap.reason)}" for gap in shown]
    return "\n".join(lines) + _more(shown, scan.gaps, "in the order found")
