"""RDAP from a faulty registry on loopback: bounded retries, sizes and time; unknown, no guess."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from sovscan.model import Asset, Confidence, Method
from sovscan.resolve import KnowledgeBase, load_knowledge, resolve_all
from sovscan.resolve.rdap import IpwhoisRdapClient
from tests.hostile.servers import FaultyHttpServer, send, trickle

ADDRESS = "1.0.1.1"  # global; the tests never leave loopback (the base URL is the fake registry)
RETRIES = 3
DOC = Path(__file__).parents[1] / "data" / "rdap" / "whoisit_data_rdap_response_ip_v4.json"


class FakeTime:
    """A clock and a sleep that record waits instead of waiting (429 tests)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def registry() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], FaultyHttpServer]]:
    servers: list[FaultyHttpServer] = []

    def start(behaviour: Callable[[BaseHTTPRequestHandler], None]) -> FaultyHttpServer:
        server = FaultyHttpServer(behaviour).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _client(tmp_path: Path, url: str, fake: FakeTime | None = None, **kw: Any) -> IpwhoisRdapClient:
    timing: dict[str, Any] = {"clock": fake.clock, "sleep": fake.sleep} if fake else {}
    return IpwhoisRdapClient(
        tmp_path / "rdap.sqlite",
        base_url=url,
        min_interval=0.0,
        timeout=kw.pop("timeout", 1.0),
        retries=RETRIES,
        **timing,
        **kw,
    )


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_429_without_retry_after_backs_off_a_bounded_number_of_times(
    tmp_path: Path, registry: Any
) -> None:
    server = registry(lambda h: send(h, 429, b"slow down", content_type="text/plain"))
    fake = FakeTime()
    client = _client(tmp_path, server.url, fake)
    assert client.lookup(ADDRESS) is None
    assert len(server.requests) == RETRIES + 1
    assert fake.slept == sorted(fake.slept) and sum(fake.slept) <= 60
    client.close()


@pytest.mark.parametrize("retry_after", ["86400", "Wed, 21 Oct 2099 07:28:00 GMT", "-5", "1e9"])
def test_429_retry_after_is_honoured_but_capped(
    tmp_path: Path, registry: Any, retry_after: str
) -> None:
    server = registry(lambda h: send(h, 429, b"", headers={"Retry-After": retry_after}))
    fake = FakeTime()
    client = _client(tmp_path, server.url, fake)
    assert client.lookup(ADDRESS) is None
    assert len(server.requests) == RETRIES + 1
    assert all(0 <= pause <= 120 for pause in fake.slept), fake.slept
    client.close()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unknown_after_bounded_tries(
    tmp_path: Path, registry: Any, status: int
) -> None:
    server = registry(lambda h: send(h, status, b"<html>oops</html>", content_type="text/html"))
    client = _client(tmp_path, server.url, FakeTime())
    assert client.lookup(ADDRESS) is None
    assert 1 <= len(server.requests) <= RETRIES + 1
    client.close()


BODIES: dict[str, tuple[bytes, str]] = {
    "invalid-json": (b'{"handle": "NET-1", "network": ', "application/rdap+json"),
    "json-array": (b"[1, 2, 3]", "application/rdap+json"),
    "json-string": (b'"network"', "application/rdap+json"),
    "html-captive-portal": (b"<html><body>Sign in to Wi-Fi</body></html>", "text/html"),
    "nan-and-huge-numbers": (b'{"startAddress": NaN, "asn": 1e999}', "application/json"),
    "deeply-nested-json": (b"[" * 200_000 + b"]" * 200_000, "application/rdap+json"),
    "nul-and-invalid-utf8": (b'{"name": "\x00\xff\xfe"}', "application/rdap+json"),
    "empty": (b"", "application/rdap+json"),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_bad_bodies_are_unknown(tmp_path: Path, registry: Any, name: str) -> None:
    body, content_type = BODIES[name]
    server = registry(lambda h: send(h, 200, body, content_type=content_type))
    client = _client(tmp_path, server.url, FakeTime())
    result, elapsed = _timed(lambda: client.lookup(ADDRESS))
    assert result is None
    assert elapsed < 5
    assert len(server.requests) == 1
    client.close()


def test_a_huge_body_is_not_read_past_the_limit(tmp_path: Path, registry: Any) -> None:
    body = b'{"x": "' + b"a" * 8_000_000 + b'"}'
    server = registry(lambda h: send(h, 200, body))
    client = _client(tmp_path, server.url, FakeTime())
    result, elapsed = _timed(lambda: client.lookup(ADDRESS))
    assert result is None
    assert elapsed < 5
    client.close()


def test_a_slow_body_is_bounded_by_a_total_deadline(tmp_path: Path, registry: Any) -> None:
    # One byte every 0.2 s: each read is within the socket timeout, the whole never ends.
    server = registry(lambda h: trickle(h, total=500, every=0.2, stop_after=8.0))
    client = _client(tmp_path, server.url, timeout=1.0)
    result, elapsed = _timed(lambda: client.lookup(ADDRESS))
    assert result is None
    assert elapsed < 4.0, f"a trickling registry held the lookup for {elapsed:.1f}s"
    client.close()


def test_a_registry_that_never_answers_costs_one_timeout(tmp_path: Path, registry: Any) -> None:
    server = registry(lambda h: time.sleep(5))
    client = _client(tmp_path, server.url, timeout=0.5)
    result, elapsed = _timed(lambda: client.lookup(ADDRESS))
    assert result is None
    assert elapsed < 0.5 * (RETRIES + 1) + 1.5
    client.close()


def test_a_redirect_to_a_private_address_is_not_followed(tmp_path: Path, registry: Any) -> None:
    inside = registry(lambda h: send(h, 200, DOC.read_bytes()))  # stands for a private service
    target = f"{inside.url}/metadata/ip/{ADDRESS}"
    outside = registry(lambda h: send(h, 302, b"", headers={"Location": target}))
    client = _client(tmp_path, outside.url, FakeTime())
    assert client.lookup(ADDRESS) is None
    assert inside.requests == [], "the client followed a registry's redirect to a private address"
    client.close()


def test_a_redirect_to_rfc1918_space_is_refused_without_connecting(
    tmp_path: Path, registry: Any
) -> None:
    server = registry(
        lambda h: send(h, 301, b"", headers={"Location": f"http://10.0.0.1/ip/{ADDRESS}"})
    )
    client = _client(tmp_path, server.url, FakeTime())
    # Following it would try 10.0.0.1 (blocked in this suite: a RuntimeError, not None).
    assert client.lookup(ADDRESS) is None
    client.close()


def test_a_corrupt_cache_is_detected_and_rebuilt(tmp_path: Path, registry: Any) -> None:
    server = registry(lambda h: send(h, 200, DOC.read_bytes()))
    (tmp_path / "rdap.sqlite").write_bytes(b"this is not a database" * 100)
    client = _client(tmp_path, server.url, FakeTime())
    network = client.lookup("1.1.1.1")
    assert network is not None and network.cidr == "1.1.1.0/24"
    client.close()


def test_a_failing_registry_leaves_control_unknown(tmp_path: Path, registry: Any) -> None:
    kb: KnowledgeBase = load_knowledge()
    candidates = ["1.0.1.1", "1.0.8.1", "1.0.17.1", "1.1.0.1", "1.1.2.1", "1.1.9.1"]
    residue = next(a for a in candidates if kb.index.lookup(a).asn is None)
    server = registry(lambda h: send(h, 503, b"down", content_type="text/plain"))
    client = _client(tmp_path, server.url, FakeTime())
    (item,) = resolve_all([Asset("h", "dns.host", "h", {"addresses": (residue,)})], kb, client)
    assert item.control.method is Method.UNKNOWN
    assert item.control.confidence is Confidence.NONE
    assert item.control.jurisdictions is None
    details = " ".join(e.detail for e in item.control.evidence)
    assert f"RDAP had no answer for {residue}" in details
    client.close()


def test_the_recorded_document_parses(tmp_path: Path, registry: Any) -> None:
    server = registry(lambda h: send(h, 200, DOC.read_bytes()))
    client = _client(tmp_path, server.url, FakeTime())
    network = client.lookup("1.1.1.1")
    assert network is not None and network.registry == "apnic"
    assert json.loads(DOC.read_bytes())["handle"]
    client.close()


def test_an_answer_about_another_network_is_neither_used_nor_cached(
    tmp_path: Path, registry: Any
) -> None:
    # The cache is keyed by the network the registry names: an answer for 1.0.1.1 naming
    # 1.1.1.0/24 was returned as 1.0.1.1's network and then served from the cache, unasked,
    # for every address of 1.1.1.0/24.
    server = registry(lambda h: send(h, 200, DOC.read_bytes()))
    client = _client(tmp_path, server.url, FakeTime())
    assert client.lookup(ADDRESS) is None
    assert len(server.requests) == 1
    network = client.lookup("1.1.1.1")
    assert network is not None and network.cidr == "1.1.1.0/24"
    assert len(server.requests) == 2  # asked, not read from a poisoned cache
    client.close()
