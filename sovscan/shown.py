"""A value from an inventory or rule file, written back as the file wrote it, for one-line errors.

Python's repr would say `True`, `None` or `datetime.date(2027, 6, 30)`; a user who wrote `true`,
left a key out or wrote `2027-06-30` should read that back.
"""

from __future__ import annotations

import datetime

_YAML_BOOLEAN_HINT = " (YAML reads yes, no, on and off as booleans: quote the text)"


def shown(value: object, limit: int = 80, *, yaml: bool = False) -> str:
    """`value` for a one-line message, cut to `limit` characters; with `yaml`, a boolean says
    why a word the user wrote may have become one."""
    text = _literal(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text + _YAML_BOOLEAN_HINT if yaml and isinstance(value, bool) else text


def _literal(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return repr(value)
