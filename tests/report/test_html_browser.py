"""The HTML report in a real headless Chromium: it renders, counts match, no console errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from sovscan.model import Finding, Gap, Severity, Status, evidence_chain
from sovscan.report.html import render
from tests.conftest import REPO
from tests.factories import make_scan
from tests.report.test_hostile import hostile_scan, hostile_words_scan

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "Debian's chromium is required: `make test` installs it (apt-get install chromium)"
        )
    return found


@contextmanager
def page_of(page_file: Path) -> Iterator[Page]:
    """The page in headless Chromium, with the page's own script running under its CSP."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            yield page
        finally:
            browser.close()


def open_report(tmp_path: Path, html: str, screenshot: str) -> tuple[dict[str, str], list[str]]:
    page_file = tmp_path / "report.html"
    page_file.write_text(html, encoding="utf-8")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            seen = {
                key: page.inner_text(f"#{key}")
                for key in ("score", "count-risk", "count-unknown", "count-gaps", "scan-state")
            }
            seen["rows"] = str(page.locator("#findings tbody tr").count())
            seen["asset-rows"] = str(page.locator("#assets tbody tr").count())
            seen["first-chain"] = page.locator("#findings tbody tr summary").first.inner_text()
            page.select_option("#f-status", "risk")
            seen["shown-risk"] = page.inner_text("#f-count")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        finally:
            browser.close()
    return seen, errors


def test_report_renders_with_counts_and_working_filters(tmp_path: Path) -> None:
    scan = make_scan(gaps=(Gap("aws:123456789012:eu-west-3:rds", "AccessDenied"),))
    seen, errors = open_report(tmp_path, render(scan), "report.png")
    assert errors == []
    assert seen["score"] == "50"
    assert seen["count-risk"] == "1" and seen["count-unknown"] == "1"
    assert seen["count-gaps"] == "1"
    assert seen["scan-state"].startswith("Partial scan")
    assert seen["rows"] == "2"
    assert seen["asset-rows"] == str(len(scan.assets))
    first = next(f for f in scan.findings if f.status is Status.RISK)
    item = next(a for a in scan.assets if a.asset.id == first.asset_id)
    chain = evidence_chain(item.asset.evidence, item.location.evidence, item.control.evidence)
    shown = evidence_chain(chain, first.evidence)  # the asset's chain, then what it lacks
    assert seen["first-chain"] == f"evidence chain ({len(shown)})"
    assert seen["shown-risk"] == "1"  # the filter script ran under the page's CSP
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_hostile_report_runs_no_injected_script(tmp_path: Path) -> None:
    seen, errors = open_report(tmp_path, render(hostile_scan()), "report-hostile.png")  # type: ignore[arg-type]
    assert errors == []  # an injected script would have raised or been blocked loudly
    assert seen["count-risk"] == "1"


def test_large_reports_are_paginated(tmp_path: Path) -> None:
    """Rows are drawn 200 at a time from the page's data, so a large scan stays usable."""
    base = make_scan()
    findings = tuple(
        Finding(f"rule-{i:04d}", base.assets[0].asset.id, Status.RISK, Severity.HIGH, f"m{i}")
        for i in range(1000)
    )
    page_file = tmp_path / "big.html"
    page_file.write_text(render(replace(base, findings=findings)), encoding="utf-8")
    with page_of(page_file) as page:
        visible = page.locator("#findings tbody tr:not([hidden])")
        assert visible.count() == 200
        assert page.inner_text("#f-page") == "page 1 of 5"
        assert page.inner_text("#f-count") == "1000"
        page.click("#f-next")
        assert page.inner_text("#f-page") == "page 2 of 5"
        assert visible.first.inner_text().count("rule-0200") == 1
        page.fill("#f-text", "rule-0999")
        assert visible.count() == 1 and page.inner_text("#f-page") == "page 1 of 1"


def test_search_reads_what_the_rows_say_and_their_evidence(tmp_path: Path) -> None:
    scan = make_scan()
    first = next(f for f in scan.findings if f.status is Status.RISK)
    item = next(a for a in scan.assets if a.asset.id == first.asset_id)
    evidence = item.asset.evidence[0].detail  # shown only inside the finding's evidence chain
    page_file = tmp_path / "search.html"
    page_file.write_text(render(scan), encoding="utf-8")
    with page_of(page_file) as page:
        searches = {
            evidence.lower(): "1",
            f"({item.asset.evidence[0].confidence.value}): {evidence}": "1",  # as the row shows
            first.message.upper(): "1",
            '"': "0",  # the page's JSON punctuation is not text a reader sees
            ",[": "0",
        }
        for needle, count in searches.items():
            page.fill("#f-text", needle)
            assert page.inner_text("#f-count") == count, needle
        page.fill("#a-text", item.asset.id)
        assert page.inner_text("#a-count") == "1"
        page.fill("#a-text", evidence)
        assert int(page.inner_text("#a-count")) >= 1


def test_why_and_laws_sections_show_hostile_words_as_text(tmp_path: Path) -> None:
    page_file = tmp_path / "why.html"
    page_file.write_text(render(hostile_words_scan()), encoding="utf-8")  # type: ignore[arg-type]
    with page_of(page_file) as page:
        assert page.locator("#why script, #why img, #laws script").count() == 0
        why = page.inner_text("#why")
        assert "<script>alert(1)</script>" in why  # shown to the reader, never run
        assert page.locator("#why section").count() == 2  # the two rules that found something
        assert page.locator("#laws tbody tr").count() == 2  # us-cloud-act and us-fisa-702
