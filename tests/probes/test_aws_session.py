"""Credentials for the probe: default chain, profiles and assumed roles, failing in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sovscan.config import AwsSource
from sovscan.errors import ProbeError
from sovscan.probes.aws_session import assume_role, session_for
from tests.probes.aws_fixtures import ACCOUNT, aws_env, fail_calls, new_session

__all__ = ["aws_env"]

ROLE = "arn:aws:iam::210987654321:role/sovscan-audit"


@pytest.fixture
def mocked(aws_env: None) -> Any:
    with mock_aws():
        yield


def _account(session: boto3.Session) -> str:
    sts = session.client("sts", region_name="us-east-1")
    return str(sts.get_caller_identity()["Account"])


def test_default_chain(mocked: None) -> None:
    assert _account(session_for(AwsSource())) == ACCOUNT


def test_named_profile(mocked: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile audit]\nregion = ca-central-1\n", encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # it would win over the profile's region
    session = session_for(AwsSource(profile="audit"))
    assert session.profile_name == "audit"
    assert session.region_name == "ca-central-1"


def test_unknown_profile_is_one_line(mocked: None) -> None:
    with pytest.raises(ProbeError) as raised:
        session_for(AwsSource(profile="nope"))
    assert str(raised.value) == "aws: profile 'nope' is not in the AWS config files"


def test_role_is_assumed_with_the_external_id(mocked: None) -> None:
    sent: list[dict[str, Any]] = []
    base = new_session()
    base.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **_: sent.append(params)
    )
    session = assume_role(base, ROLE, external_id="ext-123")
    assert sent == [{"RoleArn": ROLE, "RoleSessionName": "sovscan", "ExternalId": "ext-123"}]
    assert _account(session) == "210987654321"
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.access_key != "testing"


def test_session_for_assumes_the_configured_role(mocked: None) -> None:
    session = session_for(AwsSource(role_arn=ROLE, external_id="ext-123"))
    assert _account(session) == "210987654321"


def test_a_role_that_cannot_be_assumed_is_one_line(mocked: None) -> None:
    base = new_session()
    fail_calls(base, "sts.AssumeRole", "AccessDenied")
    with pytest.raises(ProbeError) as raised:
        assume_role(base, ROLE)
    message = str(raised.value)
    assert message == f"aws: cannot assume role {ROLE} (AccessDenied)"
    assert "\n" not in message
    assert "testing" not in message
    assert "secret-name" not in message
