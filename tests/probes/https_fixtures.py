"""A real HTTPS server on 127.0.0.1 with a test CA, and DNS zones that point names at it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import dns.resolver
import dns.zone
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sovscan.dnsserver import ZoneServer, make_resolver

NAMES = (
    "lms.saas.test",
    "internal.saas.test",
    "login.microsoftonline.com",
    "localhost",
)


@dataclass(frozen=True)
class Route:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw: bytes | None = None  # sent as is instead of a status line and headers


@dataclass
class LocalCa:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_ca(directory: Path, names: Sequence[str] = NAMES) -> LocalCa:
    """A CA and a leaf certificate for `names` (and 127.0.0.1), written as PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sovscan tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, "sovscan test CA"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca = LocalCa(directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key")
    ca.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca


@dataclass
class HttpsServer:
    """Serves `routes` (path -> Route) over TLS; records the requests it saw."""

    ca: LocalCa
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (host header, path)
    port: int = 0

    def __enter__(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append((self.headers.get("Host", ""), self.path))
                route = server.routes.get(self.path.split("?", 1)[0], Route(404))
                if route.raw is not None:
                    self.wfile.write(route.raw)
                    self.close_connection = True
                    return
                self.send_response_only(route.status)  # no Server or Date of http.server's own
                for name, value in route.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *_: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca.cert_file, self.ca.key_file)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, host: str, path: str = "/") -> str:
        return f"https://{host}:{self.port}{path}"


@dataclass
class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says a word (no TLS handshake)."""

    port: int = 0
    held: list[socket.socket] = field(default_factory=list)

    def __enter__(self) -> Self:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                self.held.append(self._listener.accept()[0])
            except OSError:
                continue

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self.held:
            conn.close()
        self._listener.close()


@dataclass
class DripServer:
    """TLS on 127.0.0.1 that sends `first`, then `more` again and again (every `pause` s)
    until the client goes away: a slow drip, or with no pause an endless flood."""

    ca: LocalCa
    first: bytes
    more: bytes
    pause: float = 0.05
    port: int = 0
    sent: int = 0

    def __enter__(self) -> Self:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca.cert_file, self.ca.key_file)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(context,), daemon=True)
        self._thread.start()
        return self

    def _serve(self, context: ssl.SSLContext) -> None:
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()[0]
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(self.first)
                    while not self._stop.is_set():
                        tls.sendall(self.more)
                        self.sent += 1
                        if self.pause:
                            time.sleep(self.pause)
            except OSError:
                continue

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


def zones() -> list[dns.zone.Zone]:
    """saas.test and microsoftonline.com, every name on 127.0.0.1."""

    def zone(origin: str, records: str) -> dns.zone.Zone:
        text = (
            "$TTL 300\n"
            f"@ SOA ns1.{origin}. hostmaster.{origin}. 1 3600 600 604800 300\n"
            f"@ NS ns1.{origin}.\nns1 A 127.0.0.1\n" + records
        )
        return dns.zone.from_text(text, origin=origin, relativize=True)

    return [
        zone("saas.test", "lms A 127.0.0.1\ninternal A 127.0.0.1\nwww CNAME lms\n"),
        zone("microsoftonline.com", "login A 127.0.0.1\n"),
        zone("universite.test", "@ MX 10 mx.universite.test.\nmx A 192.0.2.25\n"),
        zone("faculte.test", "@ MX 10 mx.faculte.test.\nmx A 192.0.2.26\n"),
        zone("autre.test", "@ MX 10 mx.autre.test.\nmx A 192.0.2.27\n"),
    ]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def resolver() -> Iterator[dns.resolver.Resolver]:
    """Asks a loopback DNS server serving `zones()`."""
    with ZoneServer(zones()) as server:
        yield make_resolver(server.host, server.port, timeout=0.5, lifetime=1.0)


@pytest.fixture
def server(ca: LocalCa) -> Iterator[HttpsServer]:
    with HttpsServer(ca) as running:
        yield running
