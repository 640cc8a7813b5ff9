"""Commands quoted in a notice, such as `sovscan data update`: a renderer shows them as code
where its medium has code, so the reader sees the command, not the backticks around it.

A quoted piece becomes code only when it holds nothing any medium reads as markup (letters,
digits, spaces and ``. _ : / = @ , + -``); anything else between backticks stays text, which
the renderer escapes as it escapes all text."""

from __future__ import annotations

import re

_QUOTED = re.compile(r"`([^`]+)`")
_CODE = re.compile(r"[A-Za-z0-9._:/=@,+-](?:[A-Za-z0-9 ._:/=@,+-]*[A-Za-z0-9._:/=@,+-])?")


def code_spans(text: str) -> list[tuple[str, bool]]:
    """`text` as pieces in order, each with whether it is code; the pieces join back to `text`
    but for the backticks around each code piece."""
    pieces: list[tuple[str, bool]] = []
    start = 0
    for quoted in _QUOTED.finditer(text):
        if _CODE.fullmatch(quoted.group(1)) is None:
            continue
        if quoted.start() > start:
            pieces.append((text[start : quoted.start()], False))
        pieces.append((quoted.group(1), True))
        start = quoted.end()
    if start < len(text):
        pieces.append((text[start:], False))
    return pieces
