"""The loopback DNS server with the fixture zones and their faults, and resolvers to ask it."""

from __future__ import annotations

from collections.abc import Iterator

import dns.resolver
import pytest

from sovscan.dnsserver import ZoneServer, make_resolver
from tests.probes.dns_fixtures import FAULTS, all_zones


@pytest.fixture(scope="module")
def server() -> Iterator[ZoneServer]:
    with ZoneServer(all_zones(), faults=FAULTS) as running:
        yield running


@pytest.fixture(scope="module")
def resolver(server: ZoneServer) -> dns.resolver.Resolver:
    """Patient: on a loaded machine (CI, two pytest workers) a loopback answer can take longer
    than a fault test's short timeout, and a test about an answer must not turn it into a Gap."""
    return make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)


@pytest.fixture(scope="module")
def impatient(server: ZoneServer) -> dns.resolver.Resolver:
    """For the tests of zones that never answer: their time-outs cost 0.6 s, not 3 s."""
    return make_resolver(server.host, server.port, timeout=0.3, lifetime=0.6)
