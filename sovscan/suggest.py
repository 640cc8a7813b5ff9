"""Suggestions for a mistyped name ("did you mean ca-central-1?"), shared by the commands and the
inventory checks so that one typo earns the same answer wherever it is typed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

CLOSE = 0.8
"""difflib's similarity for a suggestion: ca-centrl-1 finds ca-central-1 and not ca-west-1."""


def closest(typed: str, names: Sequence[str], cutoff: float = CLOSE) -> list[str]:
    """At most three of `names` closest to `typed`, best first: the one that differs only in
    case alone (CA-CENTRAL-1 means ca-central-1, not also mx-central-1)."""
    word = typed.lower()
    exact = [name for name in names if name.lower() == word]
    if exact:
        return exact
    close = difflib.get_close_matches(word, names, n=3, cutoff=cutoff)
    # Ties in name order, so the message does not depend on the catalogue's row order.
    return sorted(
        close, key=lambda name: (-difflib.SequenceMatcher(None, name, word).ratio(), name)
    )


def either(names: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
