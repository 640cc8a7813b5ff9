"""Installs the benchmark-only peers: PyPI packages into this venv, Debian tools through apt-get.

ScoutSuite (the AWS peer) gets a venv of its own: it pins python-dateutil below 2.8.1 (the
project's venv has 2.9) and brings ~1.6 GB of Azure, Google, Alibaba and OCI SDKs, several of
them pinned to old releases. It lives in `.venv/bench-scoutsuite`, ignored by git with `.venv/`
and removed by `make clean`, and is made only when the aws workload runs and installs are allowed.
"""

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
VERSIONED = ("numpy", "dnspython", "pytricia", "blastdns", "pycares", "boto3", "moto")
SCOUTSUITE = "scoutsuite==5.14.0"
SCOUTSUITE_VENV = Path(__file__).resolve().parent.parent / ".venv" / "bench-scoutsuite"
SCOUTSUITE_INSTALL_S = 1800  # about 3 minutes on the 2-core machine


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
    if "aws" in workloads:
        notes.extend(_ensure_scoutsuite(install=install))
    return notes


def scout_command() -> Path | None:
    """The `scout` script of ScoutSuite's own venv, when that venv holds the pinned release."""
    scout = SCOUTSUITE_VENV / "bin" / "scout"
    wanted = SCOUTSUITE.split("==")[1]
    return scout if scout.exists() and _venv_version("scoutsuite") == wanted else None


def _venv_version(package: str) -> str | None:
    python = SCOUTSUITE_VENV / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(  # noqa: S603 - the bench's own venv, a fixed one-liner
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _ensure_scoutsuite(*, install: bool) -> list[str]:
    """Make ScoutSuite's venv when missing; returns a note when the peer must be skipped."""
    if scout_command() is not None:
        return []
    if not install:
        return [f"ScoutSuite missing from {SCOUTSUITE_VENV} (--no-install): its peer is skipped"]
    print(f"installing {SCOUTSUITE} into its own venv {SCOUTSUITE_VENV} (~3 min)", flush=True)
    python = SCOUTSUITE_VENV / "bin" / "python"
    steps = (
        [sys.executable, "-m", "venv", str(SCOUTSUITE_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", SCOUTSUITE],
    )
    for step in steps:
        try:
            done = subprocess.run(  # noqa: S603 - fixed commands, no shell
                step,
                capture_output=True,
                text=True,
                timeout=SCOUTSUITE_INSTALL_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [
                f"ScoutSuite: `{' '.join(step[-3:])}` took over {SCOUTSUITE_INSTALL_S} s: skipped"
            ]
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if "WARNING" not in line]
            tail = " | ".join(errors[-3:])[:500]
            return [
                f"ScoutSuite install failed ({' '.join(step[-3:])}: {tail}): its peer is skipped"
            ]
    if scout_command() is None:
        return [f"ScoutSuite: no scout command in {SCOUTSUITE_VENV} after install: skipped"]
    return []


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
    for package in ("scoutsuite", "boto3", "botocore"):
        version = _venv_version(package)
        if version:
            found[f"scoutsuite-venv {package}"] = version
    for command, flag in (("nsd", "-v"), ("dnsperf", "-h")):
        if shutil.which(command):
            done = subprocess.run(  # noqa: S603
                [command, flag], capture_output=True, text=True, check=False
            )
            text = (done.stdout + done.stderr).strip().splitlines()
            version = next((line for line in text if "version" in line.lower()), "")
            found[command] = version.strip()[:80]
    return found
