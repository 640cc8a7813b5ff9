"""A bulk DNS resolver: one UDP socket, a bounded in-flight window, results streamed as they come.

Built for tens of thousands of domains against one server (an authoritative server, or a
recursive resolver the institution runs). Each distinct (name, type) is asked once: questions
shared by many domains (MX hosts, name servers, CDN edges) are deduplicated while in flight and
answered from a bounded cache afterwards. Lost datagrams are retransmitted with exponential
backoff until the per-query timeout. A truncated (TC=1) answer is asked again over TCP, on a
non-blocking connection polled with the UDP socket, so a slow TCP server holds back only its own
question; a few connections at most run at once. Answers are decoded by the lean codec in
`dnswire`; what it refuses is read by dnspython instead.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import os
import select
import socket
import struct
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.message
import dns.rdata
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from sovscan.probes import dnswire
from sovscan.probes.dnswire import Record, WireError

Status = Literal["answer", "nodata", "nxdomain", "error", "timeout"]

DEFAULT_WINDOW = 512
DEFAULT_TIMEOUT = 3.0  # seconds from the first send until a question is given up
DEFAULT_RTO = 0.2  # first retransmission after 200 ms, as issue 8 recommends
MAX_RTO = 1.0
# TCP connections open at once. Truncation is rare, so a few carry it; and a server closes the
# connections of a client past its own limit (sovscan.dnsserver's is 32), turning answers into
# errors.
DEFAULT_TCP_CONNECTIONS = 8
# The least time a TCP exchange gets (capped at the timeout), however late its truncated answer
# came, however long it waited for a connection and however long the caller held the loop: its
# connection has that long to open, and once its query is sent it has that long again for the
# answer. Enough for a handshake and an answer across the world, so that a question is never
# failed as "timed out" without a try.
TCP_GRACE = 1.0
DEFAULT_CACHE = 100_000  # answers kept for later duplicates; oldest evicted first
_RECV_BUFFER = 4 << 20  # a window of answers waiting in the kernel while the consumer works
_IDS_PER_DRAW = 2048
# The least the adaptive window shrinks to: a server that loses even this many at once is down
# or far away, and waiting on fewer would only make the scan slower, not complete.
MIN_WINDOW = 4
# The window is halved when more than one attempt in this many (and at least MIN_WINDOW) timed
# out within a period: a server dropping that much is overloaded; a few slow or dead domains, or
# the last questions of a run that will never be answered, are not a reason.
LOSS_SHARE = 4
_TC = 0x0200


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one distinct question."""

    name: str  # as asked, lowercased, without the final dot
    rdtype: int
    status: Status
    rcode: int  # -1 when no answer came
    records: tuple[Record, ...]  # the answer section (a CNAME chain comes first)
    attempts: int = 1
    via_tcp: bool = False
    reason: str = ""  # why the status is "error" or "timeout"
    wire: bytes = b""  # the response as received (over TCP when via_tcp), for a full decoder

    def values(self, rdtype: int | None = None) -> list[object]:
        """Data of the answer records of `rdtype` (default: the type asked)."""
        wanted = self.rdtype if rdtype is None else rdtype
        return [r.data for r in self.records if r.rdtype == wanted]


@dataclass
class Stats:
    """Counters of one resolver, for benchmarks and logs."""

    sent: int = 0
    retransmits: int = 0
    timeouts: int = 0
    tcp: int = 0
    fallbacks: int = 0  # answers the lean codec refused and dnspython read
    ignored: int = 0  # datagrams with an unknown id or another question
    deduplicated: int = 0
    cache_hits: int = 0
    window_cuts: int = 0  # times the in-flight window was halved after a loss


@dataclass(slots=True)
class _Query:
    name: str
    rdtype: int
    wire: bytes
    first_sent: float
    attempts: int = 1
    rto: float = DEFAULT_RTO
    asked: tuple[bytes, str] | None = None  # what `dnswire.decode_response` skips reading
    lost: bool = False  # its attempt timed out; it waits for room in the window to go again


class _Window:
    """How many questions may be outstanding: congestion control as TCP's (slow start, then
    additive increase and multiplicative decrease).

    A server with no room for more silently drops what it cannot take; time-outs are the only
    sign. The window starts at `floor` and grows by one per answer (doubling each round trip, a
    few milliseconds to the maximum against a server that keeps up) until the first sign of
    overload, then by one per window's worth of answers. Once per `period` it is halved if more
    than one first attempt in `LOSS_SHARE` timed out meanwhile: a burst of losses counts once,
    and the few questions a healthy server never answers (a domain whose own servers are dead) are
    left to retransmission instead of slowing the whole scan. Questions waiting to go again count
    outside it: they are sent ahead of new ones as answers make room, not all at once into the
    server that just dropped them. Kept across runs of one resolver: what a server could take in
    one round of questions holds for the next.
    """

    __slots__ = (
        "answers",
        "ceiling",
        "floor",
        "losses",
        "period",
        "period_end",
        "size",
        "threshold",
        "waiting",
    )

    def __init__(self, floor: int, ceiling: int, period: float) -> None:
        self.ceiling = float(ceiling)
        self.floor = float(min(floor, ceiling))
        self.size = self.floor
        self.threshold = self.ceiling  # slow start below it, additive increase above
        self.period = period
        self.period_end = 0.0
        self.answers = 0  # in the current period
        self.losses = 0  # attempts timed out in the current period
        self.waiting = 0  # lost questions waiting to be sent again

    def answered(self) -> None:
        self.answers += 1
        size = self.size
        if size < self.threshold:
            self.size = size + 1.0
        elif size < self.ceiling:
            self.size = min(self.ceiling, size + 1.0 / size)

    def settle(self, now: float) -> bool:
        """Close the period if it is over; whether the window was halved."""
        if now < self.period_end:
            return False
        self.period_end = now + self.period
        losses = self.losses
        congested = losses >= MIN_WINDOW and losses * LOSS_SHARE > self.answers + losses
        self.answers = self.losses = 0
        if not congested or self.size <= self.floor:
            return False
        self.size = self.threshold = max(self.floor, self.size / 2)
        return True


@dataclass
class _Cache:
    """A bounded map of answers; the oldest entry goes first when full."""

    limit: int
    # OrderedDict, not dict: deleting a plain dict's first key over and over leaves dummy slots
    # that the next `next(iter(...))` walks again, which made eviction quadratic at 100k domains.
    entries: OrderedDict[tuple[str, int], Result] = field(default_factory=OrderedDict)

    def get(self, key: tuple[str, int]) -> Result | None:
        return self.entries.get(key)

    def put(self, key: tuple[str, int], result: Result) -> None:
        if self.limit <= 0:
            return
        if len(self.entries) >= self.limit:
            self.entries.popitem(last=False)
        self.entries[key] = result


class _QueryIds:
    """Random 16-bit query ids from the operating system's CSPRNG, as `secrets` draws them, but
    2,048 per draw: one `getrandom` call per query was 9 % of the resolver's time."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: list[int] = []

    def next(self) -> int:
        if not self._ids:
            self._ids = memoryview(os.urandom(2 * _IDS_PER_DRAW)).cast("H").tolist()
        return self._ids.pop()


@dataclass(slots=True, eq=False)
class _Exchange:
    """One question asked again over TCP."""

    query: _Query
    sock: socket.socket
    deadline: float
    out: bytes  # the length-prefixed query, what is left of it to send
    got: bytearray = field(default_factory=bytearray)  # the length prefix and response so far
    connected: bool = False


_TcpOutcome = tuple[_Query, bytes | None, str]  # the response, or None and why there is none


class _TcpExchanges:
    """Truncated questions asked again over TCP: at most `limit` non-blocking connections, each
    registered in the resolver's own poll set; the others wait their turn in order."""

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        poller: select.poll,
        limit: int,
        timeout: float,
    ) -> None:
        self.address = address
        self.family = family
        self.poller = poller
        self.limit = limit
        self.timeout = timeout
        self.waiting: deque[_Query] = deque()
        self.running: dict[int, _Exchange] = {}  # by file descriptor, as poll reports them
        self.done: deque[_TcpOutcome] = deque()

    def __len__(self) -> int:
        return len(self.waiting) + len(self.running)

    def add(self, query: _Query) -> None:
        self.waiting.append(query)
        # Started now, not at the loop's next turn: the connection is opening while the caller
        # consumes the results before it.
        self.start()

    def start(self) -> None:
        while self.waiting and len(self.running) < self.limit:
            query = self.waiting.popleft()
            now = time.monotonic()
            deadline = max(query.first_sent + self.timeout, now + min(self.timeout, TCP_GRACE))
            try:
                sock = socket.socket(self.family, socket.SOCK_STREAM)
            except OSError as exc:
                self.done.append((query, None, f"TCP: {exc}"))
                continue
            try:
                sock.setblocking(False)
                code = sock.connect_ex(self.address)
                if code not in (0, errno.EINPROGRESS):
                    raise OSError(code, os.strerror(code))
            except OSError as exc:
                sock.close()
                self.done.append((query, None, f"TCP: {exc}"))
                continue
            out = struct.pack("!H", len(query.wire)) + query.wire
            self.running[sock.fileno()] = _Exchange(query, sock, deadline, out)
            # Writable once connected (or failed): the query is sent from `progress`.
            self.poller.register(sock, select.POLLOUT)

    def next_deadline(self) -> float | None:
        return min((e.deadline for e in self.running.values()), default=None)

    def progress(self, fd: int, events: int) -> None:
        """Move the exchange on `fd` on as far as `events` allow, ending it when complete."""
        exchange = self.running.get(fd)
        if exchange is None:
            return
        sock = exchange.sock
        try:
            if not exchange.connected:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                exchange.connected = True
            if exchange.out:
                sent = sock.send(exchange.out)
                exchange.out = exchange.out[sent:]
                if not exchange.out:
                    self.poller.modify(sock, select.POLLIN)
                    # The answer's time runs from here: the caller may have held the loop while
                    # the connection opened, and the query went out only now.
                    grace = time.monotonic() + min(self.timeout, TCP_GRACE)
                    exchange.deadline = max(exchange.deadline, grace)
                return
            got = exchange.got
            if not events & (select.POLLIN | select.POLLERR | select.POLLHUP):
                return
            # All that has come, not one read per wake-up: the loop expires what a pass leaves
            # unanswered, and an answer waiting whole in the kernel must not be cut short.
            while True:
                # Read no further than the message: what follows it is none of this question's.
                size = 2 + int.from_bytes(got[:2]) if len(got) >= 2 else 2
                chunk = sock.recv(size - len(got))
                if not chunk:
                    raise ValueError("connection closed mid-message")
                got += chunk
                if len(got) >= 2 and len(got) == 2 + int.from_bytes(got[:2]):
                    self._end(exchange, bytes(got[2:]), "")
                    return
        except (BlockingIOError, InterruptedError):
            return  # nothing (more) to read yet: poll reports it again when there is
        except (OSError, ValueError) as exc:
            self._end(exchange, None, f"TCP: {exc}")

    def expire(self, now: float) -> None:
        for exchange in [e for e in self.running.values() if e.deadline <= now]:
            self._end(exchange, None, "TCP: timed out")

    def _end(self, exchange: _Exchange, response: bytes | None, reason: str) -> None:
        # Unregistered before it is closed: its descriptor may be reused by the next socket.
        del self.running[exchange.sock.fileno()]
        self.poller.unregister(exchange.sock)
        exchange.sock.close()
        self.done.append((exchange.query, response, reason))
        self.start()

    def close(self) -> None:
        for exchange in self.running.values():
            exchange.sock.close()
        self.running.clear()
        self.waiting.clear()
        self.done.clear()


def _key(name: str, rdtype: int) -> tuple[str, int]:
    # The root stays ".", as the decoder reads it, so that its answer matches its question.
    return name.lower().removesuffix(".") or ".", rdtype


class BulkResolver:
    """Ask many questions of one server; iterate over `resolve()` to get each distinct answer once.

    While iterating, `submit()` adds follow-up questions (the addresses of an MX host just
    seen, say); it returns the cached answer at once when the question was already answered.
    """

    def __init__(
        self,
        server: str,
        port: int = 53,
        *,
        window: int = DEFAULT_WINDOW,
        timeout: float = DEFAULT_TIMEOUT,
        rto: float = DEFAULT_RTO,
        cache_size: int = DEFAULT_CACHE,
        edns_payload: int = dnswire.DEFAULT_EDNS_PAYLOAD,
        recursion_desired: bool = False,
        tcp_connections: int = DEFAULT_TCP_CONNECTIONS,
        adaptive: bool = True,
    ) -> None:
        if window < 1 or timeout <= 0 or rto <= 0 or tcp_connections < 1:
            raise ValueError("window, timeout, rto and tcp_connections must be positive")
        self.server = server
        self.port = port
        self.window = window
        self.timeout = timeout
        self.rto = rto
        self.edns_payload = edns_payload
        self.recursion_desired = recursion_desired
        self.tcp_connections = tcp_connections
        self.adaptive = adaptive  # False: `window` questions outstanding whatever the losses
        self.stats = Stats()
        self._cache = _Cache(cache_size)
        self._followups: deque[tuple[str, int]] = deque()
        self._active: set[tuple[str, int]] = set()  # queued or in flight
        self._submitted: set[tuple[str, int]] = set()  # follow-ups, always cached
        self._remember = True
        self._ids = _QueryIds()
        self._window = _Window(MIN_WINDOW if adaptive else window, window, rto)

    def submit(self, name: str, rdtype: int) -> Result | None:
        """Queue a question for the running `resolve()`; its cached answer if already known."""
        key = _key(name, rdtype)
        cached = self._cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        if key in self._active:
            self.stats.deduplicated += 1
            return None
        self._active.add(key)
        self._submitted.add(key)
        self._followups.append(key)
        return None

    def resolve(
        self, questions: Iterable[tuple[str, int]], *, remember: bool = True
    ) -> Iterator[Result]:
        """Every distinct question of `questions` (and of `submit()`) answered, in arrival order.

        With `remember` False the answers to `questions` are not kept in the cache (follow-ups
        from `submit()` still are): a scan whose own questions never repeat keeps memory flat.
        """
        self._remember = remember
        family = socket.AF_INET6 if ":" in self.server else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        poller = select.poll()
        address = (self.server, self.port)
        tcp = _TcpExchanges(address, family, poller, self.tcp_connections, self.timeout)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
            sock.connect(address)
            sock.setblocking(False)
            poller.register(sock.fileno(), select.POLLIN)
            yield from self._loop(sock, poller, tcp, iter(questions))
        finally:
            tcp.close()
            sock.close()
            # Whatever is still queued or in flight belongs to this run alone: a caller that
            # stopped reading early must not leave the next run skipping those questions.
            self._active.clear()
            self._followups.clear()
            self._submitted.clear()

    def _next_question(self, source: Iterator[tuple[str, int]]) -> tuple[str, int] | None:
        if self._followups:
            return self._followups.popleft()
        for name, rdtype in source:
            key = _key(name, rdtype)
            if key in self._active:
                self.stats.deduplicated += 1
                continue
            if self._cache.get(key) is not None:
                self.stats.cache_hits += 1
                continue
            self._active.add(key)
            return key
        return None

    def _loop(
        self,
        sock: socket.socket,
        poller: select.poll,
        tcp: _TcpExchanges,
        source: Iterator[tuple[str, int]],
    ) -> Iterator[Result]:
        pending: dict[int, _Query] = {}
        # (deadline, seq, query id, attempt, the question): an answered question's id may be
        # drawn again for a new one, which its leftover timers must not take for theirs.
        timers: list[tuple[float, int, int, int, _Query]] = []
        resend: deque[int] = deque()  # ids of lost questions, in the order they were lost
        window = self._window
        window.waiting = 0  # what an earlier run left waiting went with it
        sequence = itertools.count()
        stats = self.stats
        udp = sock.fileno()
        while True:
            # Lost questions go again first, as the window has room: the server that dropped
            # them is told no more than it answers.
            while resend and len(pending) - window.waiting + len(tcp) < window.size:
                qid = resend.popleft()
                query = pending.get(qid)
                if query is None or not query.lost:
                    continue  # answered late, or given up meanwhile
                query.lost = False
                window.waiting -= 1
                query.attempts += 1
                sent_at = time.monotonic()
                deadline = min(sent_at + query.rto, query.first_sent + self.timeout)
                heapq.heappush(timers, (deadline, next(sequence), qid, query.attempts, query))
                stats.retransmits += 1
                self._send(sock, query.wire)
            # Fill the window: follow-ups first, then the caller's questions. Questions gone over
            # to TCP still count, so that a server slow over TCP slows the scan instead of
            # queueing all of it.
            while len(pending) - window.waiting + len(tcp) < window.size:
                question = self._next_question(source)
                if question is None:
                    break
                name, rdtype = question
                # Random ids, as dnspython's: a forged answer must guess the id and the port.
                qid = self._ids.next()
                while qid in pending:
                    qid = self._ids.next()
                try:
                    wire = dnswire.encode_query(
                        qid,
                        name,
                        rdtype,
                        edns_payload=self.edns_payload,
                        rd=self.recursion_desired,
                    )
                except WireError as exc:
                    yield self._finish(question, "error", -1, (), 0, False, str(exc))
                    continue
                now = time.monotonic()
                asked = dnswire.asked(name, rdtype, wire)
                query = _Query(name, rdtype, wire, now, 1, self.rto, asked)
                pending[qid] = query
                heapq.heappush(timers, (now + self.rto, next(sequence), qid, 1, query))
                self._send(sock, wire)
            if not pending and not tcp:
                if not self._followups:
                    return
                continue  # follow-ups were submitted while a result was being consumed
            # `now` is read before the poll and is the clock of this whole pass: the results
            # below are yielded one by one, and however long the caller takes over them, what
            # this pass gives up had no answer waiting when the poll looked. An answer that came
            # meanwhile (in the kernel's buffers) is read by the next pass, before its timers.
            now = time.monotonic()
            wait = max(0.0, timers[0][0] - now) if timers else 0.05
            if tcp.running:
                tcp_deadline = tcp.next_deadline()
                if tcp_deadline is not None:
                    wait = min(wait, max(0.0, tcp_deadline - now))
            for fd, events in poller.poll(int(min(wait, 0.05) * 1000)):
                if fd == udp:
                    yield from self._receive(sock, pending, tcp)
                else:
                    # An exchange ending here frees its descriptor for the next one at once;
                    # harmless, as poll lists a descriptor once and this one's turn is over.
                    tcp.progress(fd, events)
            if tcp.running:
                tcp.expire(now)
            # Drained here only, before the loop can end: every exchange ended above.
            while tcp.done:
                yield self._tcp_answer(*tcp.done.popleft())
            # Retransmit or give up what is overdue.
            while timers and timers[0][0] <= now:
                _, _, qid, attempt, owner = heapq.heappop(timers)
                query = pending.get(qid)
                if query is not owner or query.attempts != attempt:
                    continue  # answered (its id perhaps drawn again), or a later attempt's
                if now - query.first_sent >= self.timeout:
                    del pending[qid]
                    if query.lost:
                        window.waiting -= 1
                    stats.timeouts += 1
                    key = (query.name, query.rdtype)
                    why = f"no answer within {self.timeout:g} s"
                    yield self._finish(key, "timeout", -1, (), query.attempts, False, why)
                    continue
                if query.lost:
                    continue  # the give-up timer of a question still waiting to go again
                if query.attempts == 1:
                    # Only first attempts count (as Karn's rule leaves retransmissions out of
                    # TCP's estimates): a name whose servers are dead loses every attempt, and
                    # at the end of a run, when only such names are left, their retransmissions
                    # would read as an overloaded server.
                    window.losses += 1
                query.lost = True
                window.waiting += 1
                query.rto = min(query.rto * 2, MAX_RTO)
                resend.append(qid)
                # Given up at its deadline if the window has no room for it before then.
                deadline = query.first_sent + self.timeout
                heapq.heappush(timers, (deadline, next(sequence), qid, query.attempts, query))
            if now >= window.period_end and window.settle(now):
                stats.window_cuts += 1

    def _send(self, sock: socket.socket, wire: bytes) -> None:
        try:
            sock.send(wire)
        except (BlockingIOError, InterruptedError):
            return  # the send buffer is full: the retransmission timer sends it again
        except ConnectionRefusedError:
            return  # an ICMP error from an earlier datagram; this one may still go through
        self.stats.sent += 1

    def _receive(
        self, sock: socket.socket, pending: dict[int, _Query], tcp: _TcpExchanges
    ) -> Iterator[Result]:
        while True:
            try:
                data = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue  # ICMP port unreachable: the retransmission timer handles it
            qid = dnswire.peek_id(data)
            query = pending.get(qid)
            if query is None:
                self.stats.ignored += 1
                continue
            parsed = self._parse(data, query.asked)
            if parsed is not None and not _responds_to(query, data, parsed):
                self.stats.ignored += 1  # the right id but another question: keep waiting
                continue
            del pending[qid]
            window = self._window
            if query.lost:
                window.waiting -= 1  # answered after all, while waiting to go again
            window.answered()
            if parsed is not None and parsed[2] & _TC:  # the whole answer only fits over TCP
                self.stats.tcp += 1
                tcp.add(query)
                continue
            yield self._answer(query, parsed, data, False)

    def _tcp_answer(self, query: _Query, data: bytes | None, failure: str) -> Result:
        if data is None:
            key = (query.name, query.rdtype)
            return self._finish(key, "error", -1, (), query.attempts, True, failure)
        parsed = self._parse(data, query.asked)
        if parsed is not None and (
            dnswire.peek_id(data) != dnswire.peek_id(query.wire)
            or not _responds_to(query, data, parsed)
        ):
            key = (query.name, query.rdtype)
            reason = "TCP: the response is not to this question"
            return self._finish(key, "error", -1, (), query.attempts, True, reason, data)
        return self._answer(query, parsed, data, True)

    def _answer(self, query: _Query, parsed: Parsed | None, data: bytes, via_tcp: bool) -> Result:
        """The result of a response to `query`: its id matched, and its question when it parsed."""
        key = (query.name, query.rdtype)
        attempts = query.attempts
        if parsed is None:
            reason = "malformed TCP response" if via_tcp else "malformed response"
            return self._finish(key, "error", -1, (), attempts, via_tcp, reason, data)
        _, _, _, rcode, records = parsed
        if rcode == dnswire.NXDOMAIN:
            status: Status = "nxdomain"
        elif rcode != dnswire.NOERROR:
            reason = f"rcode {rcode}"
            return self._finish(key, "error", rcode, records, attempts, via_tcp, reason, data)
        else:
            status = "answer" if records else "nodata"
        return self._finish(key, status, rcode, records, attempts, via_tcp, "", data)

    def _parse(self, data: bytes, asked: tuple[bytes, str] | None) -> Parsed | None:
        try:
            response = dnswire.decode_response(data, authority=False, asked=asked)
        except WireError:
            return self._parse_dnspython(data)
        return response.qname, response.qtype, response.flags, response.rcode, response.answer

    def _parse_dnspython(self, data: bytes) -> Parsed | None:
        """The slow path: dnspython reads what the lean codec refused; unhandled types dropped."""
        try:
            message = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError):
            return None
        if len(message.question) != 1:
            return None
        self.stats.fallbacks += 1
        question = message.question[0]
        records = []
        for rrset in message.answer:
            owner = rrset.name.to_text(omit_final_dot=True)
            for rd in rrset:
                value = _dnspython_value(rd)
                if value is not None:
                    records.append(Record(owner, int(rrset.rdtype), rrset.ttl, value))
        qname = question.name.to_text(omit_final_dot=True)
        return qname, int(question.rdtype), int(message.flags), message.rcode(), tuple(records)

    def _finish(
        self,
        key: tuple[str, int],
        status: Status,
        rcode: int,
        records: tuple[Record, ...],
        attempts: int,
        via_tcp: bool,
        reason: str,
        wire: bytes = b"",
    ) -> Result:
        result = Result(key[0], key[1], status, rcode, records, attempts, via_tcp, reason, wire)
        self._active.discard(key)
        followup = key in self._submitted
        self._submitted.discard(key)
        # A lost answer may come next time: a timeout is never remembered.
        if status != "timeout" and (self._remember or followup):
            self._cache.put(key, result)
        return result


Parsed = tuple[str, int, int, int, tuple[Record, ...]]  # qname, qtype, flags, rcode, answer


def _responds_to(query: _Query, data: bytes, parsed: Parsed) -> bool:
    """Whether `data` is a response (QR set, opcode QUERY) to `query`'s question, name, type and
    class IN, as dnspython's `Message.is_response` requires; the caller matches the id."""
    qname, qtype, flags, _, _ = parsed
    if not flags & 0x8000 or (flags >> 11) & 0xF or qname.lower() != query.name:
        return False
    if qtype != query.rdtype:
        return False
    if query.asked is not None and data.startswith(query.asked[0], 12):
        return True  # the question as sent, class IN included
    try:
        return dnswire.question_class_in(data)
    except WireError:  # a question dnspython read but the lean codec does not
        return False


def _dnspython_value(rd: dns.rdata.Rdata) -> object | None:
    """A dnspython rdata as `Record.data`; None for types the bulk path does not read."""
    if isinstance(rd, A | AAAA):
        return str(rd.address)
    if isinstance(rd, NS | CNAME):
        return str(rd.target.to_text(omit_final_dot=True))
    if isinstance(rd, MX):
        return (int(rd.preference), str(rd.exchange.to_text(omit_final_dot=True)))
    if isinstance(rd, TXT):
        return tuple(bytes(s) for s in rd.strings)
    return None


def resolve_many(
    server: str, port: int, questions: Iterable[tuple[str, str]], **options: float
) -> Iterator[Result]:
    """Convenience wrapper: questions as (name, "A"/"MX"/...) text pairs."""
    resolver = BulkResolver(
        server,
        port,
        window=int(options.get("window", DEFAULT_WINDOW)),
        timeout=options.get("timeout", DEFAULT_TIMEOUT),
    )
    codes = dnswire.TYPE_CODES
    yield from resolver.resolve((name, codes[rdtype]) for name, rdtype in questions)
