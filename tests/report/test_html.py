"""The HTML report is self-contained, escapes every value and shows the scan's counts."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from sovscan.model import (
    UNKNOWN_CONTROL,
    UNKNOWN_LOCATION,
    Asset,
    Confidence,
    Evidence,
    Finding,
    Gap,
    Location,
    Method,
    ResolvedAsset,
    Severity,
    Status,
)
from sovscan.report.html import render
from tests.factories import make_scan, resolved_bucket
from tests.report.test_hostile import hostile_scan


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.ids: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self._current = dict(attrs).get("id")

    def handle_data(self, data: str) -> None:
        if self._current and self._current not in self.ids:
            self.ids[self._current] = data


def parse(text: str) -> _Collector:
    collector = _Collector()
    collector.feed(text)
    return collector


def test_counts_and_state_are_shown() -> None:
    page = parse(render(make_scan()))
    assert page.ids["score"] == "50"
    assert page.ids["count-risk"] == "1"
    assert page.ids["count-unknown"] == "1"
    assert page.ids["count-gaps"] == "0"
    assert page.ids["scan-state"].startswith("Complete scan")


def test_waived_findings_are_told_apart_from_the_counts_the_score_uses() -> None:
    # "Risk findings 22" beside "medium 7, high 13": the difference was waived, unsaid.
    from dataclasses import replace

    from sovscan.model import Status, WaiverMark

    scan = make_scan()
    waiver = WaiverMark("TIA-7", "dpo@example.ca", "2027-01-01")
    findings = tuple(
        replace(f, waiver=waiver) if f.status is Status.RISK else f for f in scan.findings
    )
    page = parse(render(replace(scan, findings=findings)))
    assert page.ids["count-risk"] == "1"
    assert page.ids["waived-risk"] == "1 waived, not in the score"
    assert "waived-unknown" not in page.ids
    assert "Unwaived risk findings by severity" in render(replace(scan, findings=findings))
    assert "waived-risk" not in parse(render(scan)).ids


def test_partial_scan_says_so() -> None:
    page = parse(render(make_scan(gaps=(Gap("aws:1:ca-central-1:s3", "AccessDenied"),))))
    assert page.ids["scan-state"].startswith("Partial scan: 1 scope")


def test_self_contained_no_network_references() -> None:
    text = render(make_scan())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_hostile_values_are_inert() -> None:
    text = render(hostile_scan())  # type: ignore[arg-type]
    page = parse(text)
    assert page.tags.count("script") == 1  # only the report's own script
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\x1b" not in text
    assert not any(name.startswith("on") for name, _ in page.attrs)


def test_notices_are_shown_escaped() -> None:
    from dataclasses import replace

    scan = replace(make_scan(), notices=("Replay, not a new scan: <b>&</b>",))
    page = render(scan)
    assert 'id="notices"' in page
    assert "Replay, not a new scan: &lt;b&gt;&amp;&lt;/b&gt;" in page
    assert 'id="notices"' not in render(make_scan())


def report_data(text: str) -> dict[str, Any]:
    found = re.search(r'<pre id="report-data" hidden>(.*?)</pre>', text, re.DOTALL)
    assert found is not None
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def test_an_evidence_chain_shows_each_step_once() -> None:
    # A step that decided both the place and the operator is in both answers; the finding's
    # evidence is its asset's; and a step the asset's chain lacks is still shown.
    when = datetime(2026, 11, 24, tzinfo=UTC)
    seen = Evidence("dns:A", "www 300 IN A 192.0.2.80", when, Confidence.HIGH)
    both = Evidence("ip-index", "192.0.2.80: a documentation address", when, Confidence.NONE)
    extra = Evidence("rule:x", "only the finding's", when, Confidence.LOW)
    asset = Asset("dns:u.example:host:www.u.example", "dns.host", "www.u.example", {}, (seen,))
    resolved = ResolvedAsset(
        asset,
        replace(UNKNOWN_LOCATION, evidence=(both,)),
        replace(UNKNOWN_CONTROL, evidence=(both,)),
    )
    finding = Finding(
        "location-unknown",
        asset.id,
        Status.UNKNOWN,
        Severity.INFO,
        "m",
        ("location.place",),
        (seen, both, extra),
    )
    data = report_data(render(make_scan(assets=(resolved,), findings=(finding,))))
    (row,) = data["findings"]
    chain = [tuple(step) for step in data["assets"][row[4]][8] + row[10]]
    assert chain == [
        ("dns:A", "high", seen.detail),
        ("ip-index", "none", both.detail),
        ("rule:x", "low", extra.detail),
    ]


def test_the_places_chart_counts_only_assets_that_hold_data() -> None:
    # Verification tokens, SPF records and name servers hold no data; each was an "unknown"
    # (or "global edge") bar of "Where the data lives".
    def record(kind: str, name: str, location: Location = UNKNOWN_LOCATION) -> ResolvedAsset:
        return ResolvedAsset(
            Asset(f"dns:u.example:{name}", kind, name, {}), location, UNKNOWN_CONTROL
        )

    edge = Location("cloudflare", None, None, None, True, Method.PUBLISHED_RANGES, Confidence.HIGH)
    assets = (
        resolved_bucket(),
        record("dns.txt", "txt:google-site-verification"),
        record("dns.spf", "spf"),
        record("dns.ns", "ns:ada.ns.cloudflare.com", edge),
        record("dns.mailbox", "mailbox"),
        # Located by its address: where its front end answers, not where the data rests.
        record(
            "saas.endpoint",
            "lms",
            replace(resolved_bucket().location, method=Method.PUBLISHED_RANGES),
        ),
    )
    page = render(make_scan(assets=assets))
    places = page.split('<svg id="chart-places"')[1].split("</svg>")[0]
    assert re.findall(r"<title>([^<]*)</title>", places) == [
        "CA-QC: 1",
        "unknown: 1",
        "CA-QC (front end): 1",
    ]
    assert 'aria-label="Assets holding data, by place (ISO 3166)"' in page
    assert (
        parse(page)
        .ids["places-note"]
        .startswith("Assets that hold data: 3 of 6, counted by place: the stores")
    )
    # Who can compel the operators: every asset, the control plane too.
    powers = page.split('<svg id="chart-jurisdictions"')[1].split("</svg>")[0]
    assert re.findall(r"<title>([^<]*)</title>", powers) == ["unknown: 5", "US: 1"]
    only_records = render(make_scan(assets=assets[1:4]))
    assert '<p id="chart-places">(no asset holds data)</p>' in only_records
