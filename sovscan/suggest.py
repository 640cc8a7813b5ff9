"""Suggestions for a mistyped name ("did you mean ca-central-1?"), shared by the commands and the
inventory checks so that one typo earns the same answer wherever it is typed."""

from __future__ import annotations

import difflib
import re
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


_PART_RE = re.compile(r"[a-z0-9]+")


def related(typed: str, names: Sequence[str], limit: int = 5) -> list[str]:
    """The names `closest` finds and those containing the typed word (`law25` finds qc-law25
    and quebec-law25, `foreign-law` finds foreign-law-reach); when neither finds any, the names
    holding the most of its parts (`law-quebec` finds quebec-law25 through law and quebec). At
    most `limit`, no name twice. A word or part shorter than three characters is not looked
    for inside names: `eu` would find half of them."""
    word = typed.strip().lower()
    found = dict.fromkeys(closest(word, names))
    if len(word) >= 3:
        found.update(dict.fromkeys(sorted((n for n in names if word in n.lower()), key=_short)))
    parts = {part for part in _PART_RE.findall(word) if len(part) >= 3}
    if not found and parts:
        held = {name: sum(part in name.lower() for part in parts) for name in names}
        most = max(held.values(), default=0)
        if most:
            found.update(dict.fromkeys(sorted((n for n in names if held[n] == most), key=_short)))
    return list(found)[:limit]


def _short(name: str) -> tuple[int, str]:
    """Shorter names first (they hold less besides the word), ties in name order."""
    return len(name), name
