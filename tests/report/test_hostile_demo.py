"""A hostile variant of the demo: records and tags an attacker wrote render inert everywhere."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from html.parser import HTMLParser

import dns.zone
import pytest

from sovscan.demo import DEMO_DIR, demo_config
from sovscan.demo.aws_account import mocked_estate
from sovscan.dnsserver import ZoneServer, load_zones, make_resolver
from sovscan.engine import default_rules_dir, load_rules
from sovscan.model import Scan
from sovscan.report import REPORTERS
from sovscan.resolve import load_knowledge
from sovscan.scan import build_probes, run_scan

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example/x","click")'
ANSI = "\x1b[2J\x1b]0;owned\x07"
LONG = "A" * 200
HOSTILE_ZONE = (
    "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\n"
    "ns1 IN A 192.0.2.53\n"
    '@ IN TXT "MS=ms1<script>alert(1)</script>"\n'
    '@ IN TXT "zoom_verify=\\"=HYPERLINK(\\"http://evil.example/x\\",\\"click\\")"\n'
    '@ IN TXT "docusign=\\027[2J\\027]0;owned\\007"\n'
    f'@ IN TXT "atlassian-domain-verification={LONG}" "{LONG}" "{LONG}"\n'
    "@ IN MX 10 mx.<script>.example.\n"
)


@pytest.fixture(scope="module")
def hostile_scan() -> Scan:
    config = demo_config()
    config = replace(config, domains=(*config.domains, "hostile.example"))
    with mocked_estate() as (session, _account):
        s3 = session.client("s3", region_name="ca-central-1")
        s3.create_bucket(
            Bucket="ue-hostile-tags",
            CreateBucketConfiguration={"LocationConstraint": "ca-central-1"},
        )
        s3.put_bucket_tagging(
            Bucket="ue-hostile-tags",
            Tagging={
                "TagSet": [
                    {"Key": "Owner", "Value": SCRIPT},
                    {"Key": "CostCentre", "Value": FORMULA},
                    {"Key": "Note", "Value": LONG},
                ]
            },
        )
        zones = [*load_zones(DEMO_DIR / "zones")]
        zones.append(dns.zone.from_text(HOSTILE_ZONE, origin="hostile.example", check_origin=False))
        with ZoneServer(zones) as server:
            probes, gaps = build_probes(
                config,
                resolver=make_resolver(server.host, server.port),
                session_factory=lambda _source: session,
            )
            return run_scan(
                config, probes, load_knowledge(), load_rules(default_rules_dir()), extra_gaps=gaps
            )


def test_the_hostile_values_reached_the_scan(hostile_scan: Scan) -> None:
    texts = json.dumps([dict(a.asset.attributes) for a in hostile_scan.assets])
    assert "<script>" in texts and "=HYPERLINK" in texts and "\\u001b" in texts


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_every_format_renders_it_inert(name: str, hostile_scan: Scan) -> None:
    text = REPORTERS[name](hostile_scan)
    if name in ("json", "sarif"):
        json.loads(text)  # well-formed; JSON escaping keeps the values as data
        assert "\x1b" not in text
        return
    assert "\x1b" not in text and "\x07" not in text
    if name == "table":
        assert "mx.<script>.example" in text  # shown as text: a terminal runs no markup
    if name == "csv":
        for row in csv.reader(io.StringIO(text)):
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    if name in ("html", "markdown"):
        assert SCRIPT not in text
    if name == "html":
        scripts: list[str] = []

        class Tags(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                if tag == "script":
                    scripts.append(tag)
                assert not any(key.startswith("on") for key, _ in attrs)

        Tags().feed(text)
        assert scripts == ["script"]
