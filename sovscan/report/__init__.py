"""Reporters: pure functions from a Scan to the text of one output format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from sovscan.model import Scan
from sovscan.report import csv, html, json, markdown, sarif, table

Reporter = Callable[[Scan], str]

REPORTERS: Mapping[str, Reporter] = MappingProxyType(
    {
        "table": table.render,
        "json": json.render,
        "csv": csv.render,
        "markdown": markdown.render,
        "html": html.render,
        "sarif": sarif.render,
    }
)
"""Every output format by its --format name."""
