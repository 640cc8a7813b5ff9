"""The AWS probe on the demo estate in moto: ids, kinds, regions, facts, evidence and order."""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sovscan.config import AwsSource
from sovscan.errors import ProbeError
from sovscan.model import Asset, Confidence, Gap
from sovscan.probes.aws import (
    AwsProbe,
    classification_label,
    dig,
    key_facts,
    normalize_tags,
    s3_region,
)
from tests.probes.aws_fixtures import (
    ACCOUNT,
    DEMO_REGIONS,
    aws_env,
    demo_module,
    fail_calls,
    new_session,
    of_kind,
    scan,
    session,
    set_fake_env,
)

__all__ = ["aws_env", "session"]

DEMO_KINDS = {"aws.s3.bucket", "aws.ec2.instance", "aws.rds.instance"}
BUCKETS = {"aws.s3.bucket"}
WHEN = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _clock() -> datetime:
    return WHEN


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, Asset], list[Gap]]:
    """The demo estate scanned once for the module (the scan result is plain data)."""
    with pytest.MonkeyPatch.context() as patch:
        set_fake_env(patch)
        patch.delenv("MOTO_EC2_LOAD_DEFAULT_AMIS")  # mocked_estate must switch them off itself
        with demo_module().mocked_estate() as (session, account):
            assert account == ACCOUNT
            return scan(session, clock=_clock)


def test_an_account_scanned_alone_has_an_unknown_region_guardrail(
    demo: tuple[dict[str, Asset], list[Gap]],
) -> None:
    # Its SCPs can only be read from the Organization's management account: the guardrail is
    # not claimed either way, so the rule's finding is unknown, not missing.
    account = demo[0][f"aws:{ACCOUNT}:account"]
    assert account.kind == "aws.account" and account.name == ACCOUNT
    assert dict(account.attributes) == {"provider": "aws", "partition": "aws", "account": ACCOUNT}
    assert [e.source for e in account.evidence] == ["aws:sts:GetCallerIdentity"]
    assert "management account (member_role)" in account.evidence[0].detail


def test_demo_buckets_have_their_regions(demo: tuple[dict[str, Asset], list[Gap]]) -> None:
    assets, gaps = demo
    assert gaps == []
    regions = {a.name: a.attributes["region"] for a in of_kind(assets, "aws.s3.bucket")}
    assert regions == {
        "ue-research-data": "ca-central-1",
        "ue-research-data-replica": "us-east-1",
        "ue-web-assets": "us-east-1",
        "ue-partner-exchange": "eu-west-3",
    }


def test_the_demo_holds_only_what_populate_made(demo: tuple[dict[str, Asset], list[Gap]]) -> None:
    kinds = sorted(asset.kind for asset in demo[0].values())
    assert kinds == [
        "aws.account",  # the account scanned on its own
        "aws.ebs.volume",  # the instance's root volume
        "aws.ec2.instance",
        "aws.kms.key",
        "aws.rds.instance",
        *["aws.s3.bucket"] * 4,
    ]
    assert "MOTO_EC2_LOAD_DEFAULT_AMIS" not in os.environ  # restored after the mock


def test_bucket_asset_follows_the_conventions(demo: tuple[dict[str, Asset], list[Gap]]) -> None:
    bucket = demo[0][f"aws:{ACCOUNT}:s3:ue-research-data"]
    assert bucket.kind == "aws.s3.bucket"
    attrs = bucket.attributes
    assert attrs["provider"] == "aws"
    assert attrs["partition"] == "aws"
    assert attrs["account"] == ACCOUNT
    assert attrs["classification"] == "personal"
    assert attrs["tag:DataClassification"] == "personal"
    assert attrs["replica_regions"] == ("us-east-1",)
    assert attrs["replica_accounts"] == (ACCOUNT,)
    assert attrs["encryption"] == "kms"
    assert attrs["key_manager"] == "customer"
    assert attrs["kms_key_origin"] == "AWS_KMS"
    assert attrs["public"] is False
    location = [e for e in bucket.evidence if e.source == "aws:s3:GetBucketLocation"]
    assert len(location) == 1
    assert "ca-central-1" in location[0].detail
    assert location[0].confidence is Confidence.HIGH
    assert all(e.observed_at == WHEN for e in bucket.evidence)


def test_public_bucket_and_default_encryption(demo: tuple[dict[str, Asset], list[Gap]]) -> None:
    assets = demo[0]
    web = assets[f"aws:{ACCOUNT}:s3:ue-web-assets"].attributes
    assert web["public"] is True
    assert web["encryption"] == "sse"
    assert web["key_manager"] == "aws-owned"
    assert web["replica_regions"] == ()  # known: no replication, not unknown
    assert assets[f"aws:{ACCOUNT}:s3:ue-partner-exchange"].attributes["public"] is False


def test_rds_and_ec2_instances(demo: tuple[dict[str, Asset], list[Gap]]) -> None:
    assets = demo[0]
    rds = assets[f"aws:{ACCOUNT}:rds:us-west-2:ue-analytics"]
    assert rds.kind == "aws.rds.instance"
    assert rds.attributes["region"] == "us-west-2"
    assert rds.attributes["classification"] == "personal"
    assert rds.attributes["encryption"] == "kms"
    # moto names a KMS key for the database that ListKeys does not show: whose key is unknown.
    assert "key_manager" not in rds.attributes
    assert rds.evidence[0].source == "aws:rds:DescribeDBInstances"
    (instance,) = of_kind(assets, "aws.ec2.instance")
    assert instance.id.startswith(f"aws:{ACCOUNT}:ec2:ca-central-1:i-")
    assert "tag:Name" not in instance.attributes  # only the classification tag is kept
    assert instance.attributes["tag:DataClassification"] == "personal"
    assert instance.attributes["region"] == "ca-central-1"


def test_assets_come_sorted_then_gaps(session: boto3.Session) -> None:
    demo_module().populate(session)
    fail_calls(session, "rds", "AccessDenied")
    probe = AwsProbe(AwsSource(regions=DEMO_REGIONS), session, clock=_clock)
    probe.services = tuple(s for s in probe.services if s.kind in DEMO_KINDS or s.key_source)
    items = list(probe.collect())
    kinds = [isinstance(item, Gap) for item in items]
    assert kinds == sorted(kinds)  # every asset before the first gap
    ids = [item.id for item in items if isinstance(item, Asset)]
    assert ids == sorted(ids)
    scopes = [item.scope for item in items if isinstance(item, Gap)]
    assert scopes == sorted(scopes)
    assert len(scopes) == len(DEMO_REGIONS)  # rds instances in every region
    # One worker or many: the same items in the same order.
    probe.max_workers = 1
    assert list(probe.collect()) == items


def test_every_enabled_region_when_none_configured(session: boto3.Session) -> None:
    session.events.register_first("before-call.ec2.DescribeRegions", _regions_answer)
    for region in ("ap-southeast-2", "me-south-1"):
        ec2 = session.client("ec2", region_name=region)
        ec2.create_volume(AvailabilityZone=f"{region}a", Size=1)
    assets, gaps = scan(session, regions=None, kinds={"aws.ebs.volume"})
    assert gaps == []
    (volume,) = of_kind(assets, "aws.ebs.volume")  # me-south-1 is not opted in: not scanned
    assert volume.attributes["region"] == "ap-southeast-2"
    assert volume.attributes["encryption"] == "none"


def _regions_answer(**_: object) -> tuple[object, dict[str, object]]:
    regions = [
        {"RegionName": "ap-southeast-2", "OptInStatus": "opt-in-not-required"},
        {"RegionName": "ca-central-1", "OptInStatus": "opted-in"},
        {"RegionName": "me-south-1", "OptInStatus": "not-opted-in"},
    ]
    return _ok(), {"Regions": regions, "ResponseMetadata": {"HTTPStatusCode": 200}}


def test_configured_region_not_enabled_is_a_gap(session: boto3.Session) -> None:
    session.events.register_first("before-call.ec2.DescribeRegions", _regions_answer)
    session.client("s3", region_name="ca-central-1").create_bucket(
        Bucket="still-seen", CreateBucketConfiguration={"LocationConstraint": "ca-central-1"}
    )
    assets, gaps = scan(session, regions=("ca-central-1", "me-south-1"), kinds=BUCKETS)
    assert gaps == [
        Gap(f"aws:{ACCOUNT}:me-south-1:*", "RegionNotEnabled: the region is not enabled")
    ]
    assert f"aws:{ACCOUNT}:s3:still-seen" in assets
    assert all(a.attributes.get("region") != "me-south-1" for a in assets.values())


def _ok() -> object:
    class _Http:
        status_code = 200

    return _Http()


def test_no_credentials_is_a_probe_error(session: boto3.Session) -> None:
    fail_calls(session, "sts.GetCallerIdentity", "InvalidClientTokenId")
    probe = AwsProbe(AwsSource(), session)
    with pytest.raises(ProbeError) as raised:
        list(probe.collect())
    message = str(raised.value)
    assert (
        message == "aws: cannot identify the account (InvalidClientTokenId: sts:GetCallerIdentity)"
    )
    assert "secret-name" not in message


def test_classification_tag_key_is_configurable(session: boto3.Session) -> None:
    s3 = session.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="labelled")
    s3.put_bucket_tagging(
        Bucket="labelled", Tagging={"TagSet": [{"Key": "sensitivity", "Value": " Protected-B "}]}
    )
    assets, _ = scan(session, ("us-east-1",), kinds=BUCKETS, classification_tag="Sensitivity")
    attrs = assets[f"aws:{ACCOUNT}:s3:labelled"].attributes
    assert attrs["classification"] == "protected-b"
    assets, _ = scan(session, regions=("us-east-1",), kinds=BUCKETS)
    assert "classification" not in assets[f"aws:{ACCOUNT}:s3:labelled"].attributes


def test_hostile_tags_are_bounded(session: boto3.Session) -> None:
    s3 = session.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="hostile")
    s3.put_bucket_tagging(
        Bucket="hostile",
        Tagging={"TagSet": [{"Key": "DataClassification", "Value": "x" * 256}]},
    )
    assets, _ = scan(session, regions=("us-east-1",), kinds=BUCKETS)
    attrs = assets[f"aws:{ACCOUNT}:s3:hostile"].attributes
    # Longer than any label: withheld, and counted as sensitive (no policy lists "<redacted>").
    assert attrs["tag:DataClassification"] == attrs["classification"] == "<redacted>"


def _function(session: boto3.Session, name: str, tags: dict[str, str]) -> None:
    role = session.client("iam", region_name="us-east-1").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    session.client("lambda", region_name="us-east-1").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Tags=tags,
    )


def test_only_the_classification_tag_is_kept(session: boto3.Session) -> None:
    # An auditor's trial: `token=SUPERSECRET-TAG` on a function reached every report, the
    # history store and the bundle. Tags hold names, e-mail addresses and keys; sovscan reads
    # one of them, the classification tag, and drops the others at the probe.
    _function(
        session,
        "grader",
        {
            "token": "SUPERSECRET-TAG",
            "Owner": "jane.doe@uni.example",
            "Name": "grader-prod",
            "dataclassification": " Confidential ",  # matched without regard to case
        },
    )
    s3 = session.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="untagged-label")
    s3.put_bucket_tagging(
        Bucket="untagged-label",
        Tagging={"TagSet": [{"Key": "api-key", "Value": "AKIAPLNTDTAGQ7X4K2W1"}]},
    )
    kinds = {"aws.lambda.function", "aws.s3.bucket"}
    assets, gaps = scan(session, ("us-east-1",), kinds=kinds)
    assert gaps == []
    function = assets[f"aws:{ACCOUNT}:lambda:us-east-1:grader"]
    assert {k: v for k, v in function.attributes.items() if k.startswith("tag:")} == {
        "tag:dataclassification": "Confidential"
    }
    assert function.attributes["classification"] == "confidential"
    bucket = assets[f"aws:{ACCOUNT}:s3:untagged-label"]
    assert not any(key.startswith("tag:") for key in bucket.attributes)
    assert "classification" not in bucket.attributes
    seen = repr(sorted(assets.items()))
    for planted in ("SUPERSECRET", "jane.doe", "grader-prod", "AKIAPLNTD", "token", "api-key"):
        assert planted not in seen


@pytest.mark.parametrize(
    "value",
    [
        "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id
        "ghp_q7x4k2w1ZZ9yy8XX7ww6",  # a GitHub token
        "pLnTdS3cr3tQ7x4",  # letters and digits mixed as in a random key
        "5145551234",  # a telephone number
        "token=SUPERSECRET-TAG",  # not a label
        "dpo@uni.example",
        "https://vault.example/?token=abc",
    ],
)
def test_a_classification_tag_that_looks_like_a_secret_is_withheld(
    session: boto3.Session, value: str
) -> None:
    _function(session, "labelled", {"DataClassification": value})
    assets, _ = scan(session, ("us-east-1",), kinds={"aws.lambda.function"})
    attrs = assets[f"aws:{ACCOUNT}:lambda:us-east-1:labelled"].attributes
    assert attrs["tag:DataClassification"] == attrs["classification"] == "<redacted>"
    assert value.lower() not in repr(attrs).lower()


@pytest.mark.parametrize(
    ("value", "label"),
    [("Personal", "personal"), ("Protected B", "protected b"), ("top-secret", "top-secret"),
     ("tlp-amber", "tlp-amber"), ("level-3", "level-3"), ("restricted2024", "restricted2024")],
)  # fmt: skip
def test_classification_labels_are_read(value: str, label: str) -> None:
    assert classification_label(value) == label


@pytest.mark.parametrize(
    ("constraint", "region"),
    [(None, "us-east-1"), ("", "us-east-1"), ("EU", "eu-west-1"), ("eu-west-3", "eu-west-3")],
)
def test_s3_location_constraint(constraint: str | None, region: str) -> None:
    assert s3_region(constraint) == region


def test_dig_paths() -> None:
    page = {"Reservations": [{"Instances": [{"Id": "a"}, {"Id": "b"}]}, {"Instances": []}]}
    assert dig(page, "Reservations[].Instances[]") == [{"Id": "a"}, {"Id": "b"}]
    assert dig(page, "Reservations[].Instances[].Id") == ["a", "b"]
    assert dig(page, "Missing[].Id") is None
    assert dig({"A": {"B": 1}}, "A.B") == 1
    assert dig("x", "@") == "x"


def test_tags_in_every_shape() -> None:
    assert normalize_tags([{"Key": "a", "Value": "1"}]) == {"a": "1"}
    assert normalize_tags([{"TagKey": "a", "TagValue": "1"}]) == {"a": "1"}
    assert normalize_tags([{"key": "a", "value": "1"}]) == {"a": "1"}
    assert normalize_tags({"a": "1"}) == {"a": "1"}
    assert normalize_tags(None) == {}


def test_key_facts() -> None:
    keys = {"k1": ("external-key-store", "EXTERNAL_KEY_STORE")}
    arn = f"arn:aws:kms:ca-central-1:{ACCOUNT}:key/k1"
    assert key_facts(arn, keys) == {
        "key_manager": "external-key-store",
        "kms_key_origin": "EXTERNAL_KEY_STORE",
    }
    assert key_facts("alias/aws/s3", {})["key_manager"] == "aws-managed"
    assert key_facts("arn:aws:kms:us-east-1:999999999999:key/other", keys) == {}


def test_populate_alone_keeps_moto_ami_snapshots_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lead's demo runs populate inside a plain mock_aws(): it must still see only its estate.
    set_fake_env(monkeypatch)
    monkeypatch.delenv("MOTO_EC2_LOAD_DEFAULT_AMIS")
    with mock_aws():
        session = new_session()
        demo_module().populate(session)
        # eu-west-3: a region where the estate has no EC2 resource of its own.
        assets, gaps = scan(session, regions=("eu-west-3",), kinds={"aws.ebs.snapshot"})
    assert gaps == []
    assert of_kind(assets, "aws.ebs.snapshot") == []


def test_snapshots_another_account_owns_are_not_this_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto answers OwnerIds=["self"] with its default AMIs' snapshots (owner 801119661308) too;
    # they must not become assets of the scanned account.
    set_fake_env(monkeypatch)
    monkeypatch.delenv("MOTO_EC2_LOAD_DEFAULT_AMIS")
    with mock_aws():
        session = new_session()
        ec2 = session.client("ec2", region_name="eu-west-3")
        volume = ec2.create_volume(AvailabilityZone="eu-west-3a", Size=1)
        own = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
        listed = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        assert len({s["OwnerId"] for s in listed}) > 1  # the emulator's quirk is still there
        assets, gaps = scan(session, regions=("eu-west-3",), kinds={"aws.ebs.snapshot"})
    assert gaps == []
    assert [a.id.rsplit(":", 1)[-1] for a in of_kind(assets, "aws.ebs.snapshot")] == [own]


def test_malformed_arns_do_not_stop_the_scan(session: boto3.Session) -> None:
    def odd_replicas(parsed: dict[str, Any], **_: Any) -> None:
        for instance in parsed.get("DBInstances", []):
            instance["ReadReplicaDBInstanceIdentifiers"] = ["arn:broken", "local-replica"]

    session.client("rds", region_name="ca-central-1").create_db_instance(
        DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro", Engine="postgres"
    )
    session.events.register("after-call.rds.DescribeDBInstances", odd_replicas)
    assets, gaps = scan(session, regions=("ca-central-1",), kinds={"aws.rds.instance"})
    assert gaps == []
    attributes = assets[f"aws:{ACCOUNT}:rds:ca-central-1:db"].attributes
    assert attributes["replica_regions"] == ("ca-central-1",)  # the malformed one is dropped
    assert attributes["replica_accounts"] == (ACCOUNT,)


def test_partition_comes_from_the_caller_identity(session: boto3.Session) -> None:
    def gov_cloud(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Arn"] = f"arn:aws-us-gov:iam::{ACCOUNT}:user/auditor"

    regions_asked_in: list[str] = []

    def record(context: dict[str, Any], **_: Any) -> None:
        regions_asked_in.append(str(context.get("client_region")))

    session.events.register("after-call.sts.GetCallerIdentity", gov_cloud)
    session.events.register("before-call.ec2.DescribeRegions", record)
    session.client("s3", region_name="us-gov-west-1").create_bucket(
        Bucket="gov-data", CreateBucketConfiguration={"LocationConstraint": "us-gov-west-1"}
    )
    assets, _ = scan(session, regions=("us-gov-west-1",), kinds=BUCKETS)
    bucket = assets[f"aws:{ACCOUNT}:s3:gov-data"].attributes
    assert bucket["partition"] == "aws-us-gov"
    assert bucket["region"] == "us-gov-west-1"
    assert regions_asked_in == ["us-gov-west-1"]  # the partition's own global region


def test_the_thread_pools_are_bounded(session: boto3.Session) -> None:
    threads: set[str] = set()
    session.events.register("before-call", lambda **_: threads.add(threading.current_thread().name))
    demo_module().populate(session)
    threads.clear()
    scan(session, max_workers=2, kinds=DEMO_KINDS)
    tasks = {name for name in threads if name.startswith("sovscan-aws_")}
    items = {name for name in threads if name.startswith("sovscan-aws-item_")}
    assert 1 <= len(tasks) <= 2
    assert 1 <= len(items) <= 2  # per-item detail calls (S3 buckets) have their own pool


def test_populate_refuses_an_account_that_is_not_moto(session: boto3.Session) -> None:
    def real_looking(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Account"] = "999988887777"

    session.events.register("after-call.sts.GetCallerIdentity", real_looking)
    with pytest.raises(RuntimeError, match="only inside moto"):
        demo_module().populate(session)
    assert session.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
