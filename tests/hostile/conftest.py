"""Fixtures for the hostile suites: a moto server and the demo zones on loopback, a CLI runner."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sovscan.dnsserver import ZoneServer

REPO = Path(__file__).resolve().parents[2]
DEMO_ZONES = REPO / "sovscan" / "demo" / "zones"
SOVSCAN = [sys.executable, "-m", "sovscan"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patch:
        # moto seeds ~1,300 public AMIs per region that it reports as the caller's own.
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(_moto_server: str) -> str:
    """A moto server on 127.0.0.1 holding a small estate: two buckets and one EBS volume.

    The server shares moto's in-process state, which other tests' mocks reset or fill (the
    demo leaves its estate behind): moto's state is reset and the estate made again for each test.
    """
    url = _moto_server
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 - loopback http
    urllib.request.urlopen(reset).close()  # noqa: S310 - the moto server above
    session = boto3.Session(
        aws_access_key_id="seed",
        aws_secret_access_key="seed",  # noqa: S106 - moto's in-memory account
        region_name="us-east-1",
    )
    s3 = session.client("s3", endpoint_url=url)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if "ue-research-data" not in existing:
        s3.create_bucket(
            Bucket="ue-research-data",
            CreateBucketConfiguration={"LocationConstraint": "ca-central-1"},
        )
    if "ue-web-assets" not in existing:
        s3.create_bucket(Bucket="ue-web-assets")
    ec2 = session.client("ec2", region_name="ca-central-1", endpoint_url=url)
    if not ec2.describe_volumes()["Volumes"]:
        ec2.create_volume(AvailabilityZone="ca-central-1a", Size=1)
    return url


@pytest.fixture(scope="module")
def demo_dns() -> Iterator[str]:
    """The demo's zones on a loopback DNS server: returns HOST:PORT for SOVSCAN_NAMESERVER."""
    with ZoneServer.from_directory(DEMO_ZONES) as server:
        yield f"{server.host}:{server.port}"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def run_cli(args: list[str], env: dict[str, str], *, cwd: Path, timeout: float = 120.0) -> Run:
    """Run `python -m sovscan ARGS` in a subprocess with exactly `env` (plus PATH/HOME)."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **env}
    if "PYTHONPATH" in os.environ:  # e.g. a checkout with candidate fixes ahead of the install
        full_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(
        [*SOVSCAN, *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Run(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
