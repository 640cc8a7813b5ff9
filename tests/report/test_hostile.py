"""Hostile text (markup, formulas, terminal escapes, huge strings) renders inert in every format."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from sovscan.model import Asset, Finding, Severity, Status
from sovscan.report import REPORTERS
from tests.factories import make_scan, resolved_bucket

HOSTILE = '=HYPERLINK("http://evil.example","x")<script>alert(1)</script>\x1b[31m|`*_[x](y)\u202e'


def hostile_scan() -> object:
    bucket = resolved_bucket()
    asset = Asset(bucket.asset.id, bucket.asset.kind, HOSTILE, {"tag:Owner": HOSTILE})
    item = replace(bucket, asset=asset)
    finding = Finding(
        "foreign-law-reach", asset.id, Status.RISK, Severity.HIGH, HOSTILE + "x" * 5000
    )
    return make_scan(assets=(item,), findings=(finding,))


@pytest.mark.parametrize("name", ["table", "markdown", "csv"])
def test_no_raw_escape_or_bidi_characters(name: str) -> None:
    text = REPORTERS[name](hostile_scan())  # type: ignore[arg-type]
    assert "\x1b" not in text
    assert "\u202e" not in text


def test_json_round_trips_hostile_text_exactly() -> None:
    document = json.loads(REPORTERS["json"](hostile_scan()))  # type: ignore[arg-type]
    assert document["assets"][0]["name"] == HOSTILE


def test_csv_cells_never_start_a_formula() -> None:
    text = REPORTERS["csv"](hostile_scan())  # type: ignore[arg-type]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "finding_key"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    name_column = rows[0].index("asset_name")
    assert rows[1][rows[0].index("status")] == "scan"  # the scan's own row comes first
    assert rows[2][name_column].startswith("'=HYPERLINK")


def test_markdown_has_no_live_html_or_table_breaks() -> None:
    text = REPORTERS["markdown"](hostile_scan())  # type: ignore[arg-type]
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    columns = 0
    checked = 0
    for line in text.splitlines():
        if line.startswith("|---"):
            continue
        if line.startswith("| ") and "HYPERLINK" not in line:
            columns = line.count("|")  # a header row
        elif line.startswith("| "):
            # the only unescaped pipes are the column separators
            assert line.replace("\\|", "").count("|") == columns
            checked += 1
    assert checked == 2


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        # Ordinary punctuation stays itself: the raw file is read in tickets and terminals too.
        ('the evidence bundle\'s "TIA" & co', 'the evidence bundle\'s "TIA" & co'),
        ("TIA <b>x</b>", "TIA &lt;b&gt;x&lt;/b&gt;"),
        # A character reference in the text would render as the character it names.
        ("&#x27; &#39; &lt; &amp;", "&amp;#x27; &amp;#39; &amp;lt; &amp;amp;"),
        # cmark-gfm decodes 8 digits where the spec says 7 (hex 6): any "&#" is escaped.
        (
            "evil&#x000202E;gpj &#x000003C; &#00000065;",
            "evil&amp;#x000202E;gpj &amp;#x000003C; &amp;#00000065;",
        ),
        ("[x](https://evil.example) ![i](j)", "\\[x\\](https://evil.example) !\\[i\\](j)"),
        ("a|b `c` *d* _e_ ~~f~~ \\", "a\\|b \\`c\\` \\*d\\* \\_e\\_ \\~\\~f\\~\\~ \\\\"),
        ("line\nbreak\r\x1b[31m\u202e", "line break\ufffd\ufffd\\[31m\ufffd"),
    ],
)
def test_markdown_escapes_only_what_would_render_as_markup(text: str, cell: str) -> None:
    bucket = resolved_bucket()
    item = replace(bucket, asset=replace(bucket.asset, name=text))
    rendered = REPORTERS["markdown"](make_scan(assets=(item,), findings=()))  # type: ignore[arg-type]
    assert f"| {cell} | aws.s3.bucket |" in rendered


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_a_replays_provenance_renders_inert(name: str) -> None:
    # A bundle's manifest names the replayed scan; evidence.py admits only id characters, but a
    # renderer must not count on it.
    from datetime import UTC, datetime

    from sovscan.model import ReplayOf

    when = datetime(2026, 1, 2, tzinfo=UTC)
    scan = replace(make_scan(), replay_of=ReplayOf(HOSTILE, when, when))
    text = REPORTERS[name](scan)
    if name in ("json", "sarif"):  # JSON carries the text exactly; its readers escape it
        document = json.loads(text)
        shown = (
            document["replay_of"]["scan_id"]
            if name == "json"
            else document["runs"][0]["properties"]["replayOf"]["scanId"]
        )
        assert shown == HOSTILE
        return
    assert "\x1b" not in text and "\u202e" not in text
    if name in ("markdown", "html"):
        assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31m", "\\x1b[31m"),
        ("\x7f\x9f", "\\x7f\\x9f"),
        # Above 0xff, \x would read as two digits (\x20 is a space, then "2e"): \u and \U.
        ("a\u202eb", "a\\u202eb"),
        ("\u2066\u2069", "\\u2066\\u2069"),
    ],
)
def test_terminal_escapes_read_back_as_the_character(text: str, expected: str) -> None:
    from sovscan.report.safe import terminal_safe, terminal_safe_text

    assert terminal_safe(text) == expected
    assert terminal_safe_text(text + "\n") == expected + "\n"
    # Each escape is a Python string literal's: reading it back gives the character.
    assert expected.encode("ascii").decode("unicode_escape") == text


def test_an_escape_above_the_bmp_takes_eight_digits() -> None:
    import re

    from sovscan.report.safe import _escape

    # No escaped character lies above U+FFFF today; were one added, \U and eight digits.
    assert re.sub(".", _escape, "\U0001f600\u00e9") == "\\U0001f600\\xe9"


def hostile_words_scan() -> object:
    """A scan whose rule words, control titles and law catalogue are hostile (a rules folder or
    data folder of the user's own may carry any text)."""
    from sovscan.model import CitedControl, RuleInfo

    cited = CitedControl("qc-law25", HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    info = RuleInfo(
        "foreign-law-reach", HOSTILE, Severity.HIGH, HOSTILE, HOSTILE, HOSTILE, (cited,)
    )
    laws = {"us-cloud-act": dict.fromkeys(("name", "jurisdiction", "citation", "reach"), HOSTILE)}
    return replace(make_scan(), rules={"foreign-law-reach": info}, laws=laws)


def test_markdown_why_and_laws_sections_render_hostile_words_inert() -> None:
    text = REPORTERS["markdown"](hostile_words_scan())  # type: ignore[arg-type]
    sections = text.split("## Why these findings matter", 1)[1]
    assert "<" not in sections and "\x1b" not in sections and "\u202e" not in sections
    assert "\\[x\\](y)" in sections and "[x](y)" not in sections.replace("\\[x\\](y)", "")
    law_row = next(line for line in sections.splitlines() if line.startswith("| us-cloud-act |"))
    assert law_row.replace("\\|", "").count("|") == 6  # five cells: no pipe of the text splits one


def test_html_why_and_laws_sections_render_hostile_words_inert() -> None:
    text = REPORTERS["html"](hostile_words_scan())  # type: ignore[arg-type]
    sections = text.split("<h2>Why these findings matter</h2>", 1)[1].split("<h2>Assets", 1)[0]
    assert "<script>" not in sections and "\x1b" not in sections and "\u202e" not in sections
    assert sections.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 9
