"""Bounding of untrusted text at the edge, so hostile data cannot grow without limit."""

from __future__ import annotations

MAX_TEXT = 512


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut; invalid surrogates replaced."""
    clean = text.encode("utf-8", "replace").decode("utf-8")
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
