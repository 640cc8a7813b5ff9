"""`python -m bench [--size quick|default|full] [--only rules,ip]`: run, print, write results."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

from bench import deps
from bench.harness import Report, machine_facts, print_table

WORKLOADS = ("rules", "ip", "reports", "dns", "aws")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=("quick", "default", "full"), default="default")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--out", type=Path, default=Path("bench-results/results.json"))
    parser.add_argument("--no-install", action="store_true", help="never pip/apt install peers")
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads: {', '.join(unknown)}")

    started = time.perf_counter()
    report = Report(size=args.size, out=args.out)
    report.notes.extend(deps.ensure(chosen, install=not args.no_install))
    report.machine = machine_facts()
    report.machine["versions"] = deps.versions()
    print(f"machine: {report.machine}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sovscan-bench-") as tmp:
        for name in chosen:
            module = importlib.import_module(f"bench.{name}")
            try:
                module.plan(report, args.size, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - one broken workload must not hide the others' figures
                report.failures.append(f"{name}: {type(exc).__name__}: {exc}")
                print(f"[{name}] FAILED: {type(exc).__name__}: {exc}", flush=True)
            report.write(args.out)
    report.setup["total_s"] = round(time.perf_counter() - started, 1)
    report.write(args.out)
    print_table(report)
    for note in report.notes:
        print(f"note: {note}")
    print(f"\nwrote {args.out} in {report.setup['total_s']} s")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
