"""Shared fixtures: no test reaches real AWS credentials or the internet."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="Re-run the demo and rewrite tests/golden/ (read the diff before committing it).",
    )


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) == "localhost"


_real_sendto = socket.socket.sendto


def _loopback_only_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    # pytest-socket's --allow-hosts guards connect(); UDP datagrams need this guard too.
    address = args[-1]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise RuntimeError(f"test tried to send a datagram off the machine: {address!r}")
    return _real_sendto(self, data, *args)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(autouse=True, scope="session")
def _no_datagrams_off_loopback() -> Iterator[None]:
    socket.socket.sendto = _loopback_only_sendto  # type: ignore[method-assign,assignment]
    yield
    socket.socket.sendto = _real_sendto  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _isolated_aws_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Fake credentials and no shared config, so a mistake can never reach a real account."""
    empty = tmp_path_factory.mktemp("aws-config")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Scans recorded by tests land in a throw-away store, never in the user's history.
    monkeypatch.setenv("SOVSCAN_STORE", str(empty / "history.sqlite"))
    # Only the data shipped in the package: never a copy a developer refreshed with data update.
    monkeypatch.setenv("SOVSCAN_DATA_DIR", str(empty / "no-data-update"))
    yield


class StepClock:
    """A clock that starts at a fixed instant and moves one second per call."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now = current.replace(second=(current.second + 1) % 60)
        return current


@pytest.fixture
def logging_restored() -> Iterator[None]:
    # Each CLI run configures the package logger (-q raises its level): give it back as it was.
    package = logging.getLogger("sovscan")
    handlers, level = package.handlers[:], package.level
    yield
    package.handlers[:], package.level = handlers, level


@pytest.fixture
def fixed_clock() -> StepClock:
    return StepClock(datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC))
