"""Golden files: every format rendered from the demo's recorded observations, byte for byte.

The observations (tests/golden/demo-observations.json) come from one demo run; evaluating them
again with the shipped rules and data and a fixed clock must give exactly the files in
tests/golden/. A change of rules, data or renderer shows up as a diff to read. Regenerate with
`make unit PYTEST_ARGS="tests/report/test_golden.py --update-golden"`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sovscan.demo import demo_config, run_demo
from sovscan.engine import default_rules_dir, load_rules
from sovscan.evidence import asset_document, asset_from_document
from sovscan.model import Gap, Scan
from sovscan.report import REPORTERS
from sovscan.resolve import load_knowledge
from sovscan.scan import apply_profile_name, assess
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


def observe() -> dict[str, Any]:
    """One demo run's observations, as the observations file holds them."""
    scan = run_demo(load_knowledge(), load_rules(default_rules_dir()), clock=StepClock(STARTED))
    return {
        "assets": [asset_document(item.asset) for item in scan.assets],
        "gaps": [{"scope": g.scope, "reason": g.reason} for g in scan.gaps],
    }


def demo_observations() -> dict[str, Any]:
    """What the demo observes today, in a process of its own as `sovscan demo` runs and as
    --update-golden records it, whatever other tests of the suite ran in this one."""
    code = "import json; from tests.report.test_golden import observe; print(json.dumps(observe()))"
    command = [sys.executable, "-c", code]
    done = subprocess.run(
        command, check=False, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def record_observations() -> None:
    document = demo_observations()
    OBSERVATIONS.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", "utf-8")


def _timeless(value: Any) -> Any:
    """`value` without its observation times: the probes' threads read the shared step clock
    in no fixed order, so those alone may differ from one demo run to the next."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "observed_at"}
    if isinstance(value, list):
        return [_timeless(item) for item in value]
    return value


def golden_scan() -> Scan:
    document = json.loads(OBSERVATIONS.read_text(encoding="utf-8"))
    config = demo_config()
    rules, policy = apply_profile_name(config, load_rules(default_rules_dir()), None)
    return assess(
        policy,
        [asset_from_document(item) for item in document["assets"]],
        [Gap(g["scope"], g["reason"]) for g in document["gaps"]],
        load_knowledge(),
        rules,
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


@pytest.mark.usefixtures("scan")  # with --update-golden, it records the observations first
def test_the_observations_are_the_demos_of_today() -> None:
    # Without this, a change in what the probes observe (say, the order of TXT tokens) would
    # leave the golden files rendered from a demo that no longer runs that way.
    recorded = json.loads(OBSERVATIONS.read_text(encoding="utf-8"))
    assert _timeless(demo_observations()) == _timeless(recorded), (
        "the demo observes something else now: rerun with --update-golden and read the diff"
    )
