"""Golden files: every format rendered from the demo's recorded observations, byte for byte.

The observations (tests/golden/demo-observations.json) come from one demo run; evaluating them
again with the shipped rules and data and a fixed clock must give exactly the files in
tests/golden/. A change of rules, data or renderer shows up as a diff to read. Regenerate with
`make unit PYTEST_ARGS="tests/report/test_golden.py --update-golden"`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sovscan.demo import demo_config, run_demo
from sovscan.engine import default_rules_dir, load_rules
from sovscan.evidence import asset_document, asset_from_document
from sovscan.model import Gap, Scan
from sovscan.report import REPORTERS
from sovscan.resolve import load_knowledge
from sovscan.scan import assess
from tests.conftest import REPO, StepClock

GOLDEN = REPO / "tests" / "golden"
OBSERVATIONS = GOLDEN / "demo-observations.json"
STARTED = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
EXTENSIONS = {
    "table": "txt",
    "json": "json",
    "csv": "csv",
    "markdown": "md",
    "html": "html",
    "sarif": "sarif",
}


def record_observations() -> None:
    scan = run_demo(load_knowledge(), load_rules(default_rules_dir()), clock=StepClock(STARTED))
    document = {
        "assets": [asset_document(item.asset) for item in scan.assets],
        "gaps": [{"scope": g.scope, "reason": g.reason} for g in scan.gaps],
    }
    OBSERVATIONS.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", "utf-8")


def golden_scan() -> Scan:
    document = json.loads(OBSERVATIONS.read_text(encoding="utf-8"))
    return assess(
        demo_config().policy,
        [asset_from_document(item) for item in document["assets"]],
        [Gap(g["scope"], g["reason"]) for g in document["gaps"]],
        load_knowledge(),
        load_rules(default_rules_dir()),
        started=STARTED,
        finished=STARTED.replace(second=5),
    )


@pytest.fixture(scope="module")
def scan(request: pytest.FixtureRequest) -> Scan:
    if request.config.getoption("--update-golden"):
        record_observations()
    return golden_scan()


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_format_matches_golden(name: str, scan: Scan, request: pytest.FixtureRequest) -> None:
    assert set(EXTENSIONS) == set(REPORTERS), "every reporter needs a golden file"
    path: Path = GOLDEN / f"demo.{EXTENSIONS[name]}"
    text = REPORTERS[name](scan)
    if request.config.getoption("--update-golden"):
        path.write_bytes(text.encode("utf-8"))  # bytes: CSV's CRLF must survive as written
    assert path.read_bytes().decode("utf-8") == text, (
        f"{path.name} differs; if the change is intended, rerun with --update-golden and read "
        "the diff"
    )


def test_golden_demo_teaches_the_lesson(scan: Scan) -> None:
    bucket = next(a for a in scan.assets if a.asset.name == "ue-research-data")
    assert (bucket.location.country, bucket.location.subdivision) == ("CA", "CA-QC")
    assert bucket.control.laws is not None and "us-cloud-act" in bucket.control.laws
    assert scan.complete
