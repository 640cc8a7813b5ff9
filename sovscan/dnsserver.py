"""A small authoritative DNS server on loopback that answers from zone files (demo and tests)."""

from __future__ import annotations

import logging
import queue
import re
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.zone

logger = logging.getLogger(__name__)

FaultAction = Literal[
    "servfail", "refused", "nxdomain", "drop", "garbage", "badid", "truncate", "slow"
]
"""What a fault does: answer with that rcode; never answer ("drop": a timeout); answer bytes that
do not parse ("garbage"); answer with the wrong query id ("badid"); set TC on every UDP answer
("truncate", so the client must retry over TCP); or answer correctly after `delay` ("slow")."""
_RCODE_FAULTS = frozenset({"servfail", "refused", "nxdomain"})

MAX_CNAME_CHASE = 16  # the server follows CNAMEs like NSD would, but never forever
MAX_UDP_PAYLOAD = 4096  # what the server offers over UDP even when a client asks for more
MAX_TCP_CONNECTIONS = 32  # concurrent TCP clients; others are closed at once
MAX_SLOW_PENDING = 64  # delayed UDP answers waiting at once; beyond this they are dropped
MAX_TCP_MESSAGES = 64  # queries per TCP connection before the server closes it
TCP_IDLE_TIMEOUT = 2.0  # seconds a TCP client may stay silent
_ORIGIN_LINE = re.compile(rb"^\$ORIGIN\s", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Fault:
    """A name (and everything under it) the server answers badly, optionally for one type only."""

    name: str
    action: FaultAction
    rdtype: str | None = None  # "TXT", "A"...; None means every type
    delay: float = 1.0  # seconds, for "slow"

    def applies(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> bool:
        if self.rdtype is not None and dns.rdatatype.from_text(self.rdtype) != rdtype:
            return False
        return qname.is_subdomain(dns.name.from_text(self.name))


@dataclass(frozen=True, slots=True)
class Capacity:
    """A busy server's UDP side: it takes `service` seconds per query, one at a time, and drops a
    query that finds `depth` others ahead of it (the one in service included), as a full receive
    buffer would."""

    depth: int
    service: float  # seconds per query


class _Backlog:
    """The UDP answers of a server with a `Capacity`, sent in order by one thread, each when the
    queries before it and its own `service` time are done."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.busy_until = 0.0  # when the server is done with every query taken so far
        self.outbox: queue.SimpleQueue[tuple[float, bytes, Any] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._send, name="sovscan-dns-backlog", daemon=True)
        self.sock: socket.socket | None = None

    def take(self, sock: socket.socket, reply: bytes, address: Any) -> None:
        """Queue `reply`, or drop it when the backlog is full. Called by the one UDP thread."""
        now = time.monotonic()
        start = max(now, self.busy_until)
        if (start - now) / self.capacity.service >= self.capacity.depth:
            return
        self.sock = sock
        self.busy_until = start + self.capacity.service
        self.outbox.put((self.busy_until, reply, address))

    def _send(self) -> None:
        while (item := self.outbox.get()) is not None:
            send_at, reply, address = item
            time.sleep(max(0.0, send_at - time.monotonic()))
            try:
                if self.sock is not None:
                    self.sock.sendto(reply, address)
            except OSError:
                pass  # the server closed meanwhile

    def stop(self) -> None:
        self.outbox.put(None)
        self.thread.join(timeout=2.0)


class _ServedZone:
    """A zone with the set of names that exist in it (empty non-terminals included), and its
    delegations: the names below the origin that hold NS records (zone cuts)."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        origin = zone.origin
        if origin is None:
            raise ValueError("a served zone needs an origin")
        if zone.relativize:
            # Answers need absolute names in every rdata (SOA mname, CNAME targets): re-read the
            # zone unrelativized once, rather than derelativize on every answer.
            text = zone.to_text(relativize=False)
            zone = dns.zone.from_text(text, origin=origin, relativize=False)
        self.zone = zone
        self.origin: dns.name.Name = origin
        existing: set[dns.name.Name] = set()
        for relative in zone.nodes:
            name = relative.derelativize(self.origin)
            # Every ancestor down to the origin exists too (RFC 8020: empty non-terminals).
            while name.is_subdomain(self.origin) and name not in existing:
                existing.add(name)
                if name == dns.name.root:
                    break
                name = name.parent()
        self.names = frozenset(existing)
        self.cuts = frozenset(
            relative.derelativize(self.origin)
            for relative, node in zone.nodes.items()
            if relative.derelativize(self.origin) != self.origin
            and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None
        )

    def delegation(self, name: dns.name.Name) -> dns.name.Name | None:
        """The zone cut `name` lies at or below (the highest, nearest the origin), if any: the
        zone delegates that part of its namespace away, and holds only the NS records (and
        glue) there (RFC 1034 4.2.1)."""
        found = None
        if self.cuts:
            while name != self.origin and name.is_subdomain(self.origin):
                if name in self.cuts:
                    found = name
                name = name.parent()
        return found

    def soa(self) -> dns.rrset.RRset | None:
        rdataset = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        if rdataset is None:
            return None
        return _rrset(self.origin, rdataset)


class Authority:
    """Answers DNS queries from a set of zones, chasing CNAMEs across them and referring below
    their zone cuts (delegations), as an authoritative server does; pure, no sockets."""

    def __init__(self, zones: Sequence[dns.zone.Zone], faults: Sequence[Fault] = ()) -> None:
        self._zones = {served.origin: served for served in map(_ServedZone, zones)}
        self._faults = tuple(faults)

    def zone_for(self, name: dns.name.Name) -> _ServedZone | None:
        """The most specific zone holding `name`: its closest ancestor among the origins."""
        while True:
            served = self._zones.get(name)
            if served is not None:
                return served
            if name == dns.name.root or len(name) == 0:
                return None
            name = name.parent()

    def fault_for(self, query: dns.message.Message) -> Fault | None:
        """The first configured fault covering the query's question, if any."""
        if len(query.question) != 1:
            return None
        question = query.question[0]
        for fault in self._faults:
            if fault.applies(question.name, question.rdtype):
                return fault
        return None

    def respond(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to `query`, or None when the server must stay silent."""
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        fault = self.fault_for(query)
        if fault is not None and fault.action == "drop":
            return None
        if fault is not None and fault.action in _RCODE_FAULTS:
            response.set_rcode(dns.rcode.from_text(fault.action.upper()))
            return response
        served = self.zone_for(qname)
        if question.rdclass != dns.rdataclass.IN or served is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        self._answer(response, served, qname, rdtype)
        return response

    @staticmethod
    def _refer(
        response: dns.message.Message,
        served: _ServedZone,
        cut: dns.name.Name,
    ) -> None:
        """A referral to the servers `cut` is delegated to, as NSD and BIND send it: their NS
        records in the authority section, no SOA, and the addresses (glue) of those inside the
        delegated zone in the additional section. AA is cleared when nothing was answered: the
        server is not authoritative below the cut."""
        ns = served.zone.get_rdataset(cut, dns.rdatatype.NS)
        if ns is None:
            return
        if not response.answer:
            response.flags &= ~dns.flags.AA
        response.authority.append(_rrset(cut, ns))
        for target in sorted({rdata.target for rdata in ns}):
            if not target.is_subdomain(cut):
                continue
            for kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
                glue = served.zone.get_rdataset(target, kind)
                if glue is not None:
                    response.additional.append(_rrset(target, glue))

    def _answer(
        self,
        response: dns.message.Message,
        served: _ServedZone,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
    ) -> None:
        name = qname
        seen = {name}
        for _ in range(MAX_CNAME_CHASE):
            cut = served.delegation(name)
            # Below a zone cut the server knows only where to send the client (a DS record
            # lives at the cut on the parent's side, and is answered there).
            if cut is not None and not (name == cut and rdtype == dns.rdatatype.DS):
                self._refer(response, served, cut)
                return
            node = served.zone.get_node(name)
            if node is None and name not in served.names:
                node = self._wildcard(served, name)
            if node is None:
                # An empty non-terminal exists (NODATA); any other missing name does not.
                if name not in served.names:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, served)
                return
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                response.answer.append(_rrset(name, rdataset))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                self._add_soa(response, served)
                return
            response.answer.append(_rrset(name, cname))
            target: dns.name.Name = next(iter(cname)).target
            next_zone = self.zone_for(target)
            # Like NSD: stop at a loop, or at a target outside the zones held; the client chases.
            if target in seen or next_zone is None:
                return
            if any(f.applies(target, rdtype) for f in self._faults):
                return
            seen.add(target)
            name, served = target, next_zone

    @staticmethod
    def _wildcard(served: _ServedZone, name: dns.name.Name) -> dns.node.Node | None:
        """The wildcard node that synthesizes `name` (RFC 4592: ``*.<closest encloser>``)."""
        encloser = name.parent()
        while encloser not in served.names:
            if encloser == served.origin or encloser == dns.name.root:
                return None
            encloser = encloser.parent()
        return served.zone.get_node(dns.name.Name((b"*",)).concatenate(encloser))

    @staticmethod
    def _add_soa(response: dns.message.Message, served: _ServedZone) -> None:
        soa = served.soa()
        if soa is not None:
            response.authority.append(soa)


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))


def _wire(response: dns.message.Message, max_size: int) -> bytes:
    """The response in wire format, truncated (TC set, sections emptied) when it does not fit."""
    try:
        if max_size == 0:
            raise dns.exception.TooBig  # a "truncate" fault: every UDP answer is cut
        return response.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        response.answer.clear()
        response.authority.clear()
        response.additional.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()


def _formerr(data: bytes) -> bytes | None:
    """A FORMERR reply echoing the id of an unparseable query, or None if even the id is missing."""
    if len(data) < 12:
        return None
    (query_id,) = struct.unpack("!H", data[:2])
    flags = dns.flags.QR | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", query_id, flags, 0, 0, 0, 0)


def _reply(authority: Authority, data: bytes, max_size: int | None) -> tuple[bytes | None, float]:
    """The bytes to send back for `data` (None: stay silent) and the delay first. Never raises."""
    try:
        query = dns.message.from_wire(data)
    except Exception:  # noqa: BLE001 - garbage is answered, never allowed to stop the server
        return _formerr(data), 0.0
    if query.flags & dns.flags.QR:
        return None, 0.0  # a response sent to us: ignore, as a server must
    fault = authority.fault_for(query)
    action = fault.action if fault is not None else None
    delay = fault.delay if fault is not None and action == "slow" else 0.0
    return _answer_bytes(authority, query, data, max_size, action), delay


def _answer_bytes(
    authority: Authority,
    query: dns.message.Message,
    data: bytes,
    max_size: int | None,
    action: FaultAction | None,
) -> bytes | None:
    try:
        if action == "garbage":
            # The right id, so the client reads it as the answer, then bytes that do not parse.
            return data[:2] + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\xff\xfe\x00garbage"
        response = authority.respond(query)
        if response is None:
            return None
        if action == "badid":
            response.id = (response.id + 1) & 0xFFFF
        if action == "truncate" and max_size is not None:
            return _wire(response, 0)
        if max_size is None:
            limit = 65535
        elif query.edns < 0:
            limit = 512
        else:
            limit = max(512, min(query.payload, MAX_UDP_PAYLOAD))
        return _wire(response, limit)
    except Exception:  # a bug here must cost one answer, not the server
        logger.debug("dns server failed to answer", exc_info=True)
        failure = dns.message.make_response(query)
        failure.set_rcode(dns.rcode.SERVFAIL)
        return failure.to_wire()


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        data, sock = self.request
        reply, delay = _reply(self.server.authority, data, max_size=MAX_UDP_PAYLOAD)
        if reply is None:
            return
        backlog = self.server.backlog
        if backlog is not None:
            backlog.take(sock, reply, self.client_address)
            return
        if delay <= 0:
            sock.sendto(reply, self.client_address)
            return
        # The UDP server answers in one thread: a slow answer waits in a timer, not in it.
        slots = self.server.slow_slots
        if not slots.acquire(blocking=False):
            return
        address = self.client_address

        def send_late() -> None:
            try:
                sock.sendto(reply, address)
            except OSError:
                pass  # the server closed meanwhile
            finally:
                slots.release()

        timer = threading.Timer(delay, send_late)
        timer.daemon = True
        timer.start()


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(TCP_IDLE_TIMEOUT)
        for _ in range(MAX_TCP_MESSAGES):
            header = _read_exactly(sock, 2)
            if header is None:
                return
            (length,) = struct.unpack("!H", header)
            data = _read_exactly(sock, length)
            if data is None:
                return
            reply, delay = _reply(self.server.authority, data, max_size=None)
            if reply is None:
                continue
            if delay > 0:
                time.sleep(delay)
            sock.sendall(struct.pack("!H", len(reply)) + reply)


def _read_exactly(sock: socket.socket, count: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = count
    while remaining:
        try:
            chunk = sock.recv(remaining)
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _UDPServer(socketserver.UDPServer):
    max_packet_size = 65535

    def __init__(
        self, address: tuple[str, int], authority: Authority, backlog: _Backlog | None = None
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.authority = authority
        self.slow_slots = threading.BoundedSemaphore(MAX_SLOW_PENDING)
        self.backlog = backlog
        super().__init__(address, _UDPHandler)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], authority: Authority) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.authority = authority
        # Bounded: a flood of TCP clients gets closed sockets, not a thread each.
        self._slots = threading.BoundedSemaphore(MAX_TCP_CONNECTIONS)
        super().__init__(address, _TCPHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class ZoneServer:
    """A real UDP and TCP DNS server thread answering authoritatively from the zones it holds.

    Used as a context manager: ``with ZoneServer(zones) as server: make_resolver(server.host,
    server.port)``. Port 0 picks a free port, the same for UDP and TCP. `faults` make chosen
    names answer SERVFAIL, REFUSED or NXDOMAIN, or never answer, for negative tests; `capacity`
    makes its UDP side a busy server that drops what it has no room for. NS records below a
    zone's origin delegate that part of it: questions there get a referral, as a server that
    does not recurse sends one (a lame delegation given as --nameserver).
    """

    def __init__(
        self,
        zones: Sequence[dns.zone.Zone],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Sequence[Fault] = (),
        capacity: Capacity | None = None,
    ) -> None:
        self.authority = Authority(zones, faults)
        self.capacity = capacity
        self._backlog: _Backlog | None = None
        self.host = host
        self.port = port
        self._requested_port = port
        self._udp: _UDPServer | None = None
        self._tcp: _TCPServer | None = None
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_directory(cls, path: Path, **kw: Any) -> ZoneServer:
        """A server for every ``*.zone`` file in `path`; the origin is the file name or $ORIGIN."""
        return cls(load_zones(path), **kw)

    def __enter__(self) -> Self:
        if self.capacity is not None:
            self._backlog = _Backlog(self.capacity)
            self._backlog.thread.start()
        udp, tcp = self._bind()
        for server in (udp, tcp):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sovscan-dns-{type(server).__name__}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()
        if self._backlog is not None:
            self._backlog.stop()
            self._backlog = None
        self._udp = self._tcp = None

    def _bind(self) -> tuple[_UDPServer, _TCPServer]:
        # UDP first; TCP must then get the same port, which another process may hold: retry.
        last_error: OSError | None = None
        for _ in range(20):
            udp = _UDPServer((self.host, self._requested_port), self.authority, self._backlog)
            port = udp.server_address[1]
            try:
                tcp = _TCPServer((self.host, port), self.authority)
            except OSError as exc:
                udp.server_close()
                last_error = exc
                if self._requested_port:
                    break
                continue
            self._udp, self._tcp, self.port = udp, tcp, int(port)
            return udp, tcp
        raise OSError(f"cannot bind a DNS server on {self.host}: {last_error}")


def load_zones(path: Path) -> list[dns.zone.Zone]:
    """Every ``*.zone`` file in `path`, sorted by name; the origin is $ORIGIN or the file name."""
    zones: list[dns.zone.Zone] = []
    for file in sorted(path.glob("*.zone")):
        text = file.read_bytes()
        origin = None if _ORIGIN_LINE.search(text) else file.name.removesuffix(".zone") + "."
        try:
            zone = dns.zone.from_text(text.decode("utf-8"), origin=origin, relativize=False)
        except (UnicodeDecodeError, dns.exception.DNSException) as exc:
            raise ValueError(f"{file}: not a valid zone file: {exc}") from None
        zones.append(zone)
    return zones


def make_resolver(
    nameserver: str, port: int = 53, *, timeout: float = 2.0, lifetime: float = 5.0
) -> dns.resolver.Resolver:
    """A stub resolver that asks only `nameserver`, ignoring the system's configuration."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    # EDNS with a 1232-byte buffer (the DNS flag day 2020 value): larger answers go over TCP.
    resolver.use_edns(0, 0, 1232)
    resolver.cache = dns.resolver.LRUCache(10_000)
    return resolver
