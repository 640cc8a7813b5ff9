"""Loopback servers that misbehave on purpose: a hostile DNS server and a faulty HTTP server.

Both bind 127.0.0.1 only, run in daemon threads and are used as context managers.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

# --------------------------------------------------------------------------------------- DNS


@dataclass
class Reply:
    """What the hostile server does with one query."""

    wire: bytes | None  # None: never answer
    delay: float = 0.0


Behaviour = Callable[[dns.message.Message, bytes, bool], Reply | None]
"""(query, raw query bytes, over TCP) -> a Reply, or None to answer from the records."""


def txt_rdata(*strings: bytes) -> dns.rdata.Rdata:
    """A TXT record from raw byte strings (any byte: NUL, ESC, invalid UTF-8)."""
    wire = b"".join(bytes([len(s)]) + s for s in strings)
    return dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, wire, 0, len(wire))


def txt(text: str | bytes) -> dns.rdata.Rdata:
    """A TXT record holding `text`, split in 255-byte strings as a long SPF record is."""
    data = text.encode() if isinstance(text, str) else text
    return txt_rdata(*[data[i : i + 255] for i in range(0, len(data), 255)] or [b""])


def rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


@dataclass
class HostileZone:
    """Records by (name, type); names not listed under an apex answer NXDOMAIN."""

    apexes: tuple[str, ...]
    records: dict[tuple[str, str], list[dns.rdata.Rdata]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._apexes = {a.lower().rstrip(".") + "." for a in self.apexes}
        self.names |= self._apexes

    def add(self, name: str, rdtype: str, *values: str | dns.rdata.Rdata) -> HostileZone:
        key = (name.lower().rstrip(".") + ".", rdtype)
        items = [rdata(rdtype, v) if isinstance(v, str) else v for v in values]
        self.records.setdefault(key, []).extend(items)
        self.names.add(key[0])
        return self

    def exists(self, name: str) -> bool:
        return name in self.names

    def apex_of(self, name: str) -> str | None:
        labels = name.split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self._apexes:
                return candidate
        return None

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        seen: set[str] = set()
        for _ in range(40):  # the server follows CNAMEs a bounded number of times
            found = self.records.get((name, rdtype))
            if found:
                response.answer.append(_rrset(name, rdtype, found))
                return response
            alias = self.records.get((name, "CNAME"))
            if alias and rdtype != "CNAME":
                response.answer.append(_rrset(name, "CNAME", alias))
                name = alias[0].to_text().lower()
                if name in seen:
                    return response
                seen.add(name)
                continue
            break
        if not self.exists(name) and not response.answer:
            response.set_rcode(dns.rcode.NXDOMAIN)
        apex = self.apex_of(name)
        if apex is not None:
            soa = rdata("SOA", f"ns1.{apex} hostmaster.{apex} 1 3600 600 604800 60")
            response.authority.append(_rrset(apex, "SOA", [soa]))
        return response


def _rrset(name: str, rdtype: str, items: list[dns.rdata.Rdata]) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(
        dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
    )
    rrset.update_ttl(60)
    for item in items:
        rrset.add(item)
    return rrset


class HostileDnsServer:
    """UDP and TCP on one loopback port; `behaviour` decides each answer before the records do."""

    def __init__(self, zone: HostileZone, behaviour: Behaviour | None = None) -> None:
        self.zone = zone
        self.behaviour = behaviour
        self.queries: list[tuple[str, str, bool]] = []  # (name, type, tcp)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for _ in range(20):
            self.udp.bind(("127.0.0.1", 0))
            self.port = int(self.udp.getsockname()[1])
            try:
                self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp.listen(16)
        self.host = "127.0.0.1"

    def __enter__(self) -> Self:
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.udp.close()
        self.tcp.close()

    def _reply(self, data: bytes, tcp: bool) -> Reply:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:  # a malformed query gets no answer
            return Reply(None)
        question = query.question[0]
        with self._lock:
            self.queries.append(
                (question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype), tcp)
            )
        if self.behaviour is not None:
            decided = self.behaviour(query, data, tcp)
            if decided is not None:
                return decided
        response = self.zone.answer(query)
        size = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
        try:
            return Reply(response.to_wire(max_size=size))
        except dns.exception.TooBig:
            response = dns.message.make_response(query)
            response.flags |= dns.flags.TC
            return Reply(response.to_wire())

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.udp], [], [], 0.05)
            if not ready:
                continue
            try:
                data, client = self.udp.recvfrom(65535)
            except OSError:
                return
            reply = self._reply(data, tcp=False)
            if reply.wire is None:
                continue
            if reply.delay:
                timer = threading.Timer(reply.delay, self._send_late, (reply.wire, client))
                timer.daemon = True
                timer.start()
            else:
                self._send_late(reply.wire, client)

    def _send_late(self, wire: bytes, client: Any) -> None:
        with contextlib.suppress(OSError):
            self.udp.sendto(wire, client)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.tcp], [], [], 0.05)
            if not ready:
                continue
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_client, args=(conn,), daemon=True).start()

    def _tcp_client(self, conn: socket.socket) -> None:
        conn.settimeout(3.0)
        with contextlib.closing(conn):
            try:
                header = conn.recv(2)
                if len(header) < 2:
                    return
                (length,) = struct.unpack("!H", header)
                data = b""
                while len(data) < length:
                    chunk = conn.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                reply = self._reply(data, tcp=True)
                if reply.wire is None:
                    self._stop.wait(3.0)
                    return
                if reply.delay:
                    self._stop.wait(reply.delay)
                conn.sendall(struct.pack("!H", len(reply.wire)) + reply.wire)
            except OSError:
                return


# -------------------------------------------------------------------------------------- HTTP

HttpBehaviour = Callable[[BaseHTTPRequestHandler], None]


class FaultyHttpServer:
    """A loopback HTTP server whose every GET is answered by `behaviour(handler)`."""

    def __init__(self, behaviour: HttpBehaviour) -> None:
        owner = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                with contextlib.suppress(OSError):
                    behaviour(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "application/rdap+json",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def trickle(handler: BaseHTTPRequestHandler, total: int, every: float, stop_after: float) -> None:
    """A 200 whose body arrives one byte every `every` seconds (for at most `stop_after`)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rdap+json")
    handler.send_header("Content-Length", str(total))
    handler.end_headers()
    deadline = time.monotonic() + stop_after
    for _ in range(total):
        if time.monotonic() > deadline:
            return
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(every)
