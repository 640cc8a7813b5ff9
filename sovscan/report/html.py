"""The HTML report: one self-contained page (inline CSS, JS and SVG; no network) for people."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape

from sovscan.model import Evidence, Finding, ResolvedAsset, Scan, Status
from sovscan.report.safe import strip_controls

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header,main{max-width:1200px;margin:0 auto;padding:1rem 1.5rem}
header{background:#14324f;color:#fff;max-width:none}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:2rem}
.score{font-size:2.6rem;font-weight:700}.muted{color:#5b6570}header .muted{color:#c9d6e3}
.banner{padding:.6rem 1rem;border-radius:6px;margin:1rem 0;font-weight:600}
.partial{background:#fde6c4;color:#6b3d00}.complete{background:#d9f2e3;color:#14532d}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#eef1f4}td.wrap{word-break:break-word}
.sev-critical,.sev-high{color:#a4161a;font-weight:600}.sev-medium{color:#b45309}
.st-unknown{color:#6d28d9}.st-ok{color:#15803d}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;padding:.8rem 1rem;
border-radius:6px;box-shadow:0 1px 2px #0001;min-width:9rem}
.filters{display:flex;gap:.6rem;margin:.6rem 0;flex-wrap:wrap}
details{font-size:.85rem}details ul{margin:.3rem 0;padding-left:1.2rem}
svg text{font:12px system-ui,sans-serif}code{font-size:.85em}
"""

_SCRIPT = """
(function(){
  var PAGE=200;
  var rows=Array.prototype.slice.call(document.querySelectorAll('#findings tbody tr'));
  var status=document.getElementById('f-status'),severity=document.getElementById('f-severity');
  var text=document.getElementById('f-text'),count=document.getElementById('f-count');
  var prev=document.getElementById('f-prev'),next=document.getElementById('f-next');
  var pageLabel=document.getElementById('f-page'),page=0,matching=[];
  function draw(){
    var pages=Math.max(1,Math.ceil(matching.length/PAGE));
    page=Math.min(page,pages-1);
    rows.forEach(function(row){row.hidden=true;});
    matching.slice(page*PAGE,(page+1)*PAGE).forEach(function(row){row.hidden=false;});
    count.textContent=String(matching.length);
    pageLabel.textContent='page '+(page+1)+' of '+pages;
    prev.disabled=page===0;next.disabled=page>=pages-1;
  }
  function apply(){
    var needle=text.value.toLowerCase();
    matching=rows.filter(function(row){
      return (!status.value||row.dataset.status===status.value)&&
             (!severity.value||row.dataset.severity===severity.value)&&
             (!needle||row.textContent.toLowerCase().indexOf(needle)>=0);
    });
    page=0;draw();
  }
  [status,severity,text].forEach(function(el){el.addEventListener('input',apply);});
  prev.addEventListener('click',function(){page--;draw();});
  next.addEventListener('click',function(){page++;draw();});
  apply();
})();
"""


def render(scan: Scan) -> str:
    """The scan as one HTML page. Every value from the scan is escaped; scripts run only by hash."""
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script_hash}'"
    )
    body = "\n".join(
        [
            _header(scan),
            "<main>",
            _summary(scan),
            _where(scan.assets),
            _findings(scan),
            _gaps(scan),
            _assets(scan.assets),
            _provenance(scan),
            "</main>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>sovscan: {_e(scan.policy.institution)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def _e(text: object) -> str:
    return escape(strip_controls(str(text)), quote=True)


def _header(scan: Scan) -> str:
    policy = scan.policy
    return (
        f"<header><h1>Where {_e(policy.institution)}'s data lives, and who can reach it</h1>"
        f'<div class="muted">home {_e(policy.home)} · data may rest in '
        f"{_e(', '.join(policy.allowed_locations))} · scanned "
        f"{_e(scan.started_at.isoformat(timespec='seconds'))}</div></header>"
    )


def _summary(scan: Scan) -> str:
    score = scan.score
    banner = (
        '<div class="banner complete" id="scan-state">Complete scan: every configured scope '
        "was seen.</div>"
        if scan.complete
        else f'<div class="banner partial" id="scan-state">Partial scan: {len(scan.gaps)} '
        "scope(s) could not be seen. Nothing there was judged safe; see Gaps.</div>"
    )
    by_status = Counter(f.status for f in scan.findings)
    cards = [
        (
            "exposure score" if scan.complete else "exposure score, part seen only",
            f'<span class="score" id="score">{score.value}</span>/100'
            + ("" if scan.complete else ' <span class="muted">(partial)</span>'),
        ),
        ("assets", f'<span id="assets-total">{score.assets_total}</span>'),
        ("at risk", f'<span id="assets-at-risk">{score.assets_at_risk}</span>'),
        ("risk findings", f'<span id="count-risk">{by_status[Status.RISK]}</span>'),
        ("unknown findings", f'<span id="count-unknown">{by_status[Status.UNKNOWN]}</span>'),
        ("gaps", f'<span id="count-gaps">{len(scan.gaps)}</span>'),
    ]
    severity = ", ".join(f"{_e(k)} {v}" for k, v in score.by_severity.items() if v) or "none"
    return (
        banner
        + '<div class="cards">'
        + "".join(f'<div class="card"><div class="muted">{t}</div>{v}</div>' for t, v in cards)
        + f'</div><p class="muted">Risk findings by severity: {severity}.</p>'
    )


def _where(assets: Sequence[ResolvedAsset]) -> str:
    places = Counter(
        "global edge" if a.location.edge else (a.location.place or "unknown") for a in assets
    )
    powers = Counter(j for a in assets for j in (a.control.jurisdictions or ("unknown",)))
    return (
        "<h2>Where the data lives</h2>"
        + _bar_chart("chart-places", "Assets by place (ISO 3166)", places)
        + "<h2>Which jurisdictions can compel it</h2>"
        + _bar_chart("chart-jurisdictions", "Assets by controlling jurisdiction", powers)
    )


def _bar_chart(chart_id: str, title: str, counts: Counter[str]) -> str:
    items = counts.most_common(12)
    if not items:
        return "<p>(no assets)</p>"
    top = items[0][1]
    row_height, label_width, bar_width = 24, 140, 420
    bars = []
    for index, (label, count) in enumerate(items):
        y = index * row_height
        width = max(2, round(bar_width * count / top))
        colour = "#9aa5b1" if label == "unknown" else "#2f6f9f"
        bars.append(
            f'<text x="0" y="{y + 16}">{_e(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{width}" height="16" fill="{colour}">'
            f"<title>{_e(label)}: {count}</title></rect>"
            f'<text x="{label_width + width + 6}" y="{y + 16}">{count}</text>'
        )
    height = row_height * len(items)
    return (
        f'<svg id="{chart_id}" role="img" aria-label="{_e(title)}" width="640" '
        f'height="{height}" viewBox="0 0 640 {height}">{"".join(bars)}</svg>'
    )


def _findings(scan: Scan) -> str:
    by_id = {a.asset.id: a for a in scan.assets}
    rows = [_finding_row(f, by_id.get(f.asset_id)) for f in _ordered(scan.findings)]
    severities = sorted({f.severity for f in scan.findings}, key=lambda s: -s.rank)
    options = "".join(f'<option value="{s.value}">{s.value}</option>' for s in severities)
    return (
        "<h2>Findings</h2>"
        '<div class="filters"><label>status <select id="f-status"><option value="">all</option>'
        '<option value="risk">risk</option><option value="unknown">unknown</option>'
        '<option value="ok">ok</option></select></label>'
        f'<label>severity <select id="f-severity"><option value="">all</option>{options}'
        '</select></label><label>search <input id="f-text" type="search"></label>'
        '<span class="muted"><span id="f-count"></span> match</span>'
        '<button id="f-prev" type="button">previous</button><span id="f-page" class="muted">'
        '</span><button id="f-next" type="button">next</button></div>'
        '<table id="findings"><thead><tr><th>severity</th><th>status</th><th>rule</th>'
        "<th>asset</th><th>finding and evidence</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    order = {Status.RISK: 0, Status.UNKNOWN: 1, Status.OK: 2}
    return sorted(findings, key=lambda f: (order[f.status], -f.severity.rank, f.rule_id))


def _finding_row(finding: Finding, item: ResolvedAsset | None) -> str:
    chain: list[Evidence] = []
    if item is not None:
        chain += [*item.asset.evidence, *item.location.evidence, *item.control.evidence]
    chain += finding.evidence
    missing = (
        f"<div>unknown facts: {_e(', '.join(finding.missing))}</div>" if finding.missing else ""
    )
    references = ", ".join(f"{r.framework} {r.control}" for r in finding.references)
    if finding.waiver is not None:
        missing += (
            f"<div><strong>accepted risk</strong> by {_e(finding.waiver.owner)} until "
            f"{_e(finding.waiver.expires)}: {_e(finding.waiver.reason)}</div>"
        )
    evidence = "".join(
        f"<li><code>{_e(e.source)}</code> ({_e(e.confidence.value)}): {_e(e.detail)}</li>"
        for e in chain
    )
    return (
        f'<tr data-status="{finding.status.value}" data-severity="{finding.severity.value}">'
        f'<td class="sev-{finding.severity.value}">{finding.severity.value}</td>'
        f'<td class="st-{finding.status.value}">{finding.status.value}'
        f"{' (waived)' if finding.waiver else ''}</td>"
        f'<td>{_e(finding.rule_id)}</td><td class="wrap">{_e(finding.asset_id)}</td>'
        f'<td class="wrap">{_e(finding.message)}{missing}'
        f"<details><summary>evidence chain ({len(chain)})</summary><ul>{evidence}</ul>"
        f"<div>frameworks: {_e(references) or 'none mapped'}</div></details></td></tr>"
    )


def _gaps(scan: Scan) -> str:
    if not scan.gaps:
        return '<h2>Gaps</h2><p id="gaps">None: every configured scope was seen.</p>'
    rows = "".join(f"<tr><td>{_e(g.scope)}</td><td>{_e(g.reason)}</td></tr>" for g in scan.gaps)
    return (
        '<h2>Gaps: what could not be seen</h2><table id="gaps"><thead><tr><th>scope</th>'
        f"<th>why</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _assets(assets: Sequence[ResolvedAsset]) -> str:
    rows = "".join(
        "<tr>"
        f'<td class="wrap">{_e(a.asset.name)}</td><td>{_e(a.asset.kind)}</td>'
        f"<td>{_e(_place(a))}</td><td>{_e(a.location.method.value)}</td>"
        f"<td>{_e(a.control.operator or 'unknown')}</td><td>{_e(a.control.parent or '')}</td>"
        f"<td>{_e(', '.join(a.control.laws) if a.control.laws is not None else 'unknown')}</td>"
        "</tr>"
        for a in assets
    )
    return (
        '<h2>Assets</h2><table id="assets"><thead><tr><th>asset</th><th>kind</th><th>place</th>'
        "<th>how we know</th><th>operator</th><th>parent</th><th>laws</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _place(item: ResolvedAsset) -> str:
    location = item.location
    if location.edge:
        return f"{location.provider or '?'} global edge"
    parts = [location.provider, location.region, location.place]
    return " ".join(p for p in parts if p) or "unknown"


def _provenance(scan: Scan) -> str:
    rows = [
        ("tool", f"sovscan {scan.tool_version}"),
        ("scan id", scan.id),
        ("started", scan.started_at.isoformat()),
        ("finished", scan.finished_at.isoformat()),
        ("rules digest (SHA-256)", scan.rules_digest),
        ("data digest (SHA-256)", scan.data_digest),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in rows)
    return f'<h2>Provenance</h2><table id="provenance">{body}</table>'
