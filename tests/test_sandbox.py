"""The test suite itself cannot reach beyond the loopback interface."""

from __future__ import annotations

import socket

import pytest


def test_datagrams_off_the_machine_are_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(RuntimeError):
        sock.sendto(b"x", ("192.0.2.1", 53))


def test_connections_off_the_machine_are_refused() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(Exception) as info,
    ):
        sock.connect(("192.0.2.1", 443))
    assert "192.0.2.1" in str(info.value) or "SocketBlocked" in type(info.value).__name__
