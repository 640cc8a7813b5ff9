"""Soak the real CLI: ``sovscan scan --domains FILE --format json`` at two sizes, same server.

Run: ``python -m tests.hostile.soak_cli [--domains 10000]``. Not collected by pytest. Scans a
fifth of the domains, then all of them, each in a fresh ``sovscan`` process against a loopback
server (no faults), and exits 0 when both reports hold every domain and no gap, and the larger
scan's peak resident memory stays within ``--max-growth-mib`` of the smaller one's (flat memory:
issue 4); 1 otherwise, with the failed checks on stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.hostile.soak import domain, serve

SOVSCAN = Path(sys.executable).parent / "sovscan"


def scan(count: int, port: int, folder: Path) -> tuple[float, float, dict[str, object]]:
    """Seconds, the child's peak RSS in MiB (so far, over all children) and the report."""
    domains = folder / f"domains-{count}.txt"
    domains.write_text("".join(f"{domain(i)}\n" for i in range(count)), encoding="utf-8")
    inventory = folder / "sovscan.toml"
    inventory.write_text('[institution]\nname = "Soak"\nhome = "CA-QC"\n', encoding="utf-8")
    report = folder / f"report-{count}.json"
    started = time.monotonic()
    done = subprocess.run(
        [
            str(SOVSCAN),
            "scan",
            "-c",
            str(inventory),
            "--domains",
            str(domains),
            "--nameserver",
            f"127.0.0.1:{port}",
            "--concurrency",
            "32",
            "--format",
            "json",
            "--output",
            str(report),
            "--no-store",
            "--fail-on",
            "never",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"soak_cli: sovscan exited {done.returncode}: {done.stderr[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, json.loads(report.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--max-growth-mib", type=float, default=40.0)
    args = parser.parse_args(argv)

    ports: multiprocessing.SimpleQueue[int] = multiprocessing.SimpleQueue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(args.domains, 0.0, 9, ports, stop), daemon=True
    )
    server.start()
    port = ports.get()
    problems = []
    sizes = (max(1, args.domains // 5), args.domains)
    peaks = []
    with tempfile.TemporaryDirectory(prefix="sovscan-soak-") as folder:
        for count in sizes:
            seconds, peak, report = scan(count, port, Path(folder))
            peaks.append(peak)
            assets = report["assets"]
            assert isinstance(assets, list)
            seen = {a["attributes"]["domain"] for a in assets}
            if len(seen) != count:
                problems.append(f"{count} domains: {len(seen)} in the report")
            if report["gaps"]:
                problems.append(f"{count} domains: {len(report['gaps'])} gaps")  # type: ignore[arg-type]
            print(
                f"{count} domains: {seconds:.0f} s, {count / seconds:.0f} domains/s, "
                f"{len(assets)} assets, peak RSS {peak:.0f} MiB"
            )
    stop.set()
    server.join(timeout=5)
    if peaks[1] - peaks[0] > args.max_growth_mib:
        problems.append(
            f"peak RSS grew {peaks[1] - peaks[0]:.0f} MiB from {sizes[0]} to {sizes[1]} domains"
        )
    for problem in problems:
        print(f"soak_cli: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
