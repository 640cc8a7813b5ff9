"""End to end over real HTTP: moto in server mode on 127.0.0.1, reached through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from sovscan.cli import cli
from sovscan.config import AwsSource
from sovscan.model import Asset, Gap
from sovscan.probes.aws import AwsProbe, session_for
from sovscan.probes.aws_services import SERVICES
from tests.probes.aws_fixtures import ACCOUNT, aws_env, demo_module

__all__ = ["aws_env"]

REGIONS = ("ca-central-1", "us-west-2")  # buckets are listed globally, wherever they are


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def endpoint(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    # The server shares this process's moto state: start every test from an empty account.
    _reset(url)
    try:
        yield url
    finally:
        _reset(url)
        server.stop()


def _reset(url: str) -> None:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback only
        assert answer.status == 200


def test_probe_over_http_against_moto_server(endpoint: str) -> None:
    # Resources are made through a real client over HTTP, as an operator's tooling would.
    demo_module().populate(boto3.Session(region_name="us-east-1"))
    sts = boto3.Session(region_name="us-east-1").client("sts")
    assert sts.meta.endpoint_url == endpoint

    session = session_for(AwsSource(regions=REGIONS))
    results = list(AwsProbe(AwsSource(regions=REGIONS), session, max_workers=4).collect())
    assets = {item.id: item for item in results if isinstance(item, Asset)}
    gaps = [item for item in results if isinstance(item, Gap)]

    assert gaps == []
    research = assets[f"aws:{ACCOUNT}:s3:ue-research-data"].attributes
    assert research["region"] == "ca-central-1"
    assert research["replica_regions"] == ("us-east-1",)
    assert research["classification"] == "personal"
    assert assets[f"aws:{ACCOUNT}:s3:ue-web-assets"].attributes["region"] == "us-east-1"
    assert assets[f"aws:{ACCOUNT}:s3:ue-partner-exchange"].attributes["region"] == "eu-west-3"
    assert assets[f"aws:{ACCOUNT}:rds:us-west-2:ue-analytics"].attributes["region"] == "us-west-2"
    kinds = {asset.kind for asset in assets.values()}
    assert {"aws.s3.bucket", "aws.ec2.instance", "aws.rds.instance", "aws.kms.key"} <= kinds


def test_an_assumed_role_goes_through_the_endpoint_too(endpoint: str) -> None:
    role = "arn:aws:iam::210987654321:role/sovscan-audit"
    session = session_for(AwsSource(role_arn=role, regions=("ca-central-1",)))
    (identity,) = [session.client("sts").get_caller_identity()["Account"]]
    assert identity == "210987654321"
    probe = AwsProbe(AwsSource(regions=("ca-central-1",)), session)
    probe.services = tuple(s for s in SERVICES if s.kind == "aws.s3.bucket" or s.key_source)
    items = list(probe.collect())
    assert [item for item in items if isinstance(item, Gap)] == []


INVENTORY = """
[institution]
name = "Université Exemple"
home = "CA-QC"
allowed_locations = ["CA-QC"]
default_classification = "personal"

[[aws]]
regions = ["ca-central-1", "us-west-2"]
"""


def test_sovscan_scan_against_moto_server(endpoint: str, tmp_path: Path) -> None:
    """The issue's acceptance path: `sovscan scan` reaches moto only through AWS_ENDPOINT_URL."""
    demo_module().populate(boto3.Session(region_name="us-east-1"))
    config = tmp_path / "sovscan.toml"
    config.write_text(INVENTORY, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["scan", "--config", str(config), "--format", "json", "--no-store"]
    )
    assert result.exit_code in {0, 1}, result.stderr  # 3 would mean a gap: a partial scan
    report = json.loads(result.stdout)
    assert report["gaps"] == []
    assets = {asset["id"]: asset for asset in report["assets"]}
    research = assets[f"aws:{ACCOUNT}:s3:ue-research-data"]
    assert research["location"]["region"] == "ca-central-1"
    assert research["location"]["country"] == "CA"
    assert research["location"]["subdivision"] == "CA-QC"
    assert research["attributes"]["replica_regions"] == ["us-east-1"]
    web = assets[f"aws:{ACCOUNT}:s3:ue-web-assets"]
    assert web["location"]["country"] == "US"
    database = assets[f"aws:{ACCOUNT}:rds:us-west-2:ue-analytics"]
    assert database["location"]["region"] == "us-west-2"
