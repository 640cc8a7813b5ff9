"""A value from an inventory or rule file, written back as the file wrote it, for one-line errors.

Python's repr would say `True`, `None` or `datetime.date(2027, 6, 30)`; a user who wrote `true`,
left a key out or wrote `2027-06-30` should read that back.
"""

from __future__ import annotations

import datetime
import re

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_DEPTH = 8  # nesting shown; deeper is "..."
_YAML_BOOLEAN_HINT = " (YAML reads yes, no, on and off as booleans: quote the text)"


def shown(value: object, limit: int = 80, *, yaml: bool = False) -> str:
    """`value` for a one-line message, cut to `limit` characters; with `yaml`, a boolean says
    why a word the user wrote may have become one."""
    text = _literal(value, limit + 1, frozenset())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text + _YAML_BOOLEAN_HINT if yaml and isinstance(value, bool) else text


def _literal(value: object, budget: int, inside: frozenset[int]) -> str:
    """The literal, built only to about `budget` characters: hostile files hold huge or
    self-referencing (YAML alias) values, which must cost no more than the message shows."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        if id(value) in inside or len(inside) >= _MAX_DEPTH:
            return "..."
        inside = inside | {id(value)}
        items = (
            (f"{_key(key)} = {_literal(item, budget, inside)}" for key, item in value.items())
            if isinstance(value, dict)
            else (_literal(item, budget, inside) for item in value)
        )
        parts: list[str] = []
        length = 2
        for part in items:
            parts.append(part)
            length += len(part) + 2
            if length > budget:
                break
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        return opening + ", ".join(parts) + closing
    if isinstance(value, int) and value.bit_length() > 64:
        # YAML reads hex of any length; repr would refuse past 4,300 digits (an internal error).
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    text = repr(value)  # escapes control and bidi characters in text
    return text if len(text) <= budget else text[:budget]


def _key(key: object) -> str:
    """A table key bare when TOML would write it bare, else quoted and escaped."""
    if isinstance(key, str) and _BARE_KEY.fullmatch(key):
        return key
    return repr(key) if isinstance(key, str) else _literal(key, 40, frozenset())
