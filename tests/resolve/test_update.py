"""`data update`: official feeds fetched over HTTP (a loopback server here), checked, swapped in."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from sovscan.commands.lookup import data
from sovscan.errors import ResolveError
from sovscan.model import Asset
from sovscan.resolve import load_knowledge, resolve
from sovscan.resolve import update as update_mod
from sovscan.resolve.knowledge import installed_data_dir


def _feeds(base: str) -> dict[str, bytes]:
    aws = {
        "syncToken": "1",
        "createDate": "2026-11-01-00-00-00",
        "prefixes": [
            {
                "ip_prefix": f"3.{i // 256}.{i % 256}.0/24",
                "region": "ca-central-1",
                "service": "AMAZON",
                "network_border_group": "ca-central-1",
            }
            for i in range(1200)
        ],
        "ipv6_prefixes": [],
    }
    azure = {
        "values": [
            {
                "name": "AzureCloud.canadaeast",
                "properties": {
                    "region": "canadaeast",
                    "addressPrefixes": [f"20.{i // 256}.{i % 256}.0/24" for i in range(1200)],
                },
            }
        ]
    }
    gcp = {
        "prefixes": [
            {
                "ipv4Prefix": f"34.{i}.0.0/16",
                "scope": "northamerica-northeast2",
                "service": "Google Cloud",
            }
            for i in range(150)
        ]
    }
    oracle = {
        "regions": [
            {
                "region": "ca-montreal-1",
                "cidrs": [{"cidr": f"140.{i}.0.0/16", "tags": ["OCI"]} for i in range(60)],
            }
        ]
    }
    fastly = {"addresses": [f"151.101.{i}.0/24" for i in range(10)], "ipv6_addresses": []}
    asn_rows = "".join(
        f"5.{i // 256}.{i % 256}.0,5.{i // 256}.{i % 256}.255,5769,Videotron Ltee\n"
        for i in range(1200)
    )
    page = f'<a href="{base}/fake-download/ServiceTags_Public_20261101.json">x</a>'
    return {
        "/aws.json": json.dumps(aws).encode(),
        "/azure.html": page.encode(),
        "/fake-download/ServiceTags_Public_20261101.json": json.dumps(azure).encode(),
        "/gcp.json": json.dumps(gcp).encode(),
        "/ips-v4": b"104.16.0.0/13\n172.64.0.0/13\n162.158.0.0/15\n",
        "/ips-v6": b"2606:4700::/32\n2400:cb00::/32\n",
        "/oracle.json": json.dumps(oracle).encode(),
        "/fastly.json": json.dumps(fastly).encode(),
        "/asn-ipv4.csv": gzip.compress(asn_rows.encode()),
        "/asn-ipv6.csv": b"2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64500,Doc\n",
    }


class _FeedServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.files = _feeds(self.base)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def sources(self) -> dict[str, str]:
        b = self.base
        return {
            "aws": f"{b}/aws.json",
            "azure-page": f"{b}/azure.html",
            "gcp": f"{b}/gcp.json",
            "cloudflare-v4": f"{b}/ips-v4",
            "cloudflare-v6": f"{b}/ips-v6",
            "oracle": f"{b}/oracle.json",
            "fastly": f"{b}/fastly.json",
            "asn-v4": f"{b}/asn-ipv4.csv",
            "asn-v6": f"{b}/asn-ipv6.csv",
        }


@pytest.fixture
def feeds() -> Iterator[_FeedServer]:
    srv = _FeedServer()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _ip(address: str) -> Asset:
    return Asset("a", "dns.host", "a", {"addresses": (address,)})


def test_update_installs_a_working_knowledge_base(feeds: _FeedServer, tmp_path: Path) -> None:
    target = tmp_path / "data"
    result = update_mod.update_data(
        target, sources=feeds.sources, now=datetime(2026, 11, 24, tzinfo=UTC)
    )
    assert result.prefixes["aws"] == 1200 and result.prefixes["oracle"] == 60
    kb = load_knowledge(target)
    assert kb.digest == result.digest
    assert resolve(_ip("3.0.5.1"), kb).location.subdivision == "CA-QC"
    assert resolve(_ip("20.0.1.1"), kb).location.subdivision == "CA-QC"
    assert resolve(_ip("34.3.0.1"), kb).location.subdivision == "CA-ON"
    assert resolve(_ip("140.1.0.1"), kb).location.subdivision == "CA-QC"  # Oracle Montréal
    fastly = resolve(_ip("151.101.3.1"), kb).location
    assert fastly.edge and fastly.method.value == "published-ranges"
    assert resolve(_ip("5.0.1.1"), kb).control.operator == "Vidéotron ltée"
    assert kb.datasets["aws-ip-ranges"].date.startswith("2026-11-24")
    assert kb.datasets["azure-service-tags"].source.endswith("ServiceTags_Public_20261101.json")


def test_commands_use_the_updated_data(
    feeds: _FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "user-data"
    monkeypatch.setenv("SOVSCAN_DATA_DIR", str(target))
    monkeypatch.setattr(update_mod, "OFFICIAL_SOURCES", feeds.sources)
    result = CliRunner().invoke(data, ["update"])
    assert result.exit_code == 0, result.output
    assert "installed" in result.output
    assert installed_data_dir() == target
    assert load_knowledge().digest != load_knowledge(update_mod.default_data_dir()).digest


def test_a_broken_feed_leaves_the_previous_data(feeds: _FeedServer, tmp_path: Path) -> None:
    target = tmp_path / "data"
    first = update_mod.update_data(target, sources=feeds.sources)
    for broken in (b"{not json", b"[" * 100_000 + b"]" * 100_000):  # too deep: RecursionError
        feeds.files["/gcp.json"] = broken
        with pytest.raises(ResolveError, match="not JSON"):
            update_mod.update_data(target, sources=feeds.sources)
    feeds.files["/gcp.json"] = json.dumps({"prefixes": []}).encode()
    with pytest.raises(ResolveError, match="gcp feed has 0 prefixes"):
        update_mod.update_data(target, sources=feeds.sources)
    assert load_knowledge(target).digest == first.digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging left behind


def test_a_missing_feed_is_one_line(feeds: _FeedServer, tmp_path: Path) -> None:
    del feeds.files["/aws.json"]
    with pytest.raises(ResolveError) as info:
        update_mod.update_data(tmp_path / "data", sources=feeds.sources)
    assert "aws.json: download failed" in str(info.value) and "\n" not in str(info.value)


def test_a_stale_user_copy_never_shadows_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    user = tmp_path / "user"
    shutil.copytree(update_mod.default_data_dir(), user)
    monkeypatch.setenv("SOVSCAN_DATA_DIR", str(user))
    assert installed_data_dir() == user
    laws = user / "laws.yaml"
    laws.chmod(0o644)
    laws.write_text(laws.read_text(encoding="utf-8") + "\n# older package\n", encoding="utf-8")
    assert installed_data_dir() == update_mod.default_data_dir()
