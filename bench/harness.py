"""Repetition, timing, peak memory, correctness gates and the JSON record shared by every workload.

Every run of a contender is a fresh `python -m bench.child` process, so its peak resident memory
(`ru_maxrss`) is its own; the child prints its figures as one JSON line and writes its answers
to a file the parent compares with the ground truth or the oracle.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH-RESULT "
CLIENT_CORE = "1"
"""Clients run on core 1 and servers on core 0 when `taskset` exists (issue 8 method)."""


@dataclass
class Measure:
    """Repeated runs of one contender on one workload and size."""

    workload: str
    contender: str
    size: int
    runs: list[dict[str, float]] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    correct: bool = True
    error: str = ""

    def median(self, key: str) -> float:
        return float(statistics.median(run[key] for run in self.runs))

    def span(self, key: str) -> tuple[float, float]:
        values = [run[key] for run in self.runs]
        return min(values), max(values)

    def as_json(self) -> dict[str, Any]:
        keys = list(self.runs[0]) if self.runs else []
        return {
            "workload": self.workload,
            "contender": self.contender,
            "size": self.size,
            "correct": self.correct,
            "error": self.error,
            "runs": self.runs,
            "peak_rss_mb": self.peak_rss_mb,
            "median": {k: self.median(k) for k in keys},
            "min_max": {k: self.span(k) for k in keys},
            "median_peak_rss_mb": statistics.median(self.peak_rss_mb) if self.peak_rss_mb else None,
        }


@dataclass
class Report:
    """Everything one `make bench` invocation measured."""

    size: str
    machine: dict[str, Any] = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None  # written after every measure, so an interrupted run keeps its figures

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "size": self.size,
            "machine": self.machine,
            "setup": self.setup,
            "measures": [m.as_json() for m in self.measures],
            "ratios": self.ratios,
            "failures": self.failures,
            "notes": self.notes,
        }
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def find(self, workload: str, contender: str, size: int) -> Measure | None:
        for m in self.measures:
            if (m.workload, m.contender, m.size) == (workload, contender, size):
                return m
        return None


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on, with a calibration loop to compare machines."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    calibration = min(timeit.repeat("sum(range(1000))", number=10_000, repeat=5)) / 10_000
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sum_range_1000_us": round(calibration * 1e6, 2),
        "taskset": shutil.which("taskset") is not None,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def pinned(command: list[str], core: str) -> list[str]:
    """`command` pinned to `core` when taskset exists and the machine has more than one core."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core, *command]
    return command


def run_child(spec: dict[str, Any], timeout: float) -> tuple[dict[str, Any], float]:
    """One fresh child process running `spec`; returns its figures and its peak RSS in MB."""
    command = pinned([sys.executable, "-m", "bench.child", json.dumps(spec)], CLIENT_CORE)
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            payload = json.loads(line[len(RESULT_PREFIX) :])
            if "error" in payload:
                raise RuntimeError(payload["error"])
            return payload["figures"], float(payload["peak_rss_mb"])
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"child exited {done.returncode}: {' | '.join(tail)}")


def measure(
    report: Report,
    workload: str,
    contender: str,
    size: int,
    spec: dict[str, Any],
    *,
    repeat: int = 3,
    timeout: float = 900.0,
    timeout_is_miss: bool = False,
    budget_s: float | None = None,
) -> Measure:
    """Run `spec` `repeat` times (fresh process each); record a failure instead of raising.

    With `budget_s`, repetitions stop once the runs so far took longer than that (noted in the
    results): a contender slow enough to blow the run's time budget is measured fewer times.
    """
    found = Measure(workload, contender, size)
    report.measures.append(found)
    for attempt in range(repeat):
        started = time.perf_counter()
        try:
            figures, peak = run_child(
                {**spec, "workload": workload, "contender": contender, "run": attempt}, timeout
            )
        except subprocess.TimeoutExpired as exc:
            found.error = f"TimeoutExpired: no result within {exc.timeout:.0f} s"
            if timeout_is_miss:  # too slow is a missed target, reported; not a wrong answer
                report.notes.append(f"{workload}/{contender}/{size}: {found.error}")
                print(f"  TOO SLOW {workload}/{contender}/{size}: {found.error}", flush=True)
                return found
            found.correct = False
            report.failures.append(f"{workload}/{contender}/{size}: {found.error}")
            return found
        except (RuntimeError, ValueError) as exc:
            found.correct = False
            found.error = f"{type(exc).__name__}: {exc}"[:2000]
            report.failures.append(f"{workload}/{contender}/{size}: {found.error}")
            print(f"  FAILED {workload}/{contender}/{size}: {found.error}", flush=True)
            return found
        figures.setdefault("process_s", time.perf_counter() - started)
        found.runs.append(figures)
        found.peak_rss_mb.append(round(peak, 1))
        spent = sum(run["process_s"] for run in found.runs)
        if budget_s is not None and spent > budget_s and attempt + 1 < repeat:
            report.notes.append(
                f"{workload}/{contender}/{size}: {attempt + 1} run(s) only, "
                f"{spent:.0f} s exceeded the {budget_s:.0f} s budget"
            )
            break
    print(f"  {summary_line(found)}", flush=True)
    if report.out is not None:
        report.write(report.out)
    return found


def fail(report: Report, found: Measure, why: str) -> None:
    """Mark `found` as wrong: its figures stay recorded but can never count as a result."""
    found.correct = False
    found.error = why
    report.failures.append(f"{found.workload}/{found.contender}/{found.size}: {why}")
    print(f"  WRONG {found.workload}/{found.contender}/{found.size}: {why}", flush=True)


def summary_line(m: Measure) -> str:
    main = "seconds" if m.runs and "seconds" in m.runs[0] else "process_s"
    low, high = m.span(main)
    rss = statistics.median(m.peak_rss_mb) if m.peak_rss_mb else 0.0
    return (
        f"{m.workload:8} {m.contender:22} n={m.size:<8} {main}={m.median(main):.3f} "
        f"({low:.3f}-{high:.3f}) rss={rss:.0f}MB"
    )


def ratio(
    report: Report,
    name: str,
    ours: Measure | None,
    theirs: Measure | None,
    key: str,
    *,
    higher_is_better: bool,
    target: float | None = None,
) -> float | None:
    """Record a speed-up of `ours` over `theirs` on medians; only correct measures count."""
    if ours is None or theirs is None or not ours.runs or not theirs.runs:
        return None
    if not (ours.correct and theirs.correct):
        report.ratios.append({"name": name, "ratio": None, "target": target, "met": False,
                              "why": "a contender failed its correctness gate"})  # fmt: skip
        return None
    a, b = ours.median(key), theirs.median(key)
    if a <= 0 or b <= 0:
        return None
    value = a / b if higher_is_better else b / a
    report.ratios.append(
        {
            "name": name,
            "ours": ours.contender,
            "theirs": theirs.contender,
            "size": ours.size,
            "key": key,
            "ours_median": a,
            "theirs_median": b,
            "ratio": round(value, 3),
            "target": target,
            "met": None if target is None else value >= target,
        }
    )
    return value


def check(report: Report, name: str, value: float | None, target: float, *, at_most: bool) -> None:
    """Record an absolute target (index load time, µs per rule, RSS) next to the ratios."""
    if value is None:
        return
    met = value <= target if at_most else value >= target
    report.ratios.append(
        {"name": name, "value": round(value, 4), "target": target, "at_most": at_most, "met": met}
    )


def print_table(report: Report) -> None:
    """The human summary: every measure, then every ratio against its target."""
    print("\n== measures (median, min-max over runs; peak RSS median) ==")
    for m in report.measures:
        status = "" if m.correct else "  [FAILED: " + m.error[:120] + "]"
        if m.runs:
            keys = [k for k in m.runs[0] if k not in {"process_s"}][:6]
            parts = []
            for k in keys:
                low, high = m.span(k)
                parts.append(f"{k}={_fmt(m.median(k))} ({_fmt(low)}-{_fmt(high)})")
            rss = statistics.median(m.peak_rss_mb)
            print(f"{m.workload}/{m.contender} n={m.size}: " + ", ".join(parts) +
                  f", rss={rss:.0f}MB{status}")  # fmt: skip
        else:
            print(f"{m.workload}/{m.contender} n={m.size}:{status}")
    print("\n== ratios and targets ==")
    for r in report.ratios:
        met = {True: "met", False: "MISSED", None: "-"}[r.get("met")]
        if "value" in r:
            sign = "<=" if r["at_most"] else ">="
            shown = "n/a" if r["value"] is None else r["value"]
            target = "" if r["target"] is None else f" (target {sign} {r['target']})"
            print(f"{r['name']:58} {shown:>10}{target} {met}")
        else:
            shown = "n/a" if r.get("ratio") is None else f"{r['ratio']:.2f}x"
            target = "" if r.get("target") is None else f" (target >= {r['target']}x)"
            print(f"{r['name']:58} {shown:>10}{target} {met}")
            if r.get("work"):
                print(f"    what each did: {r['work']}")
    if report.failures:
        print("\n== FAILURES ==")
        for failure in report.failures:
            print(failure)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value:.3g}"
