"""The one place where hostile text is made safe for an output medium."""

from __future__ import annotations

import re
from html import escape

# C0 and C1 controls, DEL, and the Unicode bidirectional overrides that can disguise text.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ANY_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    """A character as Python writes it in a string literal: `\\x1b`, `\\u202e`, `\\U0001f600`.
    `\\x` takes exactly two hex digits, so a code point above 0xff written `\\x202e` would
    read as `\\x20` (a space) followed by `2e`."""
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def terminal_safe(text: str, limit: int | None = None) -> str:
    """`text` with every control character (ANSI escapes included) shown as a visible escape."""
    shown = _ANY_CONTROL_RE.sub(_escape, text)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


_CONTROL_BUT_NEWLINE_RE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe_text(text: str) -> str:
    """A whole multi-line report with every control character but newline shown as an escape.

    Renderers escape each value as they place it; this last pass guarantees that nothing they
    missed (a field nobody thought hostile) can reach a terminal raw.
    """
    return _CONTROL_BUT_NEWLINE_RE.sub(_escape, text)


def strip_controls(text: str) -> str:
    """`text` with control characters other than tab and newline replaced by U+FFFD."""
    return _CONTROL_RE.sub("\ufffd", text)


_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula (OWASP CSV injection guidance).

    A cell that starts with a trigger character gets a leading apostrophe; control characters
    other than tab and newline are replaced.
    """
    clean = strip_controls(text)
    if clean.startswith(_FORMULA_TRIGGERS):
        return "'" + clean
    return clean


def utf8_safe(text: str) -> str:
    """`text` that encodes as UTF-8: a lone surrogate (never valid Unicode text) becomes '?'.

    Reports are written as UTF-8 after the whole scan ran; one hostile field must not make that
    write fail.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def html_text(text: object) -> str:
    """`text` as HTML text or a quoted attribute value: markup escaped, controls replaced."""
    return escape(strip_controls(str(text)), quote=True)


_SARIF_BRACKET_RE = re.compile(r"(\\*)([\[\]])")


def sarif_text(text: str) -> str:
    """`text` as a SARIF plain-text message that shows it as is: no embedded link.

    SARIF reads `[text](target)` in a plain-text message as a link (2.1.0, section 3.11.6)
    and code-scanning viewers render it, so each literal bracket is escaped (`\\[`); the
    backslashes before one are doubled first, so that the bracket stays escaped whether a
    viewer reads `\\\\` as one backslash or as two.
    """
    return _SARIF_BRACKET_RE.sub(lambda m: m[1] * 2 + "\\" + m[2], text)


_JSON_INVISIBLE_RE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_text_safe(text: str) -> str:
    """JSON text with the characters JSON leaves raw but a terminal or a viewer acts on (C1
    controls such as the CSI U+009B, bidirectional overrides, line and paragraph separators)
    written as `\\uXXXX` escapes: the same JSON value, shown inert. They occur only inside
    strings, so any piece of a document may be passed."""
    return _JSON_INVISIBLE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
