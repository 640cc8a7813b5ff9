"""SaaS endpoints over real HTTPS on 127.0.0.1 (a test CA, names from a loopback DNS server):
vendor headers and certificates, capped redirects, private targets refused, failures as gaps."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dns.resolver
import pytest

import sovscan.probes.https as https_module
from sovscan.config import SaasEndpoint
from sovscan.model import Asset, Gap, Method
from sovscan.probes.https import MAX_HEAD, HttpsOptions, public_address, read_endpoint
from sovscan.probes.saas import SaasProbe
from sovscan.resolve import load_knowledge
from sovscan.resolve.resolver import resolve
from tests.probes.https_fixtures import (
    DripServer,
    HttpsServer,
    LocalCa,
    Route,
    SilentServer,
    ca,
    resolver,
    server,
)

__all__ = ["ca", "resolver", "server"]

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CDN = (
    ("Server", "cloudflare"),
    ("CF-Ray", "8f1e2d3c4b5a6978-YUL"),
    ("Set-Cookie", "session=plntd-cookie-secret; Secure"),
    ("X-Frame-Options", "DENY"),
)


def options(ca: LocalCa, **changes: object) -> HttpsOptions:
    return replace(HttpsOptions(timeout=2.0, ca_file=ca.ca_file), **changes)  # type: ignore[arg-type]


def probe(
    resolver: dns.resolver.Resolver, url: str, https: HttpsOptions | None
) -> tuple[list[Asset], list[Gap]]:
    endpoint = SaasEndpoint("LMS", url, "personal")
    items = list(SaasProbe((endpoint,), resolver, clock=lambda: NOW, https=https).collect())
    return (
        [i for i in items if isinstance(i, Asset)],
        [i for i in items if isinstance(i, Gap)],
    )


def test_cdn_headers_and_certificate_are_read_and_cookies_are_not(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/login"] = Route(200, CDN)
    (asset,), gaps = probe(resolver, server.url("lms.saas.test", "/login"), options(ca))
    assert gaps == []
    attributes = asset.attributes
    assert attributes["https_status"] == 200
    assert attributes["https_headers"] == ("server: cloudflare", "cf-ray: 8f1e2d3c4b5a6978-YUL")
    assert attributes["tls_issuer"] == "O=sovscan tests, CN=sovscan test CA"
    assert "lms.saas.test" in attributes["tls_sans"]  # type: ignore[operator]
    assert "plntd-cookie-secret" not in repr(asset)
    (seen,) = [e for e in asset.evidence if e.source == "https:GET"]
    assert seen.detail.startswith(f"GET https://lms.saas.test:{server.port}/login -> 200 from ")
    assert server.requests == [(f"lms.saas.test:{server.port}", "/login")]


def test_https_is_off_unless_asked(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(200, CDN)
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), None)
    assert gaps == [] and "https_headers" not in asset.attributes
    assert server.requests == []


def test_cdn_headers_resolve_to_the_vendor_and_a_global_edge(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(200, CDN)
    (asset,), _ = probe(resolver, server.url("lms.saas.test"), options(ca))
    kb = load_knowledge()
    answer = resolve(asset, kb)
    assert answer.control.operator == kb.providers["cloudflare"].operator
    assert answer.control.jurisdictions == ("US",)
    assert answer.control.method is Method.CATALOGUE
    assert answer.location.edge is True
    assert answer.location.country is None
    assert "the origin is not seen" in answer.location.evidence[0].detail


def test_a_lookalike_header_value_is_not_the_vendor(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(200, (("Server", "cloudflare-imitation/1.0"),))
    (asset,), _ = probe(resolver, server.url("lms.saas.test"), options(ca))
    answer = resolve(asset, load_knowledge())
    assert answer.control.operator is None


def test_a_redirect_to_a_private_address_is_not_followed(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    inside = server.url("internal.saas.test", "/admin")
    server.routes["/"] = Route(302, (("Location", inside),))
    server.routes["/admin"] = Route(200, (("Server", "AmazonS3"),))
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert gaps == []
    assert asset.attributes["https_status"] == 302
    assert asset.attributes["https_redirects"] == ()
    (seen,) = [e for e in asset.evidence if e.source == "https:GET"]
    assert f"redirect to {inside} not followed: 127.0.0.1 is not a public address" in seen.detail
    assert [path for _, path in server.requests] == ["/"]


def test_the_inventory_may_allow_private_redirects(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    inside = server.url("internal.saas.test", "/admin")
    server.routes["/"] = Route(302, (("Location", inside),))
    server.routes["/admin"] = Route(200, (("Server", "AmazonS3"),))
    https = options(ca, allow_private_redirects=True)
    (asset,), _ = probe(resolver, server.url("lms.saas.test"), https)
    assert asset.attributes["https_status"] == 200
    assert asset.attributes["https_redirects"] == (inside,)
    # Another host's headers describe that host: kept, but not credited to this endpoint.
    assert asset.attributes["redirect_https_headers"] == ("server: AmazonS3",)
    assert "https_headers" not in asset.attributes
    assert resolve(asset, load_knowledge()).control.operator is None


@pytest.mark.parametrize(
    ("routes", "reason"),
    [
        ({"/": "/a", "/a": "/"}, "a loop"),
        ({"/": "/1", "/1": "/2", "/2": "/3", "/3": "/4", "/4": "/5"}, "more than 3 redirects"),
        ({"/": "http://lms.saas.test/"}, "not https"),
    ],
    ids=["loop", "cap", "downgrade"],
)
def test_redirects_stop_at_loops_caps_and_downgrades(
    resolver: dns.resolver.Resolver,
    server: HttpsServer,
    ca: LocalCa,
    routes: dict[str, str],
    reason: str,
) -> None:
    for path, target in routes.items():
        server.routes[path] = Route(302, (("Location", target),))
    https = options(ca, allow_private_redirects=True)
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), https)
    assert gaps == []
    (seen,) = [e for e in asset.evidence if e.source == "https:GET"]
    assert seen.detail.endswith(f"not followed: {reason}")
    assert len(server.requests) <= 4  # the first request and at most max_redirects more


def test_an_untrusted_certificate_is_a_gap_and_no_signal(
    resolver: dns.resolver.Resolver, server: HttpsServer
) -> None:
    server.routes["/"] = Route(200, CDN)
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), HttpsOptions(timeout=2.0))
    assert [g.scope for g in gaps] == ["https:lms.saas.test"]
    assert gaps[0].reason.startswith("TLS certificate of lms.saas.test not trusted")
    assert "https_headers" not in asset.attributes
    assert asset.attributes["addresses"] == ("127.0.0.1",)  # the DNS answer still stands


def test_an_endpoint_that_never_answers_is_a_gap(
    resolver: dns.resolver.Resolver, ca: LocalCa
) -> None:
    with SilentServer() as silent:
        url = f"https://lms.saas.test:{silent.port}/"
        _, gaps = probe(resolver, url, options(ca, timeout=0.5))
    assert gaps == [Gap("https:lms.saas.test", "lms.saas.test did not answer within 0.5s")]


def test_nothing_listening_is_a_gap(resolver: dns.resolver.Resolver, ca: LocalCa) -> None:
    with SilentServer() as closed:
        port = closed.port
    _, gaps = probe(resolver, f"https://lms.saas.test:{port}/", options(ca))
    assert len(gaps) == 1
    assert gaps[0].reason.startswith(f"cannot connect to lms.saas.test port {port} (127.0.0.1: ")


def test_a_huge_or_garbled_head_is_bounded(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    flood = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 900) for i in range(200))
    server.routes["/"] = Route(
        raw=b"HTTP/1.1 200 OK\r\nServer: " + b"\x1b[31m" + b"v" * 5000 + b"\r\n" + flood + b"\r\n"
    )
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert gaps == []
    (header,) = asset.attributes["https_headers"]  # type: ignore[misc]
    assert header.startswith("server: \x1b[31mvvv") and len(header) <= 8 + 200
    assert len(repr(asset)) < MAX_HEAD
    server.routes["/bad"] = Route(raw=b"\x16\x03garbage\r\n\r\n")
    _, gaps = probe(resolver, server.url("lms.saas.test", "/bad"), options(ca))
    assert gaps == [Gap("https:lms.saas.test", "lms.saas.test did not answer HTTP")]


def test_a_missing_ca_file_is_a_gap_not_a_crash(
    resolver: dns.resolver.Resolver, server: HttpsServer, tmp_path: Path
) -> None:
    https = HttpsOptions(ca_file=tmp_path / "nope.pem")
    _, gaps = probe(resolver, server.url("lms.saas.test"), https)
    assert len(gaps) == 1 and gaps[0].reason.startswith("cannot load the CA file")


def test_a_same_host_redirect_keeps_its_headers_for_the_endpoint(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(301, (("Location", "/home"),))
    server.routes["/home"] = Route(200, (("Server", "AmazonS3"),))
    (asset,), _ = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert asset.attributes["https_headers"] == ("server: AmazonS3",)
    assert asset.attributes["https_redirects"] == (server.url("lms.saas.test", "/home"),)


def test_urls_are_reported_without_their_secrets(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    signed = "/cb;jsessionid=plntd-session?code=plntd-code&X-Amz-Signature=plntd-sig#plntd-frag"
    server.routes["/"] = Route(302, (("Location", signed),))
    server.routes["/cb;jsessionid=plntd-session"] = Route(
        302, (("Location", "https://user:plntd-pass@10.1.2.3/x?token=plntd-token"),)
    )
    url = f"https://user:plntd-pass@lms.saas.test:{server.port}/?k=plntd-key"
    (asset,), gaps = probe(resolver, url, options(ca))
    reported = repr(asset.attributes) + repr(asset.evidence[-1]) + repr(gaps)
    assert "plntd-" not in reported.replace(f"{url!r}", "")  # only the inventory's own `url`
    assert asset.attributes["https_url"] == server.url("lms.saas.test", "/cb")
    assert asset.evidence[-1].detail.endswith(
        "redirect to https://10.1.2.3/x not followed: 10.1.2.3 is not a public address"
    )
    # What was sent is the real request, query and all.
    assert [path for _, path in server.requests] == [
        "/?k=plntd-key",
        "/cb;jsessionid=plntd-session?code=plntd-code&X-Amz-Signature=plntd-sig",
    ]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("https://[::1", "redirect not followed: a malformed URL"),
        ("https://[zz]/", "redirect not followed: a malformed URL"),
        ("https://:443/", "redirect not followed: a URL without a host"),
        ("https://10.0.0.1/", "10.0.0.1 is not a public address"),
        ("https://[::ffff:127.0.0.1]/", "::ffff:7f00:1 is not a public address"),
        ("https://[64:ff9b::a00:1]/", "64:ff9b::a00:1 is not a public address"),
        ("https://[2002:a00:1::]/", "2002:a00:1:: is not a public address"),
        ("https://lms.saas.test/a b", "redirect not followed: a URL path that cannot be sent"),
    ],
)
def test_hostile_redirects_are_stopped_with_a_reason(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa, location: str, reason: str
) -> None:
    server.routes["/"] = Route(302, (("Location", location),))
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert gaps == []
    assert asset.evidence[-1].detail.endswith(reason)
    assert len(server.requests) == 1


def test_a_redirect_whose_name_does_not_resolve_is_a_gap(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(302, (("Location", "https://missing.saas.test/"),))
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert asset.attributes["https_status"] == 302  # what was seen stays
    assert [g.scope for g in gaps] == ["https:lms.saas.test"]
    assert gaps[0].reason.startswith("redirect to https://missing.saas.test/ not followed: ")


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_a_redirect_target_is_resolved_once_and_connected_to_as_checked(
    server: HttpsServer, ca: LocalCa, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding name: public on the first question, loopback after. The check and the
    # connection must use the same answer, so the second answer is never asked for.
    asked: list[str] = []

    def rebinding(host: str) -> list[str]:
        asked.append(host)
        if host == "lms.saas.test":
            return ["127.0.0.1"]
        return ["192.0.2.80"] if asked.count(host) == 1 else ["127.0.0.1"]

    # 192.0.2.0/24 is documentation space, not global: let the check see it as public here.
    monkeypatch.setattr(https_module, "public_address", lambda address: address != "127.0.0.1")

    server.routes["/"] = Route(302, (("Location", "https://rebind.saas.test/admin"),))
    server.routes["/admin"] = Route(200, (("Server", "AmazonS3"),))
    https = options(ca, timeout=0.5)
    # The connection goes to the checked public address, which this sandbox refuses to reach
    # (pytest-socket raises), and never to the loopback answer a second question would get.
    with pytest.raises(RuntimeError, match=r"192\.0\.2\.80"):
        read_endpoint(server.url("lms.saas.test"), rebinding, https)
    assert asked == ["lms.saas.test", "rebind.saas.test"]
    assert [path for _, path in server.requests] == ["/"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
        ("::127.0.0.1", False),
        ("fe80::1", False),
        ("not an address", False),
    ],
)
def test_public_address(address: str, public: bool) -> None:
    assert public_address(address) is public


def test_a_head_that_never_ends_or_drips_is_cut_by_the_deadline(
    resolver: dns.resolver.Resolver, ca: LocalCa
) -> None:
    with DripServer(ca, b"HTTP/1.1 200 OK\r\nServer: cloudflare\r\n", b"X-Drip: 1\r\n") as drip:
        url = f"https://lms.saas.test:{drip.port}/"
        started = time.monotonic()
        _, gaps = probe(resolver, url, options(ca, timeout=1.0))
        spent = time.monotonic() - started
    assert gaps == [Gap("https:lms.saas.test", "lms.saas.test did not answer within 1s")]
    assert drip.sent > 10  # it kept talking; the deadline, not the server, ended the read
    assert spent < 10


def test_an_endless_head_is_read_only_up_to_the_bound(
    resolver: dns.resolver.Resolver, ca: LocalCa
) -> None:
    line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
    with DripServer(ca, b"HTTP/1.1 200 OK\r\nServer: cloudflare\r\n", line, pause=0) as flood:
        url = f"https://lms.saas.test:{flood.port}/"
        (asset,), gaps = probe(resolver, url, options(ca, timeout=5.0))
    assert gaps == []
    assert asset.attributes["https_headers"] == ("server: cloudflare",)
    # Without the bound the read would go on until the deadline and end in a time-out gap.


def test_folded_and_malformed_header_lines_are_not_headers(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(
        raw=b"HTTP/1.1 200 OK\nX-Note: a\n Server: cloudflare\nServer : cloudflare\n"
        b"Via: 1.1 abc.cloudfront.net (CloudFront)\n\n"
    )
    (asset,), gaps = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert gaps == []
    assert asset.attributes["https_headers"] == ("via: 1.1 abc.cloudfront.net (CloudFront)",)


def test_a_head_cut_short_is_a_gap(
    resolver: dns.resolver.Resolver, server: HttpsServer, ca: LocalCa
) -> None:
    server.routes["/"] = Route(raw=b"HTTP/1.1 302 Found\r\nLocation: https://lms.saas.te")
    _, gaps = probe(resolver, server.url("lms.saas.test"), options(ca))
    assert gaps == [
        Gap(
            "https:lms.saas.test",
            "lms.saas.test closed the connection before the end of its response head",
        )
    ]
