"""Unknown is not safe: wherever the score is shown, so is its upper bound when unknowns could
raise it (docs/scoring.md, "Unknowns are never compliant"); without unknowns, the score alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sovscan.model import Gap, Scan
from sovscan.report import REPORTERS
from tests.conftest import REPO
from tests.factories import known_scan, make_scan, unknown_scan
from tests.report.test_html import parse
from tests.report.test_json import validate

BOUND = "up to 78 if the 2 unknown findings are risks; 0% of findings known"


def test_the_table_shows_the_bound_beside_the_score() -> None:
    text = REPORTERS["table"](unknown_scan())
    assert f"exposure score 0/100 ({BOUND}); 1 asset, 0 at risk, 1 with unknowns" in text


def test_the_table_of_a_partial_scan_shows_the_bound_and_the_part_seen() -> None:
    text = REPORTERS["table"](unknown_scan(gaps=(Gap("dns:vendor.example:A", "SERVFAIL"),)))
    assert f"exposure score 0/100 ({BOUND}) for the part seen only (partial scan)" in text


def test_one_unknown_finding_is_worded_in_the_singular() -> None:
    text = REPORTERS["table"](unknown_scan(rules=1))
    assert "0/100 (up to 78 if the unknown finding is a risk; 0% of findings known)" in text


def test_markdown_shows_the_bound_beside_the_score() -> None:
    text = REPORTERS["markdown"](unknown_scan())
    assert f"- Exposure score **0/100** ({BOUND}): 1 asset, 0 at risk" in text


def test_html_shows_the_bound_in_the_score_card() -> None:
    page = parse(REPORTERS["html"](unknown_scan()))
    assert page.ids["score"] == "0"
    assert page.ids["score-bound"] == BOUND


def json_score(scan: Scan) -> dict[str, Any]:
    document = json.loads(REPORTERS["json"](scan))
    validate(document)
    found: dict[str, Any] = document["score"]
    return found


def test_json_gives_the_bound_and_the_known_share() -> None:
    score = json_score(unknown_scan())
    assert (score["value"], score["upper_bound"], score["known_share"]) == (0, 78, 0)


def test_sarif_run_properties_give_the_bound_and_the_known_share() -> None:
    properties = json.loads(REPORTERS["sarif"](unknown_scan()))["runs"][0]["properties"]
    assert properties["score"] == 0
    assert (properties["scoreUpperBound"], properties["knownShare"]) == (78, 0)


def test_without_unknowns_the_score_reads_alone() -> None:
    scan = known_scan()
    assert scan.score.upper_bound == scan.score.value == 78
    assert "exposure score 78/100; 1 asset," in REPORTERS["table"](scan)
    assert "- Exposure score **78/100**: 1 asset," in REPORTERS["markdown"](scan)
    assert "score-bound" not in parse(REPORTERS["html"](scan)).ids
    score = json_score(scan)
    assert (score["value"], score["upper_bound"], score["known_share"]) == (78, 78, 100)
    properties = json.loads(REPORTERS["sarif"](scan))["runs"][0]["properties"]
    assert (properties["score"], properties["scoreUpperBound"], properties["knownShare"]) == (
        78,
        78,
        100,
    )


@pytest.mark.parametrize("name", ["table", "markdown", "html"])
def test_unknowns_that_cannot_raise_the_score_add_no_bound(name: str) -> None:
    # make_scan's one unknown finding is info (weight 0): the bound is the score itself.
    scan = make_scan()
    assert scan.score.upper_bound == scan.score.value
    assert "up to" not in REPORTERS[name](scan)


@pytest.mark.parametrize("doc", ["README.md", "docs/scoring.md"])
def test_the_documentation_quotes_what_the_reports_print(doc: str) -> None:
    headline = f"exposure score 0/100 ({BOUND})"
    assert headline in REPORTERS["table"](unknown_scan())
    assert f"`{headline}`" in " ".join((REPO / doc).read_text(encoding="utf-8").split())
