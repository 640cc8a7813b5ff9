"""Every renderer on Scans whose text is hostile: nothing live reaches the reader's medium."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from sovscan.model import Scan
from sovscan.report import REPORTERS
from sovscan.report.json import scan_document
from tests.hostile.strategies import hostile_scans, is_formula_start, surrogate_text

# No shrinking: a failure is reported as drawn, so a failing case costs seconds, not minutes.
NO_SHRINK = (Phase.explicit, Phase.generate)
FUZZ = settings(
    max_examples=40,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    phases=NO_SHRINK,
)
# What no terminal may receive raw: C0 (but newline), DEL, C1 and the bidi overrides/isolates.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_every_reporter_is_fuzzed() -> None:
    assert set(REPORTERS) == {"table", "json", "csv", "markdown", "html", "sarif"}


@FUZZ
@given(hostile_scans())
def test_table_has_no_raw_controls_or_bidi(scan: Scan) -> None:
    text = REPORTERS["table"](scan)
    assert RAW_CONTROL.search(text) is None, repr(RAW_CONTROL.search(text))


@FUZZ
@given(hostile_scans())
def test_csv_has_no_formula_cells_and_parses(scan: Scan) -> None:
    text = REPORTERS["csv"](scan)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows and rows[0][0] == "finding_key"
    assert all(len(row) == len(rows[0]) for row in rows)
    for row in rows:
        for cell in row:
            assert not is_formula_start(cell), cell[:40]
            # Tab and newline are data inside a quoted cell; every other control is replaced.
            assert RAW_CONTROL.search(cell.replace("\t", "")) is None, cell[:40]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts = 0
        self.handlers: list[tuple[str, str]] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if name in {"href", "src", "action", "formaction"} and value is not None:
                self.urls.append(value)

    handle_startendtag = handle_starttag


@FUZZ
@given(hostile_scans())
def test_html_has_one_script_and_no_handlers(scan: Scan) -> None:
    text = REPORTERS["html"](scan)
    parser = _Tags()
    parser.feed(text)
    parser.close()
    assert parser.scripts == 1
    assert parser.handlers == []
    assert not [u for u in parser.urls if u.strip().lower().startswith("javascript:")]
    assert text.count("</script>") == 1


@FUZZ
@given(hostile_scans())
def test_markdown_has_no_raw_markup(scan: Scan) -> None:
    text = REPORTERS["markdown"](scan)
    assert "<" not in text
    assert RAW_CONTROL.search(text.replace("\t", "")) is None


@FUZZ
@given(hostile_scans())
def test_json_round_trips_exactly(scan: Scan) -> None:
    text = REPORTERS["json"](scan)
    document = json.loads(text)
    # Every string, hostile or not, comes back exactly as the Scan held it.
    assert document == json.loads(json.dumps(scan_document(scan)))
    assert document["institution"]["name"] == scan.policy.institution
    assert document["assets"][0]["name"] == scan.assets[0].asset.name
    assert document["gaps"] == [{"scope": scan.gaps[0].scope, "reason": scan.gaps[0].reason}]


@FUZZ
@given(hostile_scans())
def test_json_holds_no_raw_c1_or_bidi_controls(scan: Scan) -> None:
    # JSON escapes only C0: a C1 CSI (U+009B) or a bidi override reached a terminal (`scan
    # --format json` on stdout) or a reviewer's diff raw. Escaped, the text reads back the same
    # (test_json_round_trips_exactly).
    text = REPORTERS["json"](scan)
    assert re.search("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]", text) is None


@FUZZ
@given(hostile_scans())
def test_sarif_is_json(scan: Scan) -> None:
    log = json.loads(REPORTERS["sarif"](scan))
    assert log["version"] == "2.1.0"


@pytest.mark.parametrize("name", sorted(REPORTERS))
@settings(max_examples=15, deadline=2000, database=None, phases=NO_SHRINK)
@given(scan=hostile_scans(surrogate_text))
def test_lone_surrogates_never_make_a_report_unwritable(name: str, scan: Scan) -> None:
    # The CLI writes every report as UTF-8 (stdout or write_atomic): a lone surrogate from an
    # attacker-controlled field must not make the encode fail after the whole scan ran.
    text = REPORTERS[name](scan)
    text.encode("utf-8")
