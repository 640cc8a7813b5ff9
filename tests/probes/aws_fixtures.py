"""Shared helpers for the AWS probe tests: a moto session, a scan runner and fault injection."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.loaders import Loader, create_loader
from moto import mock_aws

from sovscan.config import AwsSource
from sovscan.model import Asset, Gap
from sovscan.probes.aws import AwsProbe
from sovscan.probes.aws_services import SERVICES

ACCOUNT = "123456789012"
DEMO_REGIONS = ("ca-central-1", "us-east-1", "eu-west-3", "us-west-2")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no moto default AMIs, for one test."""
    set_fake_env(monkeypatch)


def set_fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials (tests/conftest.py sets them too) and no moto default AMIs.

    moto seeds every region with ~1,300 public AMI snapshots that it reports as the caller's
    own; a real `DescribeSnapshots(OwnerIds=["self"])` never returns those.
    """
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def session(aws_env: None) -> Iterator[boto3.Session]:
    """A session inside moto's mock; clients are only created after the mock starts."""
    with mock_aws():
        yield new_session()


@functools.cache
def _shared_loader() -> Loader:
    return create_loader()


def new_session(region: str = "us-east-1") -> boto3.Session:
    """A fresh session (own credentials, events and clients) whose botocore service models are
    read once per test run: parsing them again for each test costs more than most tests."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.Session(botocore_session=core, region_name=region)


def demo_module() -> ModuleType:
    """sovscan.demo.aws_account, loaded by path when the demo package cannot import yet.

    The demo package's __init__ imports every pipeline stage; this module needs none of them.
    """
    try:
        return importlib.import_module("sovscan.demo.aws_account")
    except ImportError:
        path = REPO / "sovscan" / "demo" / "aws_account.py"
        spec = importlib.util.spec_from_file_location("_sovscan_demo_aws_account", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def scan(
    session: boto3.Session,
    regions: tuple[str, ...] | None = DEMO_REGIONS,
    *,
    kinds: set[str] | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Asset], list[Gap]]:
    """Run the probe; assets by id and gaps in the order they were yielded.

    `kinds` limits the scan to those asset kinds (and KMS keys, which others read), to keep
    per-service tests fast.
    """
    probe = AwsProbe(AwsSource(regions=regions), session, **kwargs)
    if kinds is not None:
        probe.services = tuple(s for s in SERVICES if s.kind in kinds or s.key_source)
    results = list(probe.collect())
    assets = {item.id: item for item in results if isinstance(item, Asset)}
    gaps = [item for item in results if isinstance(item, Gap)]
    return assets, gaps


def of_kind(assets: dict[str, Asset], kind: str) -> list[Asset]:
    return [asset for asset in assets.values() if asset.kind == kind]


Match = Callable[[str, dict[str, Any]], bool]


def fail_calls(
    session: boto3.Session, event: str, code: str, *, when: Match | None = None, status: int = 403
) -> list[str]:
    """Make every call matching `before-call.<event>` answer with AWS error `code`.

    Returns a list that records the region of each failed call. Registered first, so it answers
    before moto's own handler.
    """
    failed: list[str] = []

    def handler(model: Any, context: dict[str, Any], **_: Any) -> Any:
        region = str(context.get("client_region"))
        if when is not None and not when(region, context):
            return None
        failed.append(region)
        error = {"Code": code, "Message": "User: arn:aws:iam::123456789012:user/secret-name"}
        return SimpleNamespace(status_code=status), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    session.events.register_first(f"before-call.{event}", handler)
    return failed


def raise_in_region(session: boto3.Session, event: str, region: str, exc: Exception) -> None:
    """Make calls matching `event` in `region` raise `exc` (an unreachable endpoint)."""

    def handler(context: dict[str, Any], **_: Any) -> None:
        if context.get("client_region") == region:
            raise exc

    session.events.register_first(f"before-call.{event}", handler)
