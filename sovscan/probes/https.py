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
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import dns.exception
import dns.name

from sovscan import __version__
from sovscan.bounds import bounded
from sovscan.urls import without_secrets

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
    """What an endpoint showed: the last response's head and certificate, and the way there.

    URLs are shown without user information, query, fragment or path parameters: those can
    carry tokens (pre-signed links, SSO codes, session ids).
    """

    url: str  # the URL that gave the last response (shown form)
    host: str  # its host (ASCII)
    address: str  # the address it came from
    status: int
    redirects: tuple[str, ...]  # URLs followed, in order (shown form)
    headers: tuple[tuple[str, str], ...]  # signal headers only, lower-case names, bounded
    tls_issuer: str
    tls_subject: str
    tls_sans: tuple[str, ...]
    stopped: str | None = None  # why a redirect was not followed, when one was not
    incomplete: bool = False  # the redirect was not followed because it could not be checked
    body: bytes = b""  # only when asked for, at most the limit asked


def read_endpoint(
    url: str, resolve: Resolve, options: HttpsOptions, *, body_limit: int = 0
) -> HttpsView:
    """GET `url` and follow redirects within `options`; raises HttpsError with a reason.

    The inventory's own host is fetched wherever it points (the inventory chose it), also
    after a redirect back to it; any other redirect target is resolved once, checked, and
    connected to at exactly the checked addresses. With `body_limit`, the last response's
    body is read too (HTTP/1.0, so never chunked); a longer body is an error, not a truncated
    document.
    """
    context = _tls_context(options.ca_file)
    target = home = _Target.parse(url)
    addresses = home_addresses = _addresses(target.host, resolve)
    seen = {target.key}
    redirects: list[str] = []
    while True:
        hop = _one_hop(target, addresses, options, context, body_limit)
        if hop.redirect_to is None:
            return hop.result(tuple(redirects))
        try:
            following = _Target.parse(urljoin(target.url, hop.redirect_to))
        except ValueError:  # urljoin itself refuses some malformed URLs
            return hop.result(tuple(redirects), "redirect not followed: a malformed URL")
        except HttpsError as exc:
            return hop.result(tuple(redirects), f"redirect not followed: {exc}")
        shown = following.shown
        if following.scheme != "https":
            return hop.result(tuple(redirects), f"redirect to {shown} not followed: not https")
        if following.key in seen:
            return hop.result(tuple(redirects), f"redirect to {shown} not followed: a loop")
        if len(redirects) >= options.max_redirects:
            why = f"more than {options.max_redirects} redirects"
            return hop.result(tuple(redirects), f"redirect to {shown} not followed: {why}")
        if following.host == home.host:
            addresses = home_addresses  # the inventory's own host, as first resolved
            private = None
        else:
            try:
                addresses = _addresses(following.host, resolve)
            except HttpsError as exc:
                stop = f"redirect to {shown} not followed: {exc}"
                return hop.result(tuple(redirects), stop, incomplete=True)
            private = next((a for a in addresses if not public_address(a)), None)
        if private is not None and not options.allow_private_redirects:
            stop = f"redirect to {shown} not followed: {private} is not a public address"
            return hop.result(tuple(redirects), stop)
        seen.add(following.key)
        redirects.append(shown)
        target = following


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA), lower case, no final dot
    port: int
    path: str  # what is sent: path and query
    url: str  # the full URL, for resolving relative redirects; never reported
    shown: str  # what may be reported

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.host, self.port, self.path)

    @classmethod
    def parse(cls, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            raw_host = (parts.hostname or "").rstrip(".")
            port = parts.port
        except ValueError:
            raise HttpsError("a malformed URL") from None
        if not raw_host:
            raise HttpsError("a URL without a host")
        host = _ascii_host(raw_host)
        scheme = parts.scheme.lower()
        port = port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if any(c in path for c in "\r\n\0 ") or len(path) > 2048:
            raise HttpsError("a URL path that cannot be sent")
        authority = host if port in (443, 80) else f"{host}:{port}"
        if ":" in host:
            authority = f"[{host}]" if port in (443, 80) else f"[{host}]:{port}"
        shown = bounded(f"{scheme}://{authority}{path.split(';', 1)[0]}", MAX_VALUE)
        sent = path + ("?" + parts.query if parts.query else "")
        return cls(scheme, host, port, sent, url, shown)


def shown_url(url: str) -> str:
    """`url` as it may be reported: no user information, query, fragment or path parameters,
    which can carry tokens (an inventory's SSO link, a pre-signed URL)."""
    try:
        return _Target.parse(url).shown
    except HttpsError:
        return bounded(without_secrets(url), MAX_VALUE)


def _ascii_host(host: str) -> str:
    """One ASCII form of a host name for DNS, SNI and the Host header alike."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return dns.name.from_text(host).to_text(omit_final_dot=True).lower()
    except dns.exception.DNSException:
        raise HttpsError(f"an invalid host name {bounded(host, 80)!r}") from None


@dataclass(frozen=True, slots=True)
class _Hop:
    target: _Target
    address: str
    status: int
    headers: tuple[tuple[str, str], ...]
    redirect_to: str | None
    cert: Mapping[str, object]
    body: bytes

    def result(
        self, redirects: tuple[str, ...], stopped: str | None = None, *, incomplete: bool = False
    ) -> HttpsView:
        issuer, subject, sans = _certificate(self.cert)
        return HttpsView(
            self.target.shown,
            self.target.host,
            self.address,
            self.status,
            redirects,
            self.headers,
            issuer,
            subject,
            sans,
            stopped,
            incomplete,
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
    target: _Target,
    addresses: Sequence[str],
    options: HttpsOptions,
    context: ssl.SSLContext,
    body_limit: int,
) -> _Hop:
    host = target.host
    if target.scheme != "https":
        raise HttpsError(f"not an https URL: {target.shown}")
    deadline = time.monotonic() + options.timeout
    sock, address = _connect(host, addresses, target.port, deadline)
    try:
        sock.settimeout(_left(deadline))
        with context.wrap_socket(sock, server_hostname=host) as tls:
            tls.settimeout(_left(deadline))
            cert = tls.getpeercert() or {}
            version = "1.0" if body_limit else "1.1"
            tls.sendall(_request(host, target.port, target.path, version))
            head, ended, body = _read_response(tls, deadline, body_limit)
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
    if not ended:
        raise HttpsError(f"{host} closed the connection before the end of its response head")
    status, headers, location = _parse_head(head, host)
    if len(body) > body_limit:
        raise HttpsError(f"{host} sent a body larger than {body_limit} bytes")
    return _Hop(target, address, status, headers, location, cert, body)


def _addresses(host: str, resolve: Resolve) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    found = list(resolve(host))
    if not found:
        raise HttpsError(f"{host} has no address")
    return found


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


def public_address(address: str) -> bool:
    """Whether `address` is globally routable, looking inside IPv6 forms that carry an IPv4
    address (mapped, 6to4, NAT64, compatible), which `is_global` alone takes at face value."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and (ip in _NAT64 or ip in _COMPATIBLE):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and not inner.is_global:
            return False
    return ip.is_global


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


_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")


def _read_response(
    tls: ssl.SSLSocket, deadline: float, body_limit: int
) -> tuple[bytes, bool, bytes]:
    """(head, whether the head ended, body): the head up to its blank line, at most MAX_HEAD
    bytes, and when asked up to `body_limit` + 1 bytes of body, all within the deadline."""
    data = bytearray()
    end = None
    while len(data) < MAX_HEAD:
        tls.settimeout(_left(deadline))
        chunk = _recv(tls)
        if not chunk:
            break
        data += chunk
        end = _END_OF_HEAD.search(data)
        if end is not None:
            break
    if end is None:
        return bytes(data[:MAX_HEAD]), len(data) >= MAX_HEAD, b""
    head, body = bytes(data[: end.start()]), bytes(data[end.end() :])
    if not body_limit:
        return head, True, b""
    rest = bytearray(body)
    while len(rest) <= body_limit:
        tls.settimeout(_left(deadline))
        chunk = _recv(tls)
        if not chunk:
            break
        rest += chunk
    return head, True, bytes(rest)


def _recv(tls: ssl.SSLSocket) -> bytes:
    try:
        return tls.recv(4096)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return b""  # many servers close without TLS close_notify: that is still the end


def _parse_head(head: bytes, host: str) -> tuple[int, tuple[tuple[str, str], ...], str | None]:
    lines = [line.rstrip("\r") for line in head.decode("latin-1").split("\n")]
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
        if not sep or not name or name != name.strip():
            continue  # folded continuation lines and `Name :` are not headers (RFC 9112 5.1)
        name = name.lower()
        value = value.strip()
        if name == "location":
            if 300 <= status < 400 and location is None:
                location = value[:2048]
        elif name in SIGNAL_HEADERS and len(kept) < len(SIGNAL_HEADERS) * 2:
            kept.append((name, bounded(value, MAX_VALUE)))
    return status, tuple(kept), location


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
