"""The demo university's AWS estate, created inside an active moto mock (never a real account)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto import mock_aws
from moto.moto_api._internal import mock_random

from sovscan.probes.aws_services import SERVICES

RESEARCH_BUCKET = "ue-research-data"
REPLICA_BUCKET = "ue-research-data-replica"
WEB_BUCKET = "ue-web-assets"
PARTNER_BUCKET = "ue-partner-exchange"
RDS_INSTANCE = "ue-analytics"
CLASSIFICATION_TAG = "DataClassification"
DEMO_CREDENTIAL = "demo-not-a-secret"  # valid only inside moto's in-memory account
DEMO_REGIONS = ("ca-central-1", "us-east-1", "eu-west-3", "us-west-2")
MOTO_ACCOUNT = "123456789012"  # moto's default account id
_NO_AMIS = "MOTO_EC2_LOAD_DEFAULT_AMIS"
DEMO_SEED = 2026


@contextmanager
def mocked_estate() -> Iterator[tuple[boto3.Session, str]]:
    """An active moto mock holding the demo estate: (session, account id), for the demo run.

    The user's AWS_* settings are hidden meanwhile: moto intercepts only requests to AWS's own
    endpoints, so an AWS_ENDPOINT_URL (LocalStack, a moto server) would otherwise receive the
    demo's writes, and a broken AWS_PROFILE would stop moto itself from starting.
    moto seeds every EC2 region with about 1,300 public AMI snapshots that it reports as the
    caller's own (a real DescribeSnapshots(OwnerIds=["self"]) never does); they would bury the
    demo and slow it down, so they are switched off for the duration of the mock.
    """
    hidden = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("AWS_")}
    try:
        with mock.patch.dict(os.environ, {_NO_AMIS: "false"}):
            moto = mock_aws()
            moto.start()  # resets moto's backends: every run starts from an empty account
            try:
                session = boto3.Session(
                    aws_access_key_id=DEMO_CREDENTIAL,
                    aws_secret_access_key=DEMO_CREDENTIAL,
                    region_name="us-east-1",
                )
                yield session, populate(session)
            finally:
                # Dropping the in-memory account costs seconds; the next start resets it anyway.
                moto.stop(remove_data=False)
    finally:
        os.environ.update(hidden)


def import_moto_services(session: boto3.Session) -> None:
    """Make one request to each service the AWS probe lists, one at a time, before it scans.

    moto imports a service's modules on that service's first request. The probe's threads make
    first requests to several services at once, and concurrent first imports in one process race:
    ImportError and SystemError were seen, which the scan would report as gaps the demo does not
    have. The imports are made here, from one thread.
    """
    for client_name, call in sorted({(spec.client, spec.list_call) for spec in SERVICES}):
        client = session.client(client_name, region_name="us-east-1")  # type: ignore[call-overload]
        with contextlib.suppress(BotoCoreError, ClientError):
            getattr(client, call)()


def populate(session: boto3.Session) -> str:
    """Create the demo estate with `session` (moto must be active) and return the account id.

    - `ue-research-data` in ca-central-1 (personal data), encrypted with a customer KMS key and
      replicating to `ue-research-data-replica` in us-east-1;
    - `ue-web-assets` in us-east-1, readable by anyone;
    - `ue-partner-exchange` in eu-west-3;
    - an RDS instance in us-west-2 and an EC2 instance in ca-central-1.

    moto's default AMI snapshots are kept out of the EC2 backends of the demo's regions (see
    `mocked_estate`), so a scan of those regions sees only this estate. Last, every service the
    probe lists is asked once, so moto's lazy imports are done before a threaded scan.
    """
    sts = session.client("sts", region_name="us-east-1")
    account = str(sts.get_caller_identity()["Account"])
    if account not in {MOTO_ACCOUNT, os.environ.get("MOTO_ACCOUNT_ID")}:
        # A safety net: this function creates resources, and must never reach a real account.
        raise RuntimeError(f"populate runs only inside moto; account {account} is not moto's")
    with mock.patch.dict(os.environ, {_NO_AMIS: "false"}):
        for region in DEMO_REGIONS:
            session.client("ec2", region_name=region).describe_vpcs()  # creates the backend
        # Seeded ids (moto's documented "seed" hook), so two demo runs are the same estate and a
        # diff between them is empty, as it would be for an unchanged real account. Seeded here,
        # once the backends exist: how many ids moto draws to create them differs between a
        # process's first demo run and later ones, and seeding before that gave a second run in
        # one process other EC2 and KMS ids.
        mock_random.seed(DEMO_SEED)
        _populate(session, account)
    import_moto_services(session)
    return account


def _populate(session: boto3.Session, account: str) -> None:
    key_arn = _research_key(session)
    _bucket(session, REPLICA_BUCKET, "us-east-1", "personal", versioned=True)
    _bucket(session, RESEARCH_BUCKET, "ca-central-1", "personal", versioned=True)
    s3 = session.client("s3", region_name="ca-central-1")
    s3.put_bucket_encryption(
        Bucket=RESEARCH_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    }
                }
            ]
        },
    )
    s3.put_bucket_replication(
        Bucket=RESEARCH_BUCKET,
        ReplicationConfiguration={
            "Role": f"arn:aws:iam::{account}:role/ue-replication",
            "Rules": [
                {
                    "ID": "backup-copy",
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{REPLICA_BUCKET}"},
                }
            ],
        },
    )
    _bucket(session, WEB_BUCKET, "us-east-1", "public")
    _public_read(session, WEB_BUCKET)
    _bucket(session, PARTNER_BUCKET, "eu-west-3", "confidential")
    _rds(session, "us-west-2")
    _ec2(session, "ca-central-1")


def _research_key(session: boto3.Session) -> str:
    kms = session.client("kms", region_name="ca-central-1")
    key = kms.create_key(
        Description="ue research data",
        Tags=[{"TagKey": CLASSIFICATION_TAG, "TagValue": "personal"}],
    )
    return str(key["KeyMetadata"]["Arn"])


def _bucket(
    session: boto3.Session, name: str, region: str, label: str, *, versioned: bool = False
) -> None:
    s3 = session.client("s3", region_name=region)
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)
    s3.put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": CLASSIFICATION_TAG, "Value": label}]}
    )
    if versioned:  # replication needs versioning on both ends
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _public_read(session: boto3.Session, name: str) -> None:
    s3 = session.client("s3", region_name="us-east-1")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    s3.put_bucket_acl(Bucket=name, ACL="public-read")


def _rds(session: boto3.Session, region: str) -> None:
    rds = session.client("rds", region_name=region)
    rds.create_db_instance(
        DBInstanceIdentifier=RDS_INSTANCE,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="demo",
        MasterUserPassword="demo-not-a-secret",  # moto's in-memory account: not a secret
        StorageEncrypted=True,
        Tags=[{"Key": CLASSIFICATION_TAG, "Value": "personal"}],
    )


def _ec2(session: boto3.Session, region: str) -> None:
    ec2 = session.client("ec2", region_name=region)
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    ec2.run_instances(
        ImageId=images[0]["ImageId"] if images else "ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": "ue-lab-server"},
                    {"Key": CLASSIFICATION_TAG, "Value": "personal"},
                ],
            }
        ],
    )
