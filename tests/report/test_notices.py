"""A notice quoting a command (`sovscan data update`) shows the command as code, while hostile
text between backticks stays as inert as any other text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sovscan.report import REPORTERS
from sovscan.report.spans import code_spans
from tests.factories import make_scan

STALE = (
    "address data older than 90 days at this scan: ip-asn (2026-01-01, 327 days); an address "
    "its provider has moved since may be placed wrongly: `sovscan data update` refreshes them"
)


def notices_of(name: str, *notices: str) -> str:
    return REPORTERS[name](replace(make_scan(), notices=notices))


def test_markdown_shows_a_quoted_command_as_inline_code() -> None:
    text = notices_of("markdown", STALE)
    assert "- address data older than 90 days at this scan: ip-asn (2026-01-01, 327 days); " in text
    assert "placed wrongly: `sovscan data update` refreshes them\n" in text
    assert "\\`" not in text


def test_html_shows_a_quoted_command_as_code() -> None:
    text = notices_of("html", STALE)
    assert "placed wrongly: <code>sovscan data update</code> refreshes them</li>" in text
    assert "`" not in text.split('id="notices"')[1].split("</div>")[0]


@pytest.mark.parametrize(
    ("notice", "shown"),
    [
        # Markup between backticks is not code: it is escaped as all text is.
        ("`<img src=x>` here", "\\`&lt;img src=x&gt;\\` here"),
        ("`[x](https://evil.example)`", "\\`\\[x\\](https://evil.example)\\`"),
        ("`a|b` and `c\\` d", "\\`a\\|b\\` and \\`c\\\\\\` d"),
        ("owner `x` and `sovscan diff`", "owner `x` and `sovscan diff`"),
        (
            "an unpaired ` stays `sovscan explain` text",
            "an unpaired \\` stays \\`sovscan explain\\` text",
        ),
        ("`` doubled ``", "\\`\\` doubled \\`\\`"),
    ],
)
def test_markdown_escapes_whatever_is_not_a_plain_command(notice: str, shown: str) -> None:
    assert f"- {shown}\n" in notices_of("markdown", notice)


def test_html_escapes_whatever_is_not_a_plain_command() -> None:
    text = notices_of("html", "`<script>alert(1)</script>` then `sovscan verify DIR`")
    assert (
        "<li>`&lt;script&gt;alert(1)&lt;/script&gt;` then <code>sovscan verify DIR</code></li>"
        in text
    )


def test_code_spans_keep_every_character_but_the_quoting_backticks() -> None:
    for text in (STALE, "`a` `<b>` c ` d", "``", "`", "no quotes", "`x y`"):
        pieces = code_spans(text)
        rejoined = "".join(f"`{p}`" if code else p for p, code in pieces)
        assert rejoined == text
