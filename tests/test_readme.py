"""Every command the README shows runs here (make demo and make test run in CI's .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from sovscan.dnsserver import ZoneServer
from tests.conftest import REPO

README = REPO / "README.md"
EXPECTED_EXIT = {"scan": {0, 1, 3}, "replay": {0, 1, 3}}  # verdicts depend on the estate


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def setup_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_setup_is_the_two_make_targets_ci_runs() -> None:
    assert setup_commands() == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "make demo" in ci


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def nameserver() -> Iterator[str]:
    with ZoneServer.from_directory(REPO / "tests" / "data" / "readme-zones") as server:
        yield f"{server.host}:{server.port}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder for the whole README, so later commands see what earlier ones wrote (verify
    # reads the bundle that scan wrote; diff compares the two scans).
    folder = tmp_path_factory.mktemp("readme")
    shutil.copy(REPO / "sovscan.example.toml", folder)
    (folder / "domains.txt").write_text(
        "# one institution a line\nuniversite.example\nUNIVERSITE.example.\n", encoding="utf-8"
    )
    (folder / "aws-config").write_text(
        "[profile audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "region = us-east-1\n",
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(
    command: str, workdir: Path, moto_endpoint: str, nameserver: str
) -> None:
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(workdir),
        "AWS_CONFIG_FILE": str(workdir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-credentials"),
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SOVSCAN_NAMESERVER": nameserver,
        "SOVSCAN_STORE": str(workdir / "history.sqlite"),
        "SOVSCAN_DATA_DIR": str(workdir / "no-data-update"),
    }
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    verb = command.split()[1] if len(command.split()) > 1 else ""
    assert result.returncode in EXPECTED_EXIT.get(verb, {0}), result.stderr
    assert "Traceback" not in result.stderr
    for output in re.findall(r"--output (\S+)", command):
        assert (workdir / output).stat().st_size > 0
    if "--output" not in command:
        assert result.stdout.strip(), "a README command should show something"
