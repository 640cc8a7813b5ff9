"""Failure paths: each unseen scope becomes one Gap, and the rest of the scan completes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

from sovscan.model import Gap
from tests.probes.aws_fixtures import (
    ACCOUNT,
    aws_env,
    fail_calls,
    of_kind,
    raise_in_region,
    scan,
    session,
)

__all__ = ["aws_env", "session"]

KINDS = {"aws.s3.bucket", "aws.ec2.instance", "aws.rds.instance", "aws.ebs.volume"}
REGIONS = ("ca-central-1", "eu-west-3")


@pytest.fixture
def estate(session: boto3.Session) -> boto3.Session:
    """A bucket, and a volume and a database in each of two regions."""
    s3 = session.client("s3", region_name="ca-central-1")
    s3.create_bucket(
        Bucket="ue-grades", CreateBucketConfiguration={"LocationConstraint": "ca-central-1"}
    )
    for region in REGIONS:
        session.client("ec2", region_name=region).create_volume(
            AvailabilityZone=f"{region}a", Size=1
        )
        session.client("rds", region_name=region).create_db_instance(
            DBInstanceIdentifier=f"db-{region}",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            AllocatedStorage=20,
        )
    return session


def test_access_denied_on_one_service(estate: boto3.Session) -> None:
    fail_calls(estate, "s3.ListBuckets", "AccessDenied")
    assets, gaps = scan(estate, regions=REGIONS, kinds=KINDS)
    assert gaps == [Gap(f"aws:{ACCOUNT}:global:s3", "AccessDenied: s3:ListBuckets")]
    assert of_kind(assets, "aws.s3.bucket") == []
    assert len(of_kind(assets, "aws.rds.instance")) == 2
    assert len(of_kind(assets, "aws.ebs.volume")) == 2


def test_access_denied_in_one_region(estate: boto3.Session) -> None:
    failed = fail_calls(estate, "rds", "AccessDenied", when=lambda region, _: region == "eu-west-3")
    assets, gaps = scan(estate, regions=REGIONS, kinds=KINDS)
    assert gaps == [Gap(f"aws:{ACCOUNT}:eu-west-3:rds", "AccessDenied: rds:DescribeDBInstances")]
    assert failed == ["eu-west-3"]
    (database,) = of_kind(assets, "aws.rds.instance")
    assert database.attributes["region"] == "ca-central-1"


def test_gap_reasons_never_carry_the_error_message(estate: boto3.Session) -> None:
    # The message of an AccessDenied names the principal (and could carry anything): drop it.
    fail_calls(estate, "ec2", "UnauthorizedOperation")
    _, gaps = scan(estate, regions=REGIONS, kinds=KINDS)
    assert gaps
    assert all("secret-name" not in gap.reason and "arn:" not in gap.reason for gap in gaps)
    assert all(gap.reason.startswith("UnauthorizedOperation: ec2:") for gap in gaps)


def test_unreachable_region(estate: boto3.Session) -> None:
    unreachable = EndpointConnectionError(endpoint_url="https://ec2.eu-west-3.amazonaws.com")
    raise_in_region(estate, "ec2", "eu-west-3", unreachable)
    raise_in_region(estate, "rds", "eu-west-3", unreachable)
    assets, gaps = scan(estate, regions=REGIONS, kinds=KINDS)
    assert {gap.scope for gap in gaps} == {
        f"aws:{ACCOUNT}:eu-west-3:ec2",
        f"aws:{ACCOUNT}:eu-west-3:ebs",
        f"aws:{ACCOUNT}:eu-west-3:rds",
    }
    # Once two services of the region went unanswered, the rest of it is not tried.
    reasons = [gap.reason.split(":", 1)[0] for gap in gaps]
    assert set(reasons) <= {"EndpointConnectionError", "RegionUnreachable"}, gaps
    assert reasons.count("EndpointConnectionError") >= 2
    assert [a.attributes["region"] for a in of_kind(assets, "aws.ebs.volume")] == ["ca-central-1"]
    assert len(of_kind(assets, "aws.s3.bucket")) == 1


def test_throttling_that_never_ends_is_a_gap(estate: boto3.Session) -> None:
    fail_calls(estate, "ec2.DescribeVolumes", "RequestLimitExceeded", status=503)
    assets, gaps = scan(estate, regions=("ca-central-1",), kinds=KINDS)
    assert gaps == [
        Gap(f"aws:{ACCOUNT}:ca-central-1:ebs", "RequestLimitExceeded: ec2:DescribeVolumes")
    ]
    assert len(of_kind(assets, "aws.rds.instance")) == 1


def test_throttling_once_is_retried(estate: boto3.Session) -> None:
    """The client's retry mode absorbs a throttle: the asset is seen and there is no gap."""
    attempts: list[int] = []

    def throttle_first(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) > 1:
            return None  # let moto answer
        body = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
            b"<Message>Request limit exceeded.</Message></Error></Errors>"
            b"<RequestID>1</RequestID></Response>"
        )
        return AWSResponse(request.url, 503, {}, _Raw(body))

    estate.events.register_first("before-send.ec2.DescribeVolumes", throttle_first)
    assets, gaps = scan(estate, regions=("ca-central-1",), kinds=KINDS)
    assert gaps == []
    assert len(attempts) == 2
    assert len(of_kind(assets, "aws.ebs.volume")) == 1


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_denied_detail_call_leaves_the_fact_unknown(estate: boto3.Session) -> None:
    fail_calls(estate, "s3.GetBucketReplication", "AccessDenied")
    assets, gaps = scan(estate, regions=REGIONS, kinds=KINDS)
    assert gaps == [Gap(f"aws:{ACCOUNT}:ca-central-1:s3", "AccessDenied: s3:GetBucketReplication")]
    bucket = assets[f"aws:{ACCOUNT}:s3:ue-grades"].attributes
    assert bucket["region"] == "ca-central-1"
    assert "replica_regions" not in bucket  # unknown, never "no replica"
    assert "replica_accounts" not in bucket


def test_a_library_failure_is_a_gap_too(estate: boto3.Session) -> None:
    def broken(**_: Any) -> None:
        raise NotImplementedError("moto lacks it")

    estate.events.register_first("before-call.rds.DescribeDBInstances", broken)
    assets, gaps = scan(estate, regions=("ca-central-1",), kinds=KINDS)
    assert gaps == [
        Gap(f"aws:{ACCOUNT}:ca-central-1:rds", "NotImplementedError: rds:DescribeDBInstances")
    ]
    assert len(of_kind(assets, "aws.ebs.volume")) == 1
