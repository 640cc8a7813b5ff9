"""Installs the benchmark-only peers: PyPI packages into this venv, Debian tools through apt-get."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
POLICY_RC = Path("/usr/sbin/policy-rc.d")
# Which workloads need which Python modules and Debian commands (command -> Debian package).
PY_NEEDS = {"ip": ("pytricia",), "dns": ("blastdns", "pycares")}
APT_NEEDS = {"dns": {"nsd": "nsd", "dnsperf": "dnsperf"}}
VERSIONED = ("numpy", "dnspython", "pytricia", "blastdns", "pycares")


def _missing_modules(workloads: list[str]) -> list[str]:
    missing = []
    for workload in workloads:
        for module in PY_NEEDS.get(workload, ()):
            try:
                importlib.import_module(module)
            except ImportError:
                missing.append(module)
    return missing


def ensure(workloads: list[str], *, install: bool) -> list[str]:
    """Install what `workloads` need; returns notes for what is still missing."""
    notes: list[str] = []
    if _missing_modules(workloads) and install:
        print(f"installing benchmark peers from {REQUIREMENTS.name} into {sys.prefix}", flush=True)
        subprocess.run(  # noqa: S603 - this interpreter's pip, a fixed requirements file
            [sys.executable, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
            check=False,
        )
        importlib.invalidate_caches()
    notes.extend(
        f"python module {m} missing: its peer is skipped" for m in _missing_modules(workloads)
    )
    commands = {c: p for w in workloads for c, p in APT_NEEDS.get(w, {}).items()}
    absent = {c: p for c, p in commands.items() if shutil.which(c) is None}
    if absent and install:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            _apt_install(sorted(set(absent.values())))
        else:
            print(
                "the DNS benchmark needs Debian's "
                + " and ".join(sorted(set(absent.values())))
                + ": run as root or `sudo apt-get install nsd dnsperf`",
                flush=True,
            )
    notes.extend(
        f"command {c} missing (apt-get install {p}): its part is skipped"
        for c, p in commands.items()
        if shutil.which(c) is None
    )
    return notes


def _apt_install(packages: list[str]) -> None:
    """apt-get install with service start-up blocked: NSD must never start itself on port 53."""
    created = False
    if not POLICY_RC.exists():
        # invoke-rc.d asks policy-rc.d before starting a service; 101 means "not allowed".
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
        POLICY_RC.chmod(0o755)
        created = True
    try:
        print(f"installing Debian packages {', '.join(packages)} (services blocked)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)  # noqa: S607
        subprocess.run(  # noqa: S603
            ["apt-get", "install", "-y", "-qq", *packages],  # noqa: S607
            check=False,
            env=env,
        )
    finally:
        if created:
            POLICY_RC.unlink(missing_ok=True)


def versions() -> dict[str, str]:
    """Versions of the libraries and tools the figures depend on."""
    found = {}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    for command, flag in (("nsd", "-v"), ("dnsperf", "-h")):
        if shutil.which(command):
            done = subprocess.run(  # noqa: S603
                [command, flag], capture_output=True, text=True, check=False
            )
            text = (done.stdout + done.stderr).strip().splitlines()
            version = next((line for line in text if "version" in line.lower()), "")
            found[command] = version.strip()[:80]
    return found
