"""A small, bounded HTTPS reader: one GET, the response head only, redirects capped.

sovscan asks an endpoint who serves it (CDN and vendor headers, the TLS certificate); it never
needs a body, so it reads at most `MAX_HEAD` bytes of the response head and closes. Addresses come
from the scan's own resolver (the one the DNS probe uses), never the system's. A redirect is
followed only to https, at most `max_redirects` times, never back to a URL already seen, and not
to a private, loopback or link-local address unless the inventory allows it: a hostile endpoint
must not turn the scanner against the network it runs in.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from sovscan import __version__
from sovscan.bounds import bounded

MAX_HEAD = 32 * 1024
"""Bytes of status line and headers read at most; a larger head is cut and marked."""
MAX_HEADERS = 100
MAX_SANS = 32
MAX_VALUE = 200

SIGNAL_HEADERS = (
    "server",
    "via",
    "x-cache",
    "x-amz-cf-pop",
    "x-amz-cf-id",
    "x-amz-apigw-id",
    "x-amzn-requestid",
    "cf-ray",
    "cf-cache-status",
    "x-azure-ref",
    "x-msedge-ref",
    "x-ms-request-id",
    "x-served-by",
    "x-fastly-request-id",
    "x-akamai-transformed",
    "akamai-grn",
    "x-guploader-uploadid",
    "x-cloud-trace-context",
    "x-vercel-id",
    "x-github-request-id",
    "x-powered-by",
)
"""Response headers that name a CDN, a cloud front door or a vendor. Nothing else is kept:
cookies and other headers can carry session tokens."""

Resolve = Callable[[str], Sequence[str]]
"""Host name -> its addresses, from the scan's resolver; raises HttpsError when it cannot tell."""


class HttpsError(Exception):
    """Why an endpoint could not be read; the message is one line, safe to report."""


@dataclass(frozen=True, slots=True)
class HttpsOptions:
    """How far a read may go (the inventory's [https] table)."""

    timeout: float = 5.0  # seconds for one whole hop: connect, handshake, request, head
    max_redirects: int = 3
    allow_private_redirects: bool = False
    ca_file: Path | None = None  # extra trust anchors, e.g. a TLS-inspecting proxy's CA


@dataclass(frozen=True, slots=True)
class HttpsView:
    """What an endpoint showed: the last response's head and certificate, and the way there."""

    url: str  # the URL that gave the last response
    address: str  # the address it came from
    status: int
    redirects: tuple[str, ...]  # URLs followed, in order
    headers: tuple[tuple[str, str], ...]  # signal headers only, lower-case names, bounded
    tls_issuer: str
    tls_subject: str
    tls_sans: tuple[str, ...]
    stopped: str | None = None  # why a redirect was not followed, when one was not
    body: bytes = b""  # only when asked for, at most the limit asked


def read_endpoint(
    url: str, resolve: Resolve, options: HttpsOptions, *, body_limit: int = 0
) -> HttpsView:
    """GET `url` and follow redirects within `options`; raises HttpsError with a reason.

    With `body_limit`, the last response's body is read too (HTTP/1.0, so never chunked); a
    longer body is an error, not a truncated document.
    """
    context = _tls_context(options.ca_file)
    seen = {url}
    redirects: list[str] = []
    current = url
    while True:
        view = _one_hop(current, resolve, options, context, body_limit)
        location = view.redirect_to
        if location is None:
            return view.result(tuple(redirects), None)
        target = urljoin(current, location)
        stop = _refuse_redirect(target, seen, len(redirects), options, resolve)
        if stop is not None:
            return view.result(tuple(redirects), stop)
        seen.add(target)
        redirects.append(bounded(target, MAX_VALUE))
        current = target


@dataclass(frozen=True, slots=True)
class _Hop:
    url: str
    address: str
    status: int
    headers: tuple[tuple[str, str], ...]
    redirect_to: str | None
    cert: Mapping[str, object]
    body: bytes

    def result(self, redirects: tuple[str, ...], stopped: str | None) -> HttpsView:
        issuer, subject, sans = _certificate(self.cert)
        return HttpsView(
            bounded(self.url, MAX_VALUE),
            self.address,
            self.status,
            redirects,
            self.headers,
            issuer,
            subject,
            sans,
            stopped,
            self.body,
        )


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise HttpsError(f"cannot load the CA file {ca_file}: {exc}") from None
    return context


def _one_hop(
    url: str, resolve: Resolve, options: HttpsOptions, context: ssl.SSLContext, body_limit: int
) -> _Hop:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https" or not host:
        raise HttpsError(f"not an https URL: {bounded(url, MAX_VALUE)}")
    try:
        port = parts.port or 443
    except ValueError:
        raise HttpsError(f"bad port in {bounded(url, MAX_VALUE)}") from None
    deadline = time.monotonic() + options.timeout
    addresses = _addresses(host, resolve)
    sock, address = _connect(host, addresses, port, deadline)
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            tls.settimeout(_left(deadline))
            cert = tls.getpeercert() or {}
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            tls.sendall(_request(host, port, target, "1.0" if body_limit else "1.1"))
            head, body = _read_response(tls, deadline, body_limit)
    except ssl.SSLCertVerificationError as exc:
        raise HttpsError(f"TLS certificate of {host} not trusted: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise HttpsError(f"TLS handshake with {host} failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise HttpsError(f"{host} did not answer within {options.timeout:g}s") from None
    except OSError as exc:
        raise HttpsError(f"{host}: {exc.strerror or type(exc).__name__}") from None
    finally:
        sock.close()
    status, headers, location = _parse_head(head, host)
    if len(body) > body_limit:
        raise HttpsError(f"{host} sent a body larger than {body_limit} bytes")
    return _Hop(url, address, status, headers, location, cert, body)


def _addresses(host: str, resolve: Resolve) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    found = list(resolve(host))
    if not found:
        raise HttpsError(f"{host} has no address")
    return found


def _public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _connect(
    host: str, addresses: Sequence[str], port: int, deadline: float
) -> tuple[socket.socket, str]:
    last = "no address"
    for address in addresses[:4]:
        try:
            return socket.create_connection((address, port), timeout=_left(deadline)), address
        except TimeoutError:
            last = f"{address}: timed out"
        except OSError as exc:
            last = f"{address}: {exc.strerror or type(exc).__name__}"
    raise HttpsError(f"cannot connect to {host} port {port} ({last})")


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _request(host: str, port: int, target: str, version: str) -> bytes:
    authority = host if port == 443 else f"{host}:{port}"
    return (
        f"GET {target} HTTP/{version}\r\nHost: {authority}\r\nUser-Agent: sovscan/{__version__}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


def _read_response(tls: ssl.SSLSocket, deadline: float, body_limit: int) -> tuple[bytes, bytes]:
    """The head (up to the blank line, at most MAX_HEAD bytes) and, when asked, up to
    `body_limit` + 1 bytes of body, all within the deadline."""
    data = bytearray()
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        tls.settimeout(_left(deadline))
        chunk = _recv(tls)
        if not chunk:
            break
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    if not body_limit:
        return head[:MAX_HEAD], b""
    rest = bytearray(body)
    while len(rest) <= body_limit:
        tls.settimeout(_left(deadline))
        chunk = _recv(tls)
        if not chunk:
            break
        rest += chunk
    return head[:MAX_HEAD], bytes(rest)


def _recv(tls: ssl.SSLSocket) -> bytes:
    try:
        return tls.recv(4096)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return b""  # many servers close without TLS close_notify: that is still the end


def _parse_head(head: bytes, host: str) -> tuple[int, tuple[tuple[str, str], ...], str | None]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise HttpsError(f"{host} did not answer HTTP")
    try:
        status = int(status_line[1])
    except ValueError:
        raise HttpsError(f"{host} sent a bad status line") from None
    kept: list[tuple[str, str]] = []
    location = None
    for line in lines[1 : 1 + MAX_HEADERS]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        value = value.strip()
        if name == "location" and 300 <= status < 400:
            location = value[:2048]
        elif name in SIGNAL_HEADERS and len(kept) < len(SIGNAL_HEADERS) * 2:
            kept.append((name, bounded(value, MAX_VALUE)))
    return status, tuple(kept), location


def _refuse_redirect(
    target: str, seen: set[str], followed: int, options: HttpsOptions, resolve: Resolve
) -> str | None:
    """Why the redirect to `target` is not followed, or None to follow it."""
    shown = bounded(target, MAX_VALUE)
    if urlsplit(target).scheme != "https":
        return f"redirect to {shown} not followed: not https"
    if target in seen:
        return f"redirect to {shown} not followed: a loop"
    if followed >= options.max_redirects:
        return f"redirect to {shown} not followed: more than {options.max_redirects} redirects"
    if not options.allow_private_redirects:
        host = (urlsplit(target).hostname or "").rstrip(".").lower()
        try:
            addresses = _addresses(host, resolve)
        except HttpsError as exc:
            return f"redirect to {shown} not followed: {exc}"
        private = next((a for a in addresses if not _public(a)), None)
        if private is not None:
            return f"redirect to {shown} not followed: {private} is not a public address"
    return None


def _certificate(cert: Mapping[str, object]) -> tuple[str, str, tuple[str, ...]]:
    """(issuer, subject, SANs) of a verified certificate, as `getpeercert()` gives it."""
    return _name(cert.get("issuer")), _name(cert.get("subject")), _sans(cert.get("subjectAltName"))


def _name(value: object) -> str:
    rdns = value if isinstance(value, tuple) else ()
    pairs = [pair for rdn in rdns if isinstance(rdn, tuple) for pair in rdn]
    parts = [
        f"{_NAME_KEYS[pair[0]]}={pair[1]}"
        for pair in pairs
        if isinstance(pair, tuple) and len(pair) == 2 and pair[0] in _NAME_KEYS
    ]
    return bounded(", ".join(parts), MAX_VALUE)


_NAME_KEYS = {"commonName": "CN", "organizationName": "O", "countryName": "C"}


def _sans(value: object) -> tuple[str, ...]:
    if not isinstance(value, tuple):
        return ()
    names = [
        bounded(str(entry[1]).lower(), 253)
        for entry in value
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == "DNS"
    ]
    return tuple(names[:MAX_SANS])
