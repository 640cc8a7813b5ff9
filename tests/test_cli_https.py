"""`sovscan scan` with the [https] table on: SaaS headers and the Microsoft 365 tenant end to end,
through the CLI, against a loopback DNS server and a loopback HTTPS server with a test CA."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovscan.cli import cli
from sovscan.dnsserver import ZoneServer
from tests.probes.https_fixtures import HttpsServer, LocalCa, Route, make_ca, zones
from tests.probes.test_tenant import PATH, TENANT, openid

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def ca(tmp_path: Path) -> LocalCa:
    return make_ca(tmp_path)


@pytest.fixture
def nameserver() -> Iterator[str]:
    with ZoneServer(zones()) as server:
        yield f"{server.host}:{server.port}"


def inventory(tmp_path: Path, server: HttpsServer, https: str) -> Path:
    path = tmp_path / "sovscan.toml"
    path.write_text(
        '[institution]\nname = "U"\nhome = "CA-QC"\n\n[dns]\ndomains = ["universite.test"]\n\n'
        f'[[saas]]\nname = "LMS"\nurl = "{server.url("lms.saas.test", "/login")}"\n'
        'classification = "personal"\n\n'
        f'[https]\n{https}ca_file = "ca.pem"\n'
        f'openid_url = "https://login.microsoftonline.com:{server.port}{PATH}"\n',
        encoding="utf-8",
    )
    return path


def test_saas_headers_and_the_tenant_reach_the_report(
    tmp_path: Path, ca: LocalCa, nameserver: str
) -> None:
    with HttpsServer(ca) as server:
        server.routes["/login"] = Route(
            200, (("Server", "cloudflare"), ("CF-Ray", "8f1e2d3c4b5a6978-YUL"))
        )
        server.routes[PATH.format(domain="universite.test")] = openid()
        config = inventory(tmp_path, server, "saas = true\nm365_tenant = true\n")
        args = ["scan", "-c", str(config), "--nameserver", nameserver, "--no-store"]
        result = CliRunner().invoke(cli, [*args, "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["gaps"] == []
    assets = {a["id"]: a for a in document["assets"]}
    lms = assets["saas:lms.saas.test"]
    assert lms["attributes"]["https_headers"] == [
        "server: cloudflare",
        "cf-ray: 8f1e2d3c4b5a6978-YUL",
    ]
    assert lms["control"]["operator"].startswith("Cloudflare")
    assert lms["location"]["edge"] is True
    tenant = assets[f"m365:tenant:{TENANT}"]
    assert tenant["attributes"]["domains"] == ["universite.test"]
    assert tenant["location"]["region"] == "tenant-scope:NA"
    assert tenant["control"]["operator"].startswith("Microsoft")


def test_without_the_https_table_nothing_is_contacted(
    tmp_path: Path, ca: LocalCa, nameserver: str
) -> None:
    with HttpsServer(ca) as server:
        config = inventory(tmp_path, server, "")
        args = ["scan", "-c", str(config), "--nameserver", nameserver, "--no-store"]
        result = CliRunner().invoke(cli, [*args, "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.stderr
    assert server.requests == []
    kinds = {a["kind"] for a in json.loads(result.stdout)["assets"]}
    assert "saas.tenant" not in kinds


def test_hostile_header_text_is_escaped_in_html_and_an_unreachable_endpoint_is_partial(
    tmp_path: Path, ca: LocalCa, nameserver: str
) -> None:
    with HttpsServer(ca) as server:
        server.routes["/login"] = Route(200, (("Server", HOSTILE),))
        config = inventory(tmp_path, server, "saas = true\n")
        args = ["scan", "-c", str(config), "--nameserver", nameserver, "--no-store"]
        html = CliRunner().invoke(cli, [*args, "--format", "html", "--fail-on", "never"])
    assert html.exit_code == 0, html.stderr
    assert HOSTILE not in html.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.stdout
    # The server is gone: the endpoint is still reported, the HTTPS read is a gap, exit 3.
    result = CliRunner().invoke(cli, [*args, "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert [g["scope"] for g in document["gaps"]] == ["https:lms.saas.test"]
    assert "saas:lms.saas.test" in {a["id"] for a in document["assets"]}


def test_a_hostile_redirect_in_a_gap_reaches_stderr_escaped(
    tmp_path: Path, ca: LocalCa, nameserver: str
) -> None:
    # The gap's reason quotes the Location header a SaaS server sent; logged raw, its escape
    # sequences drove the auditor's terminal (a line rewritten, the text after it hidden).
    hostile = "https://gone.invalid/\x1b[1A\x1b[2Kall-clear\x9b8m"
    with HttpsServer(ca) as server:
        server.routes["/login"] = Route(302, (("Location", hostile),))
        config = inventory(tmp_path, server, "saas = true\n")
        args = ["scan", "-c", str(config), "--nameserver", nameserver, "--no-store"]
        result = CliRunner().invoke(cli, [*args, "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 3, result.stderr
    gap = next(g for g in json.loads(result.stdout)["gaps"] if g["scope"] == "https:lms.saas.test")
    assert "\x1b[1A\x1b[2Kall-clear\x9b8m" in gap["reason"]  # the report keeps what was seen
    assert "could not see https:lms.saas.test: redirect to https://gone.invalid/" in result.stderr
    assert not any(c in result.stderr for c in "\x1b\x9b")
    assert "\\x1b[1A\\x1b[2Kall-clear\\x9b8m not followed" in result.stderr
