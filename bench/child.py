"""One measured run in a fresh process: `python -m bench.child SPEC` prints one JSON line."""

from __future__ import annotations

import importlib
import json
import resource
import sys
import traceback
from typing import Any

from bench.harness import RESULT_PREFIX

WORKLOADS = {
    "rules": "bench.rules",
    "ip": "bench.ip",
    "reports": "bench.reports",
    "dns": "bench.dns",
    "aws": "bench.aws",
}


def peak_rss_mb() -> float:
    """This process's own peak resident memory.

    `ru_maxrss` is not used: Linux carries it across exec, so a child spawned by a large parent
    would report the parent's peak. VmHWM belongs to the memory map exec created.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    spec: dict[str, Any] = json.loads(argv[0])
    try:
        module = importlib.import_module(WORKLOADS[spec["workload"]])
        figures = module.run(spec["contender"], spec)
        payload: dict[str, Any] = {
            "figures": figures,
            "peak_rss_mb": peak_rss_mb(),
        }
    except Exception as exc:  # noqa: BLE001 - any failure is reported to the parent as data
        traceback.print_exc()
        payload = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    print(RESULT_PREFIX + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
