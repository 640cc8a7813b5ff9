"""Reports workload: every format in `sovscan.report.REPORTERS` on one synthetic N-asset Scan."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.child import peak_rss_mb
from bench.harness import Report, check, measure
from bench.rules import POLICY, make_assets
from sovscan.engine import default_rules_dir, evaluate, load_rules, score
from sovscan.model import RuleInfo, Scan
from sovscan.report import REPORTERS

SIZES = {"quick": 10_000, "default": 100_000, "full": 100_000}
TABLE_LIMIT_S = 120.0
REPORT_BUDGET_S = 60.0  # beyond this a format is measured fewer than 3 times (noted)


def make_scan(n: int) -> Scan:
    """A complete Scan over `n` synthetic assets, findings from the shipped rules."""
    ruleset = load_rules(default_rules_dir())
    assets = tuple(make_assets(n))
    findings = evaluate(ruleset, assets, POLICY)
    when = datetime(2026, 11, 24, tzinfo=UTC)
    rules = {
        r.id: RuleInfo(r.id, r.title, r.severity, r.source, r.rationale, r.remediation)
        for r in ruleset.rules
    }
    return Scan(
        id=f"bench-{n}",
        started_at=when,
        finished_at=when,
        tool_version="bench",
        rules_digest=ruleset.digest,
        data_digest="bench",
        policy=POLICY,
        assets=assets,
        gaps=(),
        findings=findings,
        score=score(assets, findings, 0, POLICY),
        rules=rules,
    )


def _sane(fmt: str, text: str, scan: Scan) -> None:
    """A light correctness gate: machine-readable formats must parse and hold every finding."""
    if fmt == "json":
        doc = json.loads(text)
        count = len(doc.get("findings", ()))
        if count != len(scan.findings):
            raise ValueError(f"json report holds {count} findings, expected {len(scan.findings)}")
    elif fmt == "sarif":
        json.loads(text)
    elif fmt == "csv":
        rows = sum(1 for _ in csv.reader(io.StringIO(text)))
        if rows < len(scan.findings):
            raise ValueError(f"csv report has {rows} rows for {len(scan.findings)} findings")
    elif not text:
        raise ValueError(f"{fmt} report is empty")


def run(contender: str, spec: Mapping[str, Any]) -> dict[str, float]:
    """Render one format of a freshly built scan; building it is not timed."""
    scan = make_scan(int(spec["n"]))
    base_rss = peak_rss_mb()
    render = REPORTERS[contender]
    started = time.perf_counter()
    text = render(scan)
    seconds = time.perf_counter() - started
    _sane(contender, text, scan)
    return {
        "seconds": seconds,
        "output_mb": len(text.encode("utf-8")) / 1e6,
        "findings": len(scan.findings),
        "assets": len(scan.assets),
        "rss_before_render_mb": base_rss,
    }


def plan(report: Report, size: str, workdir: Path) -> None:
    """Measure each format in its own processes."""
    n = SIZES[size]
    print(
        f"[reports] every format on a {n}-asset scan (built in each child, not timed)", flush=True
    )
    # The quick size is a smoke run: one repetition. The table format (tabulate with wrapped
    # columns, ~1 ms per asset here) gets one repetition and a time limit at the default size.
    repeat = 1 if size == "quick" else 3
    for fmt in REPORTERS:
        slow = fmt == "table" and size != "quick"
        found = measure(
            report,
            "reports",
            fmt,
            n,
            {"n": n},
            repeat=1 if slow else repeat,
            timeout=TABLE_LIMIT_S if slow else 600,
            timeout_is_miss=True,
            budget_s=REPORT_BUDGET_S,
        )
        if found.runs:
            check(report, f"reports {n}: {fmt} seconds", found.median("seconds"), 60.0,
                  at_most=True)  # fmt: skip
        elif found.error.startswith("TimeoutExpired"):
            report.ratios.append({"name": f"reports {n}: {fmt} seconds", "value": None,
                                  "target": 60.0, "at_most": True, "met": False,
                                  "why": f"did not finish within {TABLE_LIMIT_S} s"})  # fmt: skip
