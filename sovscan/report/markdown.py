"""The Markdown report, for tickets and wikis: summary, assets, findings and gaps, then why the
rules that found something matter and the laws the report names."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sovscan.model import Finding, Scan, Status
from sovscan.report.bound import bound_text
from sovscan.report.safe import strip_controls
from sovscan.report.spans import code_spans
from sovscan.report.why import (
    LawNamed,
    RuleFound,
    by_framework,
    control_label,
    counts_text,
    laws_named,
    references_text,
    rules_found,
    when,
)

# Only what Markdown would read as markup is escaped, so that ordinary text (apostrophes,
# quotes, a lone "&") reads as itself in the raw file too, which tickets and plain-text viewers
# show unrendered. "<" and ">" become entities rather than backslash escapes because no renderer
# reads an entity as a tag, while not every dialect honours "\<". An "&" is escaped where it
# could start a character reference, which would render as another character: before any "#"
# (renderers differ on how many digits they accept: cmark-gfm takes 8, the spec says 7) and
# before a name ending in ";".
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]|~<>]|&(?=#|[A-Za-z][A-Za-z0-9]*;)")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def render(scan: Scan) -> str:
    """The scan as GitHub-flavoured Markdown; every value is escaped so it renders as text."""
    policy, score = scan.policy, scan.score
    state = "complete" if scan.complete else f"**partial**: {len(scan.gaps)} scope(s) not seen"
    bound = bound_text(score)
    lines = [
        f"# Sovereignty scan: {md(policy.institution)}",
        "",
        f"- Scan `{scan.id}` at {scan.started_at.isoformat(timespec='seconds')} ({state})",
        *_replay_of(scan),
        *_dns_resolver(scan),
        f"- Home {md(policy.home)}; allowed locations {md(', '.join(policy.allowed_locations))}",
        (
            f"- Exposure score **{score.value}/100**"
            + (f" ({bound})" if bound else "")
            + ("" if scan.complete else " for the part seen only (partial scan)")
            + f": {score.assets_total} asset{'' if score.assets_total == 1 else 's'}, "
            f"{score.assets_at_risk} at risk, {score.assets_unknown} with unknowns"
        ),
        (
            f"- sovscan {md(scan.tool_version)}; rules `{scan.rules_digest[:12]}`, "
            f"data `{scan.data_digest[:12]}`"
        ),
        "",
        "## Where the data is and who can compel it",
        "",
    ]
    lines += _table(
        ["Asset", "Kind", "Location", "Operator", "Jurisdictions", "Laws"],
        [
            [
                item.asset.name,
                item.asset.kind,
                "global edge" if item.location.edge else (item.location.place or "unknown"),
                item.control.operator or "unknown",
                ", ".join(item.control.jurisdictions)
                if item.control.jurisdictions is not None
                else "unknown",
                ", ".join(item.control.laws) if item.control.laws is not None else "unknown",
            ]
            for item in scan.assets
        ],
    )
    shown = [f for f in scan.findings if f.status is not Status.OK]
    lines += ["", f"## Findings ({len(shown)} risk or unknown)", ""]
    lines += _table(
        ["Severity", "Status", "Rule", "Asset", "Finding", "References"],
        [
            [
                f.severity.value,
                f.status.value + (" (waived)" if f.waiver else ""),
                f.rule_id,
                f.asset_id,
                f.message + _accepted(f),
                references_text(f.references) or "-",
            ]
            for f in shown
        ],
    )
    if scan.notices:
        lines += ["", "## Notices", ""] + [f"- {md_prose(n)}" for n in scan.notices]
    if scan.gaps:
        lines += ["", "## Gaps: what could not be seen", ""]
        lines += _table(["Scope", "Reason"], [[g.scope, g.reason] for g in scan.gaps])
    lines += _why(rules_found(scan))
    lines += _laws(laws_named(scan))
    return "\n".join(lines) + "\n"


def _why(rules: Sequence[RuleFound]) -> list[str]:
    """Why each rule with a risk or unknown finding matters, what to do, and what it maps to."""
    if not rules:
        return []
    lines = [
        "",
        "## Why these findings matter",
        "",
        (
            "Each rule with a risk or unknown finding above: why it matters, what to do, and the "
            "framework controls it maps to (`sovscan explain RULE-ID` says the same)."
        ),
    ]
    for rule in rules:
        info = rule.info
        title = f": {md(info.title)}" if info is not None else ""
        lines += ["", f"### {md(rule.id)}{title}", ""]
        lines.append(f"Severity {rule.severity.value}; in this scan: {counts_text(rule)}.")
        if info is None:
            lines += ["", "This scan recorded no description of the rule."]
            continue
        lines += ["", f"**Why it matters.** {md_prose(info.rationale)}"]
        lines += ["", f"**What to do.** {md_prose(info.remediation)}"]
        lines += ["", "**Framework references:**" if info.references else md(rule.unmapped)]
        if info.references:
            lines.append("")
        for framework, controls in by_framework(info.references):
            lines.append(f"- {md(framework)}")
            lines += [f"  - {md(control_label(c))}: {md(c.title)}{md(when(c))}" for c in controls]
    return lines


def _laws(laws: Sequence[LawNamed]) -> list[str]:
    """The laws named beside the assets, as the scan's law catalogue words them."""
    if not laws:
        return []
    lines = [
        "",
        "## Laws named in this report",
        "",
        "The laws an operator above answers to (`sovscan explain LAW-ID` says more).",
        "",
    ]
    lines += _table(
        ["Law", "Name", "Jurisdiction", "What it reaches", "Citation"],
        [
            [
                law.id,
                law.name or "not in this scan's law catalogue",
                law.jurisdiction or "-",
                law.reach or "-",
                law.citation or "-",
            ]
            for law in laws
        ],
    )
    return lines


def md(text: str) -> str:
    """`text` safe inside a Markdown table cell: no markup, no HTML, no line breaks."""
    return _escape(_flat(text))


def md_prose(text: str) -> str:
    """`text` escaped as `md` escapes it, but for a command quoted in backticks (`sovscan data
    update`), which becomes an inline code span when it holds nothing Markdown reads as markup
    (see `spans.code_spans`); escaped, its backticks would show as literal characters."""
    return "".join(
        f"`{piece}`" if code else _escape(piece) for piece, code in code_spans(_flat(text))
    )


def _flat(text: str) -> str:
    return " ".join(strip_controls(text).split())


def _escape(flat: str) -> str:
    return _MARKDOWN_SPECIAL.sub(lambda m: _ENTITIES.get(m.group(), "\\" + m.group()), flat)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return out


def _accepted(finding: Finding) -> str:
    """Who accepted a waived finding, until when, and why, as the table report says it."""
    waiver = finding.waiver
    if waiver is None:
        return ""
    return f" [accepted by {waiver.owner} until {waiver.expires}: {waiver.reason}]"


def _dns_resolver(scan: Scan) -> list[str]:
    """Which DNS servers answered the scan (a replay: the scan it replays), when it asked any."""
    if scan.dns_resolver is None:
        return []
    return [f"- DNS answers from {md(scan.dns_resolver.describe())}"]


def _replay_of(scan: Scan) -> list[str]:
    """The provenance line of a replay: the scan whose observations it evaluated again."""
    replay = scan.replay_of
    if replay is None:
        return []
    line = (
        f"- Replay of scan `{md(replay.scan_id)}`: observations made "
        f"{replay.started_at.isoformat(timespec='seconds')} to "
        f"{replay.finished_at.isoformat(timespec='seconds')}, evaluated again at "
        f"{scan.started_at.isoformat(timespec='seconds')}"
    )
    return [line]
