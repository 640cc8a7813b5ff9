"""The HTML report's sections on why its findings matter: each rule with a risk or unknown
finding (rationale, remedy, framework controls) and the laws the report names, as static,
escaped HTML (no script draws them: they print and read with scripts off)."""

from __future__ import annotations

from collections.abc import Sequence

from sovscan.report.safe import html_text as _e
from sovscan.report.spans import code_spans
from sovscan.report.why import (
    LawNamed,
    RuleFound,
    by_framework,
    control_label,
    counts_text,
    when,
)

STYLE = (
    ".why{background:#fff;padding:.4rem 1rem .8rem;border-radius:6px;margin:.8rem 0;"
    "box-shadow:0 1px 2px #0001}.why h3{font-size:1rem;margin:.6rem 0 .2rem}"
    ".why ul{margin:.2rem 0;padding-left:1.2rem}#laws td:first-child{white-space:nowrap}"
)
"""What the sections add to the page's style sheet."""

_NO_INFO = "This scan recorded no description of the rule."
_NOT_IN_CATALOGUE = "not in this scan's law catalogue"


def why(rules: Sequence[RuleFound]) -> str:
    """One block per rule with a risk or unknown finding, or '' when there is none."""
    if not rules:
        return ""
    blocks = "".join(_rule(rule) for rule in rules)
    return (
        '<h2>Why these findings matter</h2><div id="why"><p class="muted">Each rule with a risk '
        "or unknown finding: why it matters, what to do, and the framework controls it maps to "
        f"(<code>sovscan explain RULE-ID</code> says the same).</p>{blocks}</div>"
    )


def _rule(rule: RuleFound) -> str:
    info = rule.info
    title = f": {_e(info.title)}" if info is not None else ""
    head = (
        f'<h3><code>{_e(rule.id)}</code>{title}</h3><p class="muted">Severity '
        f"{_e(rule.severity.value)}; in this scan: {_e(counts_text(rule))}.</p>"
    )
    if info is None:
        return f'<section class="why">{head}<p>{_NO_INFO}</p></section>'
    groups = "".join(
        f"<li>{_e(framework)}<ul>"
        + "".join(f"<li>{_e(control_label(c))}: {_e(c.title)}{_e(when(c))}</li>" for c in controls)
        + "</ul></li>"
        for framework, controls in by_framework(info.references)
    )
    references = (
        f"<p><strong>Framework references</strong></p><ul>{groups}</ul>"
        if groups
        else f"<p>{_e(rule.unmapped)}</p>"
    )
    return (
        f'<section class="why">{head}'
        f"<p><strong>Why it matters.</strong> {_prose(info.rationale)}</p>"
        f"<p><strong>What to do.</strong> {_prose(info.remediation)}</p>{references}</section>"
    )


def laws(named: Sequence[LawNamed]) -> str:
    """The laws named beside the assets, as a table, or '' when the report names none."""
    if not named:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(law.id)}</code></td>"
        f"<td>{_e(law.name or _NOT_IN_CATALOGUE)}</td>"
        f"<td>{_e(law.jurisdiction or '-')}</td><td>{_e(law.reach or '-')}</td>"
        f"<td>{_e(law.citation or '-')}</td></tr>"
        for law in named
    )
    return (
        '<h2>Laws named in this report</h2><p class="muted">The laws an operator above answers '
        "to (<code>sovscan explain LAW-ID</code> says more).</p>"
        '<table id="laws"><thead><tr><th>law</th><th>name</th><th>jurisdiction</th>'
        f"<th>what it reaches</th><th>citation</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _prose(text: str) -> str:
    """Rule text escaped, with a name quoted in backticks (`data_location`) as code."""
    return "".join(
        f"<code>{_e(piece)}</code>" if code else _e(piece) for piece, code in code_spans(text)
    )
