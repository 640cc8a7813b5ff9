"""Reporters: pure functions from a Scan to the text of one output format."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType

from sovscan.model import Scan
from sovscan.report import csv, html, json, markdown, sarif, table
from sovscan.report.safe import utf8_safe

Reporter = Callable[[Scan], str]


def _writable(render: Reporter) -> Reporter:
    @functools.wraps(render)
    def render_utf8(scan: Scan) -> str:
        return utf8_safe(render(scan))

    return render_utf8


REPORTERS: Mapping[str, Reporter] = MappingProxyType(
    {
        name: _writable(render)
        for name, render in {
            "table": table.render,
            "json": json.render,
            "csv": csv.render,
            "markdown": markdown.render,
            "html": html.render,
            "sarif": sarif.render,
        }.items()
    }
)
"""Every output format by its --format name."""
