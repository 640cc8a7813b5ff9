"""The HTML report: one self-contained page (inline CSS, JS and SVG; no network) for people."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape

from sovscan.model import (
    Evidence,
    Finding,
    Location,
    ResolvedAsset,
    Scan,
    Status,
    evidence_chain,
    holds_data,
    rests_there,
)
from sovscan.report import html_why
from sovscan.report.bound import bound_text
from sovscan.report.safe import html_text, strip_controls
from sovscan.report.spans import code_spans
from sovscan.report.why import laws_named, rules_found

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
  var data=JSON.parse(document.getElementById('report-data').textContent);
  var assets=data.assets;
  function el(tag,text,cls){
    var node=document.createElement(tag);
    if(text!==null)node.textContent=text;
    if(cls)node.className=cls;
    return node;
  }
  function chain(items){
    var list=el('ul',null);
    items.forEach(function(ev){
      var item=el('li',null);
      item.appendChild(el('code',ev[0]));
      item.appendChild(document.createTextNode(' ('+ev[1]+'): '+ev[2]));
      list.appendChild(item);
    });
    return list;
  }
  function findingRow(f){
    var row=el('tr',null);
    row.dataset.status=f[1];row.dataset.severity=f[0];
    row.appendChild(el('td',f[0],'sev-'+f[0]));
    row.appendChild(el('td',f[1]+(f[2]?' (waived)':''),'st-'+f[1]));
    row.appendChild(el('td',f[3]));
    row.appendChild(el('td',f[5],'wrap'));
    var cell=el('td',f[6],'wrap');
    if(f[7])cell.appendChild(el('div','unknown facts: '+f[7]));
    if(f[8]){
      var waiver=el('div',null);
      waiver.appendChild(el('strong','accepted risk'));
      waiver.appendChild(document.createTextNode(' '+f[8]));
      cell.appendChild(waiver);
    }
    var items=(f[4]>=0?assets[f[4]][8]:[]).concat(f[10]);
    var details=el('details',null);
    details.appendChild(el('summary','evidence chain ('+items.length+')'));
    details.appendChild(chain(items));
    details.appendChild(el('div','frameworks: '+(f[9]||'none mapped')));
    cell.appendChild(details);
    row.appendChild(cell);
    return row;
  }
  function assetRow(a){
    var row=el('tr',null);
    row.appendChild(el('td',a[0],'wrap'));
    for(var i=1;i<7;i++)row.appendChild(el('td',a[i]));
    return row;
  }
  function chainText(items){  // as chain() shows each item
    return items.map(function(ev){return ev[0]+' ('+ev[1]+'): '+ev[2];}).join(' ');
  }
  function findingText(f){
    var own=f[4]>=0?chainText(assets[f[4]][8]):'';
    var shown=[f[0],f[1]+(f[2]?' (waived)':''),f[3],f[5],f[6],'unknown facts: '+f[7],
      'accepted risk '+f[8],'frameworks: '+(f[9]||'none mapped')];
    return shown.concat([own,chainText(f[10])]).join(' ');
  }
  function assetText(a){
    return a.slice(0,8).join(' ')+' '+chainText(a[8]);
  }
  function pager(table,prefix,items,draw,keep,selects,describe){
    var words=[];  // what a search matches, built on the first search only
    var body=document.querySelector('#'+table+' tbody');
    var text=document.getElementById(prefix+'-text'),count=document.getElementById(prefix+'-count');
    var prev=document.getElementById(prefix+'-prev'),next=document.getElementById(prefix+'-next');
    var label=document.getElementById(prefix+'-page'),page=0,matching=[];
    function show(){
      var pages=Math.max(1,Math.ceil(matching.length/PAGE));
      page=Math.min(page,pages-1);
      var rows=document.createDocumentFragment();
      matching.slice(page*PAGE,(page+1)*PAGE).forEach(function(item){rows.appendChild(draw(item));});
      body.textContent='';
      body.appendChild(rows);
      count.textContent=String(matching.length);
      label.textContent='page '+(page+1)+' of '+pages;
      prev.disabled=page===0;next.disabled=page>=pages-1;
    }
    function apply(){
      var needle=text.value.toLowerCase();
      matching=items.filter(function(item,index){
        if(!keep(item))return false;
        if(!needle)return true;
        if(words[index]===undefined)words[index]=describe(item).toLowerCase();
        return words[index].indexOf(needle)>=0;
      });
      page=0;show();
    }
    selects.concat([text]).forEach(function(input){input.addEventListener('input',apply);});
    prev.addEventListener('click',function(){page--;show();});
    next.addEventListener('click',function(){page++;show();});
    apply();
  }
  var status=document.getElementById('f-status'),severity=document.getElementById('f-severity');
  pager('findings','f',data.findings,findingRow,function(f){
    return (!status.value||f[1]===status.value)&&(!severity.value||f[0]===severity.value);
  },[status,severity],findingText);
  pager('assets','a',assets,assetRow,function(){return true;},[],assetText);
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
            html_why.why(rules_found(scan)),
            html_why.laws(laws_named(scan)),
            _assets(),
            _provenance(scan),
            _data(scan),
            "</main>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>sovscan: {_e(scan.policy.institution)}</title>"
        f"<style>{_STYLE}{html_why.STYLE}</style></head>\n"
        f"<body>\n{body}\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def _e(text: object) -> str:
    return html_text(text)


def _prose(text: str) -> str:
    """`text` escaped, with a command quoted in backticks as code (see `spans.code_spans`)."""
    return "".join(
        f"<code>{_e(piece)}</code>" if code else _e(piece) for piece, code in code_spans(text)
    )


def _header(scan: Scan) -> str:
    policy = scan.policy
    return (
        f"<header><h1>Where {_e(policy.institution)}'s data lives, and who can reach it</h1>"
        f'<div class="muted">home {_e(policy.home)} · data may rest in '
        f"{_e(', '.join(policy.allowed_locations))} · {_when(scan)}{_dns_resolver(scan)}"
        "</div></header>"
    )


def _dns_resolver(scan: Scan) -> str:
    """Which DNS servers answered the scan, for the header; nothing when it asked none."""
    if scan.dns_resolver is None:
        return ""
    return f' · <span id="dns-resolver">DNS answers from {_e(scan.dns_resolver.describe())}</span>'


def _when(scan: Scan) -> str:
    evaluated = _e(scan.started_at.isoformat(timespec="seconds"))
    if scan.replay_of is None:
        return f"scanned {evaluated}"
    observed = _e(scan.replay_of.started_at.isoformat(timespec="seconds"))
    return f"observed {observed} (scan {_e(scan.replay_of.scan_id)}) · replayed {evaluated}"


def _summary(scan: Scan) -> str:
    score = scan.score
    bound = bound_text(score)
    banner = (
        '<div class="banner complete" id="scan-state">Complete scan: every configured scope '
        "was seen.</div>"
        if scan.complete
        else f'<div class="banner partial" id="scan-state">Partial scan: {len(scan.gaps)} '
        "scope(s) could not be seen. Nothing there was judged safe; see Gaps.</div>"
    )
    by_status = Counter(f.status for f in scan.findings)
    waived = Counter(f.status for f in scan.findings if f.waiver is not None)

    def counted(status: Status) -> str:
        """A finding count, and how many of them a waiver accepts: the score and its bound
        count only the others, and a board member adding up the page will ask."""
        count = f'<span id="count-{status.value}">{by_status[status]}</span>'
        if not waived[status]:
            return count
        note = f"{waived[status]} waived, not in the score"
        return count + f'<div class="muted" id="waived-{status.value}">{note}</div>'

    cards = [
        (
            "exposure score" if scan.complete else "exposure score, part seen only",
            f'<span class="score" id="score">{score.value}</span>/100'
            + ("" if scan.complete else ' <span class="muted">(partial)</span>')
            + (f'<div class="muted" id="score-bound">{_e(bound)}</div>' if bound else ""),
        ),
        ("assets", f'<span id="assets-total">{score.assets_total}</span>'),
        ("at risk", f'<span id="assets-at-risk">{score.assets_at_risk}</span>'),
        ("risk findings", counted(Status.RISK)),
        ("unknown findings", counted(Status.UNKNOWN)),
        ("gaps", f'<span id="count-gaps">{len(scan.gaps)}</span>'),
    ]
    severity = ", ".join(f"{_e(k)} {v}" for k, v in score.by_severity.items() if v) or "none"
    return (
        banner
        + '<div class="cards">'
        + "".join(f'<div class="card"><div class="muted">{t}</div>{v}</div>' for t, v in cards)
        + f'</div><p class="muted">{"Unwaived risk" if waived else "Risk"} findings by '
        f"severity: {severity}.</p>" + _notices(scan)
    )


def _notices(scan: Scan) -> str:
    """What the reader must know (expired or unused waivers, a replay), as every format says."""
    if not scan.notices:
        return ""
    items = "".join(f"<li>{_prose(notice)}</li>" for notice in scan.notices)
    return (
        f'<div class="banner partial" id="notices"><strong>Notices</strong><ul>{items}</ul></div>'
    )


def _where(assets: Sequence[ResolvedAsset]) -> str:
    # Only an asset that holds data has a place where data lives. A verification token, an SPF
    # record or a name server has none, and counting them swelled "unknown": 25 of the demo's
    # 42 assets, only 5 of which hold data.
    data_kinds = {kind: holds_data(kind) for kind in {a.asset.kind for a in assets}}
    stores = [a for a in assets if data_kinds[a.asset.kind]]
    places = Counter(_place_label(a.location) for a in stores)
    powers = Counter(j for a in assets for j in (a.control.jurisdictions or ("unknown",)))
    return (
        "<h2>Where the data lives</h2>"
        f'<p class="muted" id="places-note">Assets that hold data: {len(stores)} of '
        f"{len(assets)}, counted by place: the stores, mailboxes, hosts and SaaS endpoints the "
        "location rules judge. The others are left out: accounts, keys, name servers, mail "
        "relays, DNS records such as SPF, DMARC or verification tokens, and services such as "
        "functions, queues or registries, whose data the location rules do not judge. A place "
        "marked (front end) was found from an address or a host name: it is where the service "
        "answers, not where its data is shown to rest; one marked (declared) is where the "
        "institution declares a SaaS vendor keeps the data.</p>"
        + _bar_chart(
            "chart-places",
            "Assets holding data, by place (ISO 3166)",
            places,
            "(no asset holds data)",
        )
        + "<h2>Which jurisdictions can compel their operators</h2>"
        '<p class="muted">Every asset, the control plane included: who runs a name server or a '
        "mail relay can be compelled too.</p>"
        + _bar_chart("chart-jurisdictions", "All assets by controlling jurisdiction", powers)
    )


def _place_label(location: Location) -> str:
    if location.declared is not None:
        return f"{location.declared} (declared)"
    if location.edge:
        return "global edge"
    if location.place is None:
        return "unknown"
    return location.place if rests_there(location.method) else f"{location.place} (front end)"


def _bar_chart(chart_id: str, title: str, counts: Counter[str], empty: str = "(no assets)") -> str:
    items = counts.most_common(12)
    if not items:
        return f'<p id="{chart_id}">{_e(empty)}</p>'
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
    severities = sorted({f.severity for f in scan.findings}, key=lambda s: -s.rank)
    options = "".join(f'<option value="{s.value}">{s.value}</option>' for s in severities)
    return (
        "<h2>Findings</h2>"
        '<div class="filters"><label>status <select id="f-status"><option value="">all</option>'
        '<option value="risk">risk</option><option value="unknown">unknown</option>'
        '<option value="ok">ok</option></select></label>'
        f'<label>severity <select id="f-severity"><option value="">all</option>{options}'
        "</select></label>"
        + _pager_controls("f")
        + "</div>"
        + _NO_SCRIPT
        + '<table id="findings"><thead><tr><th>severity</th><th>status</th><th>rule</th>'
        "<th>asset</th><th>finding and evidence</th></tr></thead><tbody></tbody></table>"
    )


def _pager_controls(prefix: str) -> str:
    return (
        f'<label>search <input id="{prefix}-text" type="search"></label>'
        f'<span class="muted"><span id="{prefix}-count"></span> match</span>'
        f'<button id="{prefix}-prev" type="button">previous</button>'
        f'<span id="{prefix}-page" class="muted"></span>'
        f'<button id="{prefix}-next" type="button">next</button>'
    )


_NO_SCRIPT = (
    "<noscript><p>This table is drawn by the page's own script, which is off here; the JSON "
    "report holds the same rows (and the CSV report every finding).</p></noscript>"
)


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    order = {Status.RISK: 0, Status.UNKNOWN: 1, Status.OK: 2}
    return sorted(findings, key=lambda f: (order[f.status], -f.severity.rank, f.rule_id))


def _data(scan: Scan) -> str:
    """The findings and assets as one JSON document inside an inert, hidden element.

    The page's script draws 200 rows at a time from it, so a scan of 100,000 assets is a page a
    browser opens in seconds, where one table row per finding took a minute at 10,000 assets.
    The asset's evidence is written once, not again for each of its findings. The JSON is
    HTML-escaped, so it is text to the parser; the script reads it with `textContent` and writes
    every value back with `textContent`, never as markup.
    """
    position = {item.asset.id: index for index, item in enumerate(scan.assets)}
    chains = [_chain(item) for item in scan.assets]
    shown: dict[int, frozenset[Evidence]] = {}  # an asset's chain as a set, once a finding asks
    findings = []
    for finding in _ordered(scan.findings):
        index = position.get(finding.asset_id, -1)
        own = finding.evidence
        if index >= 0:
            # The page shows a finding's chain as its asset's chain, then the finding's own
            # evidence: only what the asset's chain lacks, or each step the rule read (every
            # one of them the asset's) would be shown twice.
            if index not in shown:
                shown[index] = frozenset(chains[index])
            own = tuple(e for e in own if e not in shown[index])
        findings.append(_finding_data(finding, index, own))
    document = {
        "assets": [
            _asset_data(item, chain) for item, chain in zip(scan.assets, chains, strict=True)
        ],
        "findings": findings,
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return f'<pre id="report-data" hidden>{escape(strip_controls(text), quote=False)}</pre>'


def _chain(item: ResolvedAsset) -> tuple[Evidence, ...]:
    return evidence_chain(item.asset.evidence, item.location.evidence, item.control.evidence)


def _asset_data(item: ResolvedAsset, chain: Sequence[Evidence]) -> list[object]:
    laws = item.control.laws
    return [
        _t(item.asset.name),
        _t(item.asset.kind),
        _t(_place(item)),
        item.location.method.value,
        _t(item.control.operator or "unknown"),
        _t(item.control.parent or ""),
        _t(", ".join(laws) if laws is not None else "unknown"),
        _t(item.asset.id),
        _evidence(chain),
    ]


def _finding_data(finding: Finding, asset: int, evidence: Sequence[Evidence]) -> list[object]:
    waiver = finding.waiver
    return [
        finding.severity.value,
        finding.status.value,
        int(waiver is not None),
        _t(finding.rule_id),
        asset,
        _t(finding.asset_id),
        _t(finding.message),
        _t(", ".join(finding.missing)),
        "" if waiver is None else _t(f"by {waiver.owner} until {waiver.expires}: {waiver.reason}"),
        _t(", ".join(f"{r.framework} {r.control}" for r in finding.references)),
        _evidence(evidence),
    ]


def _evidence(chain: Iterable[Evidence]) -> list[list[str]]:
    return [[_t(e.source), e.confidence.value, _t(e.detail)] for e in chain]


def _t(text: str) -> str:
    return strip_controls(text)


def _gaps(scan: Scan) -> str:
    if not scan.gaps:
        return '<h2>Gaps</h2><p id="gaps">None: every configured scope was seen.</p>'
    rows = "".join(f"<tr><td>{_e(g.scope)}</td><td>{_e(g.reason)}</td></tr>" for g in scan.gaps)
    return (
        '<h2>Gaps: what could not be seen</h2><table id="gaps"><thead><tr><th>scope</th>'
        f"<th>why</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _assets() -> str:
    return (
        '<h2>Assets</h2><div class="filters">'
        + _pager_controls("a")
        + "</div>"
        + _NO_SCRIPT
        + '<table id="assets"><thead><tr><th>asset</th><th>kind</th><th>place</th>'
        "<th>how we know</th><th>operator</th><th>parent</th><th>laws</th></tr></thead>"
        "<tbody></tbody></table>"
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
        *(
            [
                ("replay of scan", scan.replay_of.scan_id),
                ("observed from", scan.replay_of.started_at.isoformat()),
                ("observed until", scan.replay_of.finished_at.isoformat()),
            ]
            if scan.replay_of is not None
            else []
        ),
        *(
            [("DNS resolver", scan.dns_resolver.describe())]
            if scan.dns_resolver is not None
            else []
        ),
        ("rules digest (SHA-256)", scan.rules_digest),
        ("data digest (SHA-256)", scan.data_digest),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in rows)
    return f'<h2>Provenance</h2><table id="provenance">{body}</table>'
