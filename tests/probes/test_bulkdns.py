"""The bulk resolver against the loopback zone server: right answers, once each, faults handled."""

from __future__ import annotations

import errno
import gc
import os
import select
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dns.flags
import dns.message
import dns.resolver
import dns.rrset
import dns.zone
import pytest

from sovscan.dnsserver import Capacity, Fault, ZoneServer, make_resolver
from sovscan.probes import bulkdns, dnswire
from sovscan.probes.bulkdns import BulkResolver, Result
from tests.hostile.servers import Behaviour, HostileDnsServer, HostileZone, Reply

A, AAAA, MX, NS, TXT, CNAME = (
    dnswire.TYPE_CODES[t] for t in ("A", "AAAA", "MX", "NS", "TXT", "CNAME")
)
DOMAINS = 40


def _zone(i: int) -> dns.zone.Zone:
    origin = f"u{i}.test."
    text = (
        "$TTL 300\n"
        f"@ SOA ns1.{origin} hostmaster.{origin} 1 3600 600 604800 300\n"
        "@ NS ns1.provider.test.\n@ NS ns2.provider.test.\n"
        f"@ A 192.0.2.{i}\n"
        + (f"@ AAAA 2001:db8::{i:x}\n" if i % 2 else "")
        + "@ MX 10 mx.provider.test.\n"
        + f'@ TXT "v=spf1 include:_spf.provider.test -all" "token-{i}"\n'
        + ('_dmarc TXT "v=DMARC1; p=none"\n' if i % 3 else "")
        + "www CNAME edge.provider.test.\n"
    )
    return dns.zone.from_text(text, origin=origin, relativize=False)


PROVIDER = """$TTL 300
@ SOA ns1.provider.test. hostmaster.provider.test. 1 3600 600 604800 300
@ NS ns1.provider.test.
ns1 A 198.51.100.1
ns2 A 198.51.100.2
mx A 198.51.100.25
edge CNAME edge2.provider.test.
edge2 A 198.51.100.80
big TXT "{big}"
"""

FAULTS = (
    Fault("dropped.test", "drop"),
    Fault("servfail.test", "servfail"),
    Fault("garbage.test", "garbage"),
    Fault("tc.test", "truncate"),
    Fault("badid.test", "badid"),
)


def _faulty_zone(name: str) -> dns.zone.Zone:
    text = f"$TTL 60\n@ SOA ns1.{name}. h.{name}. 1 1 1 1 1\n@ NS ns1.{name}.\n@ A 203.0.113.9\n"
    return dns.zone.from_text(text, origin=f"{name}.", relativize=False)


@pytest.fixture(scope="module")
def server() -> Iterator[ZoneServer]:
    zones = [_zone(i) for i in range(DOMAINS)]
    big = " ".join(["x" * 200] * 5).replace(" ", '" "')
    zones.append(
        dns.zone.from_text(PROVIDER.format(big=big), origin="provider.test.", relativize=False)
    )
    zones += [_faulty_zone(f.name) for f in FAULTS]
    with ZoneServer(zones, faults=FAULTS) as running:
        yield running


def _mix() -> list[tuple[str, int]]:
    questions = []
    for i in range(DOMAINS):
        apex = f"u{i}.test"
        questions += [(apex, t) for t in (A, AAAA, MX, NS, TXT)]
        questions += [(f"www.{apex}", CNAME), (f"_dmarc.{apex}", TXT)]
    return questions


def _reference(server: ZoneServer, name: str, rdtype: int) -> tuple[str, set[object]]:
    resolver = make_resolver(server.host, server.port)
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return "nxdomain", set()
    values: set[object] = set()
    for rrset in answer.response.answer:
        for rd in rrset:
            text = rd.to_text()
            values.add(text.rstrip(".").lower() if rrset.rdtype != TXT else text)
    return ("answer" if values else "nodata"), values


def _ours(result: Result) -> set[object]:
    values: set[object] = set()
    for record in result.records:
        data = record.data
        if record.rdtype == MX:
            assert isinstance(data, tuple)
            values.add(f"{data[0]} {data[1]}".lower())
        elif record.rdtype == TXT:
            assert isinstance(data, tuple)
            values.add(" ".join('"' + s.decode() + '"' for s in data))
        else:
            values.add(str(data).lower())
    return values


def test_every_answer_matches_dnspython(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port, window=16)
    results = list(resolver.resolve(_mix()))
    assert len(results) == len(_mix())
    assert {(r.name, r.rdtype) for r in results} == set(_mix())
    for result in results:
        status, values = _reference(server, result.name, result.rdtype)
        assert result.status == status, result
        assert _ours(result) == values, result
    statuses = {r.status for r in results}
    assert statuses == {"answer", "nodata", "nxdomain"}  # _dmarc is missing on a third
    assert resolver.stats.timeouts == 0


def test_shared_names_are_asked_once(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port, window=8)
    questions = [("mx.provider.test", A)] * 50 + [("edge.provider.test", A)] * 50
    results = list(resolver.resolve(questions))
    assert len(results) == 2
    assert resolver.stats.sent == 2
    assert resolver.stats.deduplicated + resolver.stats.cache_hits == 98
    by_name = {r.name: r for r in results}
    assert by_name["mx.provider.test"].values() == ["198.51.100.25"]
    # The CNAME chain comes first in the answer, then the address.
    edge = by_name["edge.provider.test"]
    assert edge.values(CNAME) == ["edge2.provider.test"]
    assert edge.values() == ["198.51.100.80"]


def test_followups_while_iterating_and_cache(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port, window=4)
    seen: list[Result] = []
    for result in resolver.resolve([(f"u{i}.test", MX) for i in range(10)]):
        seen.append(result)
        if result.rdtype != MX:
            continue
        for value in result.values():
            assert isinstance(value, tuple)
            resolver.submit(value[1], A)
    names = [(r.name, r.rdtype) for r in seen]
    assert names.count(("mx.provider.test", A)) == 1
    assert len(seen) == 11
    cached = resolver.submit("mx.provider.test", A)
    assert cached is not None and cached.values() == ["198.51.100.25"]


def test_faults_time_out_fail_or_fall_back(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port, window=8, timeout=0.6, rto=0.1)
    started = time.monotonic()
    results = {
        r.name: r
        for r in resolver.resolve(
            [
                ("dropped.test", A),
                ("servfail.test", A),
                ("garbage.test", A),
                ("tc.test", A),
                ("badid.test", A),
                ("missing.u1.test", A),
                ("big.provider.test", TXT),
            ]
        )
    }
    elapsed = time.monotonic() - started
    assert results["dropped.test"].status == "timeout"
    assert results["dropped.test"].attempts >= 3  # retransmitted with backoff before giving up
    assert results["servfail.test"].status == "error"
    assert results["servfail.test"].rcode == 2
    assert results["garbage.test"].status == "error"
    assert results["tc.test"].via_tcp and results["tc.test"].values() == ["203.0.113.9"]
    # A reply with the wrong id is never taken for the answer.
    assert results["badid.test"].status == "timeout"
    assert results["missing.u1.test"].status == "nxdomain"
    assert results["big.provider.test"].status == "answer"
    assert len(results["big.provider.test"].values()[0]) == 5  # type: ignore[arg-type]
    assert resolver.stats.retransmits >= 4
    assert elapsed < 3.0


def test_unencodable_names_are_errors_not_crashes(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port)
    results = list(resolver.resolve([("a..b.test", A), ("é.test", A), ("u1.test", A)]))
    assert [r.status for r in results[:2]] == ["error", "error"]
    assert results[2].values() == ["192.0.2.1"]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        BulkResolver("127.0.0.1", 53, window=0)


def test_unremembered_answers_leave_only_followups_cached(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port)
    for result in resolver.resolve([("u1.test", MX), ("u2.test", A)], remember=False):
        if result.rdtype == MX:
            assert resolver.submit("mx.provider.test", A) is None
    assert resolver.submit("u2.test", A) is None  # not remembered: asked again if wanted
    cached = resolver.submit("mx.provider.test", A)
    assert cached is not None and cached.values() == ["198.51.100.25"]


def test_cache_is_bounded_oldest_first(server: ZoneServer) -> None:
    resolver = BulkResolver(server.host, server.port, window=1, cache_size=2)
    list(resolver.resolve([("u1.test", A), ("u2.test", A), ("u3.test", A)]))
    assert resolver.submit("u3.test", A) is not None
    assert resolver.submit("u2.test", A) is not None
    assert resolver.submit("u1.test", A) is None  # evicted first


def test_query_ids_are_random_and_drawn_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[int] = []
    urandom = os.urandom

    def counted(size: int) -> bytes:
        draws.append(size)
        return urandom(size)

    monkeypatch.setattr(bulkdns.os, "urandom", counted)
    ids = bulkdns._QueryIds()
    drawn = [ids.next() for _ in range(10_000)]
    assert len(draws) == 5  # 2,048 ids per call to the CSPRNG, not one call per query
    # Spread over the 16-bit range as random ids are (about 9,270 distinct expected): a counter
    # or a constant would not be.
    assert len(set(drawn)) > 8_800
    assert min(drawn) < 500 and max(drawn) > 65_000


def _udp_and_tcp_sockets() -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a TCP listener on the same free loopback port."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        try:
            return udp, socket.create_server(("127.0.0.1", udp.getsockname()[1]))
        except OSError:  # another process holds that port for TCP: try another
            udp.close()
    raise OSError("no loopback port free for both UDP and TCP")


def _truncating_server(
    answer: Callable[[dns.message.Message], dns.message.Message],
    on_tcp: Callable[[socket.socket], None] | None = None,
) -> Any:
    """A UDP socket that answers TC=1 and a TCP listener on the same port that sends `answer`
    of the query (or hands the connection to `on_tcp`), for one question each; returns
    (port, thread)."""
    udp, tcp = _udp_and_tcp_sockets()
    port = udp.getsockname()[1]

    def reply(conn: socket.socket) -> None:
        size = int.from_bytes(conn.recv(2), "big")
        wire = answer(dns.message.from_wire(conn.recv(size))).to_wire()
        conn.sendall(len(wire).to_bytes(2, "big") + wire)

    def serve() -> None:
        with udp, tcp:
            data, client = udp.recvfrom(4096)
            cut = dns.message.make_response(dns.message.from_wire(data))
            cut.flags |= dns.flags.TC
            udp.sendto(cut.to_wire(), client)
            conn, _ = tcp.accept()
            with conn:
                (on_tcp or reply)(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def _answered(query: dns.message.Message, address: str = "192.0.2.7") -> dns.message.Message:
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", address))
    return response


def _other_id(query: dns.message.Message) -> dns.message.Message:
    response = _answered(query)
    response.id = (query.id + 1) % 65536
    return response


def _other_name(query: dns.message.Message) -> dns.message.Message:
    return _answered(dns.message.make_query("other.test", "A", id=query.id))


def _echo(query: dns.message.Message) -> dns.message.Message:
    return query  # QR unset: the query itself, as a reflecting middlebox would send it


def _other_class(query: dns.message.Message) -> dns.message.Message:
    return _answered(dns.message.make_query("tc.test", "A", "CH", id=query.id), "192.0.2.66")


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (_answered, "answer"),
        (_other_id, "error"),
        (_other_name, "error"),
        (_echo, "error"),
        (_other_class, "error"),
    ],
)
def test_a_truncated_answer_is_taken_over_tcp_only_for_its_question(
    answer: Callable[[dns.message.Message], dns.message.Message], status: str
) -> None:
    port, thread = _truncating_server(answer)
    resolver = BulkResolver("127.0.0.1", port, timeout=2.0)
    (result,) = resolver.resolve([("tc.test", A)])
    thread.join(5)
    assert not thread.is_alive()
    assert result.via_tcp and resolver.stats.tcp == 1
    assert result.status == status
    if status == "answer":
        assert result.values() == ["192.0.2.7"]
    else:
        assert result.reason == "TCP: the response is not to this question"
        assert result.records == ()


def test_a_stalled_tcp_answer_is_given_up_at_the_question_timeout() -> None:
    # The TCP server sends one byte of the length and then nothing: the fetch must end at the
    # resolver's own timeout (0.5 s here), not at a fixed one, and say why.
    release = threading.Event()

    def stall(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"\x00")
        release.wait(10)

    port, thread = _truncating_server(_answered, stall)
    resolver = BulkResolver("127.0.0.1", port, timeout=0.5)
    started = time.monotonic()
    (result,) = resolver.resolve([("tc.test", A)])
    elapsed = time.monotonic() - started
    release.set()
    thread.join(5)
    assert result.status == "error" and result.via_tcp
    assert result.reason == "TCP: timed out"
    assert 0.4 < elapsed < 2.0


def test_a_datagram_that_is_not_a_response_is_ignored() -> None:
    # The query reflected back (QR unset), then the same question in class CH, then the answer:
    # only the answer is taken, the two others are ignored as dnspython's is_response ignores them
    # (had one been taken, the answer would come after its query was done: ignored too).
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        with sock:
            data, client = sock.recvfrom(4096)
            query = dns.message.from_wire(data)
            for reply in (_echo(query), _other_class(query), _answered(query)):
                sock.sendto(reply.to_wire(), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    resolver = BulkResolver("127.0.0.1", sock.getsockname()[1], timeout=2.0)
    (result,) = resolver.resolve([("tc.test", A)])
    thread.join(5)
    assert result.status == "answer" and result.values() == ["192.0.2.7"]
    assert resolver.stats.ignored == 2


def test_the_root_is_a_question_like_any_other(server: ZoneServer) -> None:
    # The fixture server serves no root zone and refuses: an answer, not a time-out.
    resolver = BulkResolver(server.host, server.port, timeout=1.0)
    (result,) = resolver.resolve([(".", NS)])
    assert result.name == "."
    assert result.status == "error" and result.rcode == 5


def _cut(query: dns.message.Message) -> bytes:
    """A response to `query` with TC=1 and no records, as a server sends when they do not fit."""
    cut = dns.message.make_response(query)
    cut.flags |= dns.flags.TC
    return cut.to_wire()


def _over_tcp(
    udp_delay: Mapping[str, float], tcp_delay: Mapping[str, float | None]
) -> tuple[Behaviour, list[tuple[str, float]]]:
    """Names of `udp_delay` answer TC=1 over UDP after that delay; over TCP, names of
    `tcp_delay` answer after theirs (None: never, the connection held open) and log when
    their TCP query came in."""
    arrivals: list[tuple[str, float]] = []

    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply | None:
        name = query.question[0].name.to_text(omit_final_dot=True)
        if not tcp:
            return Reply(_cut(query), udp_delay[name]) if name in udp_delay else None
        arrivals.append((name, time.monotonic()))
        delay = tcp_delay.get(name, 0.0)
        if delay is None:
            return Reply(None)
        return Reply(_answered(query).to_wire(), delay)

    return behaviour, arrivals


def _fast_zone(count: int) -> HostileZone:
    zone = HostileZone(("fast.test",))
    for i in range(count):
        zone.add(f"n{i}.fast.test", "A", f"192.0.2.{i}")
    return zone


def test_a_stalled_tcp_exchange_holds_back_no_other_question() -> None:
    # The truncated question is asked first and its TCP server never answers; 50 others are
    # answered at once over UDP and must be yielded at once, not after the TCP exchange.
    behaviour, _ = _over_tcp({"stall.fast.test": 0.0}, {"stall.fast.test": None})
    questions = [("stall.fast.test", A)] + [(f"n{i}.fast.test", A) for i in range(50)]
    with HostileDnsServer(_fast_zone(50), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=1.0)
        started = time.monotonic()
        seen = [(r, time.monotonic() - started) for r in resolver.resolve(questions)]
    stalled, stalled_at = seen[-1]
    assert stalled.name == "stall.fast.test"
    assert stalled.status == "error" and stalled.via_tcp and stalled.reason == "TCP: timed out"
    assert 0.9 < stalled_at < 1.8
    others = seen[:-1]
    assert len(others) == 50 and {r.status for r, _ in others} == {"answer"}
    assert max(at for _, at in others) < 0.5
    assert resolver.stats.tcp == 1


def test_a_late_truncated_answer_still_gets_a_real_tcp_try() -> None:
    # "late" is truncated 0.6 s into its 1 s and its TCP server takes 0.6 s more: it ends past
    # the question's own deadline, within the grace a TCP exchange gets. Meanwhile "stall" holds
    # a TCP connection open until its own time runs out.
    behaviour, arrivals = _over_tcp(
        {"stall.fast.test": 0.0, "late.fast.test": 0.6},
        {"stall.fast.test": None, "late.fast.test": 0.6},
    )
    with HostileDnsServer(_fast_zone(0), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=1.0)
        started = time.monotonic()
        results = {
            r.name: r for r in resolver.resolve([("stall.fast.test", A), ("late.fast.test", A)])
        }
        elapsed = time.monotonic() - started
    assert results["stall.fast.test"].reason == "TCP: timed out"
    late = results["late.fast.test"]
    assert late.status == "answer" and late.via_tcp and late.values() == ["192.0.2.7"]
    assert [name for name, _ in arrivals] == ["stall.fast.test", "late.fast.test"]
    assert elapsed < 1.9


def test_a_truncated_question_waiting_for_a_tcp_connection_gets_its_own_time() -> None:
    # One TCP connection at most: "second" waits while "first" stalls until its deadline, and
    # then gets a real try of its own rather than failing at once for lack of time.
    behaviour, arrivals = _over_tcp(
        {"first.fast.test": 0.0, "second.fast.test": 0.0},
        {"first.fast.test": None, "second.fast.test": 0.3},
    )
    with HostileDnsServer(_fast_zone(3), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=0.8, tcp_connections=1)
        started = time.monotonic()
        questions = [("first.fast.test", A), ("second.fast.test", A), ("n1.fast.test", A)]
        seen = [(r, time.monotonic() - started) for r in resolver.resolve(questions)]
    assert [r.name for r, _ in seen] == ["n1.fast.test", "first.fast.test", "second.fast.test"]
    assert seen[1][0].reason == "TCP: timed out"
    second, second_at = seen[2]
    assert second.status == "answer" and second.via_tcp and second.attempts == 1
    assert [name for name, _ in arrivals] == ["first.fast.test", "second.fast.test"]
    assert arrivals[1][1] - started > 0.7  # its connection opened only when the first's closed
    assert second_at < 1.6


def test_tcp_connections_are_bounded() -> None:
    names = [f"tc{i}.fast.test" for i in range(6)]
    behaviour, arrivals = _over_tcp(dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.2))
    with HostileDnsServer(_fast_zone(0), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=2.0, tcp_connections=2)
        results = list(resolver.resolve([(name, A) for name in names]))
    assert sorted(r.name for r in results) == sorted(names)
    assert {r.status for r in results} == {"answer"} and resolver.stats.tcp == 6
    # Two connections at a time: of any three queries in a row, two came over the same one, the
    # second after the first's answer, held 0.2 s.
    times = sorted(at for _, at in arrivals)
    assert all(later - earlier > 0.15 for earlier, later in zip(times, times[2:], strict=False))


def test_a_tcp_answer_that_came_while_the_caller_was_busy_is_taken() -> None:
    # The truncated question's TCP server answers in 0.05 s, but the caller takes 40 ms over each
    # of the 40 UDP answers before it: 1.6 s, past the 1 s timeout. The answer is waiting in the
    # kernel (or the connection is, its query unsent): it must be read, not timed out.
    behaviour, arrivals = _over_tcp({"tc.fast.test": 0.0}, {"tc.fast.test": 0.05})
    questions = [("tc.fast.test", A)] + [(f"n{i}.fast.test", A) for i in range(40)]
    with HostileDnsServer(_fast_zone(40), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=1.0)
        results = {}
        for result in resolver.resolve(questions):
            results[result.name] = result
            time.sleep(0.04)
    assert len(results) == 41 and {r.status for r in results.values()} == {"answer"}
    truncated = results["tc.fast.test"]
    assert truncated.via_tcp and truncated.values() == ["192.0.2.7"] and truncated.reason == ""
    assert [name for name, _ in arrivals] == ["tc.fast.test"]


def test_a_udp_answer_that_came_while_the_caller_was_busy_is_not_given_up() -> None:
    # "slow" is answered over UDP after 0.3 s of its 0.8 s; the caller holds the loop for 1 s
    # over the truncated question's TCP answer, which comes at once. When the loop resumes,
    # "slow"'s answer is waiting in the kernel: it must be taken, not given up as timed out.
    over_tcp, _ = _over_tcp({"tc.fast.test": 0.0}, {"tc.fast.test": 0.0})

    def behaviour(query: dns.message.Message, raw: bytes, tcp: bool) -> Reply | None:
        if not tcp and query.question[0].name.to_text(omit_final_dot=True) == "slow.fast.test":
            return Reply(_answered(query).to_wire(), 0.3)
        return over_tcp(query, raw, tcp)

    with HostileDnsServer(_fast_zone(0), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=0.8)
        started = time.monotonic()
        results = []
        for result in resolver.resolve([("tc.fast.test", A), ("slow.fast.test", A)]):
            results.append(result)
            if result.name == "tc.fast.test":
                time.sleep(1.0)
        elapsed = time.monotonic() - started
    assert [r.name for r in results] == ["tc.fast.test", "slow.fast.test"]
    slow = results[1]
    assert slow.status == "answer" and not slow.via_tcp and slow.values() == ["192.0.2.7"]
    assert resolver.stats.timeouts == 0
    assert elapsed < 1.6


def test_a_tcp_exchange_gets_its_time_from_when_its_query_goes_out() -> None:
    # The caller holds the loop past the question's 0.3 s while the connection opens: the query
    # goes out only when the loop resumes, and gets its time from then. Then the caller holds it
    # past that too, while the answer comes whole: one pass reads all of it before expiring.
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            size = int.from_bytes(conn.recv(2), "big")
            wire = _answered(dns.message.from_wire(conn.recv(size))).to_wire()
            conn.sendall(len(wire).to_bytes(2, "big") + wire)
            conn.recv(1)  # until the resolver closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    poller = select.poll()
    tcp = bulkdns._TcpExchanges(listener.getsockname(), socket.AF_INET, poller, 8, 0.3)
    wire = dnswire.encode_query(4242, "tc.test", A)
    asked = dnswire.asked("tc.test", A, wire)
    tcp.add(bulkdns._Query("tc.test", A, wire, time.monotonic(), asked=asked))

    def one_pass() -> None:
        now = time.monotonic()
        for fd, events in poller.poll(0):
            tcp.progress(fd, events)
        tcp.expire(now)

    try:
        time.sleep(0.4)  # the caller consumes other results: the connection opens meanwhile
        one_pass()  # the query goes out now
        assert not tcp.done and len(tcp.running) == 1
        time.sleep(0.4)  # the answer comes whole while the caller holds the loop again
        one_pass()
        ((_, response, reason),) = tcp.done
        assert reason == "" and response is not None
        assert dns.message.from_wire(response).answer[0][0].to_text() == "192.0.2.7"
    finally:
        tcp.close()
        listener.close()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("sent", "reason", "wire"),
    [
        (b"\x00\x07garbage", "malformed TCP response", b"garbage"),
        (b"\x00\x00", "malformed TCP response", b""),
        (b"\x00\x30abc", "TCP: connection closed mid-message", b""),
        (b"\x00", "TCP: connection closed mid-message", b""),
    ],
)
def test_a_broken_tcp_response_is_an_error_saying_why(
    sent: bytes, reason: str, wire: bytes
) -> None:
    def send_and_close(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(sent)

    port, thread = _truncating_server(_answered, send_and_close)
    resolver = BulkResolver("127.0.0.1", port, timeout=1.0)
    (result,) = resolver.resolve([("tc.test", A)])
    thread.join(5)
    assert result.status == "error" and result.via_tcp and result.rcode == -1
    assert result.reason == reason and result.wire == wire


def test_a_refused_tcp_connection_is_an_error_saying_why() -> None:
    udp, tcp = _udp_and_tcp_sockets()
    tcp.close()  # the port answers over UDP only

    def serve() -> None:
        with udp:
            data, client = udp.recvfrom(4096)
            udp.sendto(_cut(dns.message.from_wire(data)), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    resolver = BulkResolver("127.0.0.1", udp.getsockname()[1], timeout=1.0)
    (result,) = resolver.resolve([("tc.test", A)])
    thread.join(5)
    assert result.status == "error" and result.via_tcp
    # The operating system's own words (errno number and text differ between systems).
    assert (
        result.reason
        == f"TCP: {ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))}"
    )


def test_closing_the_results_mid_tcp_exchange_closes_its_connection() -> None:
    # The truncated question comes first, so its connection is open when the other's answer is
    # yielded; closing the iterator there must close that connection, not leave it to the GC.
    behaviour, _ = _over_tcp({"stall.fast.test": 0.0}, {"stall.fast.test": None})
    threads = threading.active_count()
    with HostileDnsServer(_fast_zone(1), behaviour) as server:
        resolver = BulkResolver(server.host, server.port, timeout=2.0)
        results = resolver.resolve([("stall.fast.test", A), ("n0.fast.test", A)])
        first = next(results)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results.close()
            del results
            gc.collect()
    assert first.name == "n0.fast.test" and resolver.stats.tcp == 1
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert threading.active_count() <= threads + 1  # the resolver started none (+ the server's)


def test_results_closed_early_leave_no_question_pending(server: ZoneServer) -> None:
    # A caller that stops reading (an interrupted scan, a bounded preview) must not leave its
    # questions "in flight" for ever: the next run would skip them as already asked, and hand
    # its follow-ups to a caller that never asked for them.
    resolver = BulkResolver(server.host, server.port, window=4)
    questions = [(f"u{i}.test", A) for i in range(DOMAINS)]
    results = resolver.resolve(questions, remember=False)
    next(results)
    resolver.submit("mx.provider.test", A)
    results.close()
    answered = {(r.name, r.status) for r in resolver.resolve(questions, remember=False)}
    assert answered == {(name, "answer") for name, _ in questions}


def _busy_zone(hosts: int) -> dns.zone.Zone:
    lines = ["$TTL 60", "@ SOA ns1 hostmaster 1 3600 600 604800 60", "@ NS ns1"]
    lines += [f"h{i} A 192.0.2.{i % 250 + 1}" for i in range(hosts)]
    return dns.zone.from_text("\n".join(lines) + "\n", origin="busy.test.")


def test_a_server_with_no_room_for_the_window_gets_fewer_questions_and_drops_none() -> None:
    # The auditor's trial: a modest server drops what it has no room for, and 256 questions in
    # flight left healthy names as time-out gaps, different ones each run. Here it takes 4 ms a
    # question and holds 4; the answer deadline is the scan's 5 s. The fixed window keeps the
    # server flooded, so some questions lose every retransmission (16 to 61 of them in trials);
    # the adaptive one stays near what the server can hold and loses none.
    hosts = 800
    questions = [(f"h{i}.busy.test", A) for i in range(hosts)]
    outcomes: dict[bool, tuple[int, int, int, int]] = {}
    with ZoneServer([_busy_zone(hosts)], capacity=Capacity(depth=4, service=0.004)) as busy:
        for adaptive in (False, True):
            resolver = BulkResolver(
                busy.host, busy.port, window=256, timeout=5.0, adaptive=adaptive
            )
            results = list(resolver.resolve(questions))
            assert len(results) == hosts
            answered = sum(r.status == "answer" for r in results)
            stats = resolver.stats
            outcomes[adaptive] = (answered, stats.timeouts, stats.window_cuts, stats.retransmits)
    fixed, adaptive_ = outcomes[False], outcomes[True]
    # How many questions the fixed window loses for good varies from run to run (16 to 61 in
    # trials, 0 in a milder set-up), so the test does not bet on it; that it floods the server
    # with about five times the retransmissions (1,445 and 1,484 against 302 and 271) does not.
    assert fixed[2] == 0 and fixed[3] > 3 * adaptive_[3], outcomes
    assert adaptive_[:2] == (hosts, 0) and adaptive_[2] >= 1, outcomes


def test_names_that_never_answer_do_not_shrink_the_window() -> None:
    # A dozen names that never answer, spread among 2,000 that do, are lost on every try: not
    # the sign of an overloaded server, so the window stays where it was configured.
    hosts = 2000
    questions = [(f"h{i}.busy.test", A) for i in range(hosts)]
    for i in range(12):
        questions.insert(i * 120, (f"n{i}.dead.busy.test", A))
    with ZoneServer([_busy_zone(hosts)], faults=[Fault("dead.busy.test", "drop")]) as healthy:
        resolver = BulkResolver(healthy.host, healthy.port, window=16, timeout=1.5)
        results = list(resolver.resolve(questions))
    assert sum(r.status == "answer" for r in results) == hosts
    assert sum(r.status == "timeout" for r in results) == 12
    assert resolver.stats.retransmits >= 12 * 3
    assert resolver.stats.window_cuts == 0, resolver.stats


def test_an_answered_question_s_timer_does_not_fire_on_a_new_one_with_its_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Query ids are random, so an answered question's id is drawn again now and then while its
    # retransmission timer is still set. Every id is 0 here, one question at a time: the second
    # goes out when the first is answered (0.4 s), and the first's timer (0.6 s) falls before
    # the second's answer (0.8 s): 0.2 s either way, for a loaded machine. Taken for the
    # second's, it sent that question twice and counted a loss that never was.
    monkeypatch.setattr(bulkdns.os, "urandom", bytes)
    slow = [Fault("slow.busy.test", "slow", delay=0.4)]
    with ZoneServer([_busy_zone(2)], faults=slow) as server:
        resolver = BulkResolver(
            server.host, server.port, window=1, timeout=3.0, rto=0.6, adaptive=False
        )
        results = list(resolver.resolve([("h0.slow.busy.test", A), ("h1.slow.busy.test", A)]))
    assert [r.status for r in results] == ["nxdomain", "nxdomain"]
    assert [r.attempts for r in results] == [1, 1]
    assert resolver.stats.retransmits == 0, resolver.stats
