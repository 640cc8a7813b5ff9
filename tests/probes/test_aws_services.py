"""One moto resource per ServiceSpec in, the expected asset and facts out."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sovscan.model import Asset, Gap
from sovscan.probes.aws_services import SERVICES, ServiceSpec
from tests.probes.aws_fixtures import ACCOUNT, REPO, demo_module, new_session, scan, set_fake_env

HOME = "ca-central-1"
Expected = dict[str, Any]
Case = tuple[str, Expected]  # the asset's name, and attributes it must have


def _kms_key(s: boto3.Session, region: str = HOME, **kwargs: Any) -> str:
    key = s.client("kms", region_name=region).create_key(**kwargs)
    return str(key["KeyMetadata"]["Arn"])


def kms_external_key_store(s: boto3.Session) -> Case:
    arn = _kms_key(s, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId="cks-1234567890abcdef0")
    return arn.rsplit("/", 1)[-1], {
        "kms_key_origin": "EXTERNAL_KEY_STORE",
        "key_manager": "external-key-store",
    }


def kms_multi_region(s: boto3.Session) -> Case:
    kms = s.client("kms", region_name=HOME)
    key = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key, ReplicaRegion="eu-west-1")
    return key, {"multi_region": True, "replica_regions": ("eu-west-1",), "key_manager": "customer"}


def ebs_volume(s: boto3.Session) -> Case:
    key = _kms_key(s, Origin="EXTERNAL")
    volume = s.client("ec2", region_name=HOME).create_volume(
        AvailabilityZone=f"{HOME}a",
        Size=1,
        Encrypted=True,
        KmsKeyId=key,
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "DataClassification", "Value": "personal"}]}
        ],
    )
    return volume["VolumeId"], {
        "encryption": "kms",
        "key_manager": "customer",
        "kms_key_origin": "EXTERNAL",
        "classification": "personal",
    }


def ebs_snapshot(s: boto3.Session) -> Case:
    ec2 = s.client("ec2", region_name=HOME)
    volume = ec2.create_volume(AvailabilityZone=f"{HOME}a", Size=1)
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot["SnapshotId"],
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
        UserIds=["210987654321"],
    )
    return snapshot["SnapshotId"], {
        "public": True,
        "shared_with": ("210987654321",),
        "encryption": "none",
    }


def ebs_snapshot_copy(s: boto3.Session) -> Case:
    source = s.client("ec2", region_name="us-east-1")
    volume = source.create_volume(AvailabilityZone="us-east-1a", Size=1)
    original = source.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    copy = s.client("ec2", region_name=HOME).copy_snapshot(
        SourceRegion="us-east-1",
        SourceSnapshotId=original,
        Description=f"[Copied {original} from us-east-1]",  # what AWS writes by default
    )
    return copy["SnapshotId"], {"copied_from_region": "us-east-1"}


def rds_cross_region_replica(s: boto3.Session) -> Case:
    primary = s.client("rds", region_name=HOME).create_db_instance(
        DBInstanceIdentifier="primary",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="not-a-secret",
    )
    s.client("rds", region_name="us-west-2").create_db_instance_read_replica(
        DBInstanceIdentifier="replica",
        SourceDBInstanceIdentifier=primary["DBInstance"]["DBInstanceArn"],
    )
    return "primary", {
        "replica_regions": ("us-west-2",),
        "engine": "postgres",
        "encryption": "none",
    }


def rds_shared_snapshot(s: boto3.Session) -> Case:
    rds = s.client("rds", region_name=HOME)
    rds.create_db_instance(
        DBInstanceIdentifier="source-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
    )
    rds.create_db_snapshot(DBSnapshotIdentifier="grades-2026", DBInstanceIdentifier="source-db")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="grades-2026",
        AttributeName="restore",
        ValuesToAdd=["all", "210987654321"],
    )
    return "grades-2026", {"public": True, "shared_with": ("210987654321",)}


def rds_cluster(s: boto3.Session) -> Case:
    s.client("rds", region_name=HOME).create_db_cluster(
        DBClusterIdentifier="aurora",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="not-a-secret",
        StorageEncrypted=True,
        KmsKeyId=_kms_key(s),
    )
    return "aurora", {"engine": "aurora-postgresql", "encryption": "kms", "key_manager": "customer"}


def dynamodb_global_table(s: boto3.Session) -> Case:
    ddb = s.client("dynamodb", region_name=HOME)
    ddb.create_table(
        TableName="grades",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "DataClassification", "Value": "personal"}],
    )
    # moto does not model global table replicas: add AWS's answer for one to moto's own.
    s.events.register("after-call.dynamodb.DescribeTable", _with_replica)
    return "grades", {
        "replica_regions": ("eu-west-1",),
        "encryption": "sse",
        "key_manager": "aws-owned",
        "classification": "personal",
    }


def _with_replica(parsed: dict[str, Any], **_: Any) -> None:
    parsed["Table"]["Replicas"] = [{"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"}]


def _efs_replication(**_: Any) -> tuple[object, dict[str, Any]]:
    # moto has no EFS replication: answer as AWS does for a file system replicated to us-east-1.
    destination = {"Status": "ENABLED", "Region": "us-east-1", "FileSystemId": "fs-0123"}
    replication = {"SourceFileSystemId": "fs-source", "Destinations": [destination]}
    answer = {"Replications": [replication], "ResponseMetadata": {"HTTPStatusCode": 200}}
    return SimpleNamespace(status_code=200), answer


def efs_filesystem(s: boto3.Session) -> Case:
    s.events.register_first("before-call.efs.DescribeReplicationConfigurations", _efs_replication)
    s.client("efs", region_name=HOME).create_file_system(
        CreationToken="home-dirs", Encrypted=True, Tags=[{"Key": "Name", "Value": "home-dirs"}]
    )
    return "home-dirs", {
        "encryption": "kms",
        "tag:Name": None,  # the name is the asset's name; no tag but the classification is kept
        "replica_regions": ("us-east-1",),
    }


def lambda_function(s: boto3.Session) -> Case:
    role = s.client("iam", region_name="us-east-1").create_role(
        RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    s.client("lambda", region_name=HOME).create_function(
        FunctionName="grader",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": buffer.getvalue()},
        Tags={"DataClassification": "confidential"},
    )
    return "grader", {
        "classification": "confidential",
        "encryption": "sse",
        "key_manager": "aws-owned",
    }


def ecr_repository(s: boto3.Session) -> Case:
    ecr = s.client("ecr", region_name=HOME)
    ecr.create_repository(
        repositoryName="apps/web",
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": _kms_key(s)},
    )
    destination = {"region": "eu-west-1", "registryId": "210987654321"}
    ecr.put_replication_configuration(
        replicationConfiguration={"rules": [{"destinations": [destination]}]}
    )
    return "apps/web", {
        "encryption": "kms",
        "key_manager": "customer",
        "replica_regions": ("eu-west-1",),
        "replica_accounts": ("210987654321",),
    }


def s3_cross_account_replication(s: boto3.Session) -> Case:
    s3 = s.client("s3", region_name=HOME)
    s3.create_bucket(Bucket="ue-archive", CreateBucketConfiguration={"LocationConstraint": HOME})
    s3.put_bucket_versioning(Bucket="ue-archive", VersioningConfiguration={"Status": "Enabled"})
    destination = {"Bucket": "arn:aws:s3:::partner-vault", "Account": "210987654321"}
    rule = {
        "ID": "out",
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": destination,
    }
    s3.put_bucket_replication(
        Bucket="ue-archive",
        ReplicationConfiguration={"Role": f"arn:aws:iam::{ACCOUNT}:role/r", "Rules": [rule]},
    )  # fmt: skip
    # Another account's bucket: its region cannot be read here, so it stays unknown.
    return "ue-archive", {"replica_accounts": ("210987654321",), "replica_regions": None}


def secret_with_replica(s: boto3.Session) -> Case:
    s.client("secretsmanager", region_name=HOME).create_secret(
        Name="db-password",
        SecretString="not-a-secret",
        AddReplicaRegions=[{"Region": "us-east-1"}],
    )
    return "db-password", {"replica_regions": ("us-east-1",), "key_manager": "aws-managed"}


def backup_vault(s: boto3.Session) -> Case:
    s.client("backup", region_name=HOME).create_backup_vault(
        BackupVaultName="vault", EncryptionKeyArn=_kms_key(s)
    )
    return "vault", {"encryption": "kms", "key_manager": "customer"}


def backup_plan_copy(s: boto3.Session) -> Case:
    s.client("backup", region_name=HOME).create_backup_plan(
        BackupPlan={
            "BackupPlanName": "nightly",
            "Rules": [
                {
                    "RuleName": "copy-out",
                    "TargetBackupVaultName": "Default",
                    "CopyActions": [
                        {
                            "DestinationBackupVaultArn": (
                                "arn:aws:backup:us-east-2:210987654321:backup-vault:offsite"
                            )
                        }
                    ],
                }
            ],
        }
    )
    return "nightly", {"replica_regions": ("us-east-2",), "replica_accounts": ("210987654321",)}


def cloudtrail_trail(s: boto3.Session) -> Case:
    s.client("s3", region_name="us-east-1").create_bucket(Bucket="trail-logs")
    s.client("cloudtrail", region_name=HOME).create_trail(
        Name="org-trail", S3BucketName="trail-logs", IsMultiRegionTrail=True
    )
    return "org-trail", {"log_bucket": "trail-logs", "multi_region": True, "home_region": HOME}


def log_group(s: boto3.Session) -> Case:
    s.client("logs", region_name=HOME).create_log_group(
        logGroupName="/app/web", kmsKeyId=_kms_key(s)
    )
    return "/app/web", {"encryption": "kms", "key_manager": "customer"}


def sqs_queue(s: boto3.Session) -> Case:
    s.client("sqs", region_name=HOME).create_queue(
        QueueName="jobs",
        Attributes={"KmsMasterKeyId": "alias/aws/sqs"},
        tags={"DataClassification": "personal"},
    )
    return "jobs", {"encryption": "kms", "key_manager": "aws-managed", "classification": "personal"}


def sns_topic(s: boto3.Session) -> Case:
    s.client("sns", region_name=HOME).create_topic(Name="alerts")
    return "alerts", {"encryption": "none"}


def redshift_cluster(s: boto3.Session) -> Case:
    s.client("redshift", region_name=HOME).create_cluster(
        ClusterIdentifier="warehouse",
        NodeType="dc2.large",
        MasterUsername="admin",
        MasterUserPassword="Not-a-secret1",
        Encrypted=True,
        KmsKeyId=_kms_key(s, Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-0123456789abcdef0"),
        PubliclyAccessible=False,
    )
    return "warehouse", {"encryption": "kms", "key_manager": "cloudhsm", "public": False}


def opensearch_domain(s: boto3.Session) -> Case:
    s.client("opensearch", region_name=HOME).create_domain(
        DomainName="search", EncryptionAtRestOptions={"Enabled": True}
    )
    return "search", {"encryption": "kms", "key_manager": "aws-managed"}


def elasticache_group(s: boto3.Session) -> Case:
    s.client("elasticache", region_name=HOME).create_replication_group(
        ReplicationGroupId="sessions",
        ReplicationGroupDescription="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        AtRestEncryptionEnabled=False,
    )
    return "sessions", {"encryption": "none"}


def cloudfront_distribution(s: boto3.Session) -> Case:
    distribution = s.client("cloudfront", region_name="us-east-1").create_distribution(
        DistributionConfig={
            "CallerReference": "web",
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "web",
                        "DomainName": "ue-web-assets.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "web",
                "ViewerProtocolPolicy": "allow-all",
                "MinTTL": 0,
            },
        }
    )
    return distribution["Distribution"]["DomainName"], {
        "edge": True,
        "origins": ("ue-web-assets.s3.amazonaws.com",),
    }


def route53_zone(s: boto3.Session) -> Case:
    s.client("route53", region_name="us-east-1").create_hosted_zone(
        Name="universite.example", CallerReference="zone"
    )
    return "universite.example.", {"edge": True, "private_zone": False}


CASES: dict[str, list[Callable[[boto3.Session], Case]]] = {
    "aws.kms.key": [kms_external_key_store, kms_multi_region],
    "aws.ebs.volume": [ebs_volume],
    "aws.ebs.snapshot": [ebs_snapshot, ebs_snapshot_copy],
    "aws.ec2.instance": [],  # the demo estate covers it (test_aws_probe.py)
    "aws.s3.bucket": [s3_cross_account_replication],  # and the demo estate (test_aws_probe.py)
    "aws.rds.instance": [rds_cross_region_replica],
    "aws.rds.cluster": [rds_cluster],
    "aws.rds.snapshot": [rds_shared_snapshot],
    "aws.dynamodb.table": [dynamodb_global_table],
    "aws.efs.filesystem": [efs_filesystem],
    "aws.lambda.function": [lambda_function],
    "aws.ecr.repository": [ecr_repository],
    "aws.secretsmanager.secret": [secret_with_replica],
    "aws.backup.vault": [backup_vault],
    "aws.backup.plan": [backup_plan_copy],
    "aws.cloudtrail.trail": [cloudtrail_trail],
    "aws.logs.group": [log_group],
    "aws.sqs.queue": [sqs_queue],
    "aws.sns.topic": [sns_topic],
    "aws.redshift.cluster": [redshift_cluster],
    "aws.opensearch.domain": [opensearch_domain],
    "aws.elasticache.replication-group": [elasticache_group],
    "aws.cloudfront.distribution": [cloudfront_distribution],
    "aws.route53.zone": [route53_zone],
}
MAKERS = [make for makers in CASES.values() for make in makers]

Estate = tuple[dict[str, Asset], list[Gap], dict[str, Case], set[tuple[str, str]]]


@pytest.fixture(scope="module")
def estate() -> Estate:
    """Every case's resource and the demo estate in one moto account, scanned once (a scan is
    the slow part), with every API call the probe made as (IAM prefix, operation)."""
    with pytest.MonkeyPatch.context() as patch:
        set_fake_env(patch)
        with mock_aws():
            session = new_session()
            cases = {make.__name__: make(session) for make in MAKERS}
            demo_module().populate(session)
            calls: set[tuple[str, str]] = set()

            def record(model: Any, **_: Any) -> None:
                calls.add((model.service_model.signing_name, model.name))

            # Emitted before "before-call", so hooks that answer in moto's place hide no call.
            session.events.register("before-parameter-build", record)
            assets, gaps = scan(session, regions=(HOME,))
    return assets, gaps, cases, calls


def test_every_service_spec_has_a_case() -> None:
    assert {spec.kind for spec in SERVICES} == set(CASES)
    assert len({spec.kind for spec in SERVICES}) == len(SERVICES)


def test_the_estate_is_seen_whole(estate: Estate) -> None:
    assert estate[1] == []


@pytest.mark.parametrize(
    ("kind", "make"),
    [(kind, make) for kind, makers in CASES.items() for make in makers],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_service_spec(estate: Estate, kind: str, make: Callable[[boto3.Session], Case]) -> None:
    assets, _, cases, _ = estate
    name, expected = cases[make.__name__]
    found = [a for a in assets.values() if a.kind == kind and a.name == name]
    assert len(found) == 1, sorted(a.name for a in assets.values() if a.kind == kind)
    asset = found[0]
    for attribute, value in expected.items():
        assert asset.attributes.get(attribute) == value, attribute
    assert asset.attributes["account"] == ACCOUNT
    assert asset.attributes["provider"] == "aws"
    assert asset.id.startswith(f"aws:{ACCOUNT}:")
    if asset.attributes.get("edge"):
        assert asset.attributes["region"] == "GLOBAL"  # the region table's edge pseudo-region
        assert ":global:" in asset.id
    else:
        assert asset.attributes["region"] in {HOME, "us-east-1"}
    assert asset.evidence
    assert asset.evidence[0].source.startswith("aws:")


def test_ids_of_two_kinds_of_one_service_stay_apart(estate: Estate) -> None:
    assets = estate[0]
    assert f"aws:{ACCOUNT}:rds:{HOME}:cluster/aurora" in assets
    assert f"aws:{ACCOUNT}:rds:{HOME}:primary" in assets
    assert f"aws:{ACCOUNT}:sqs:{HOME}:jobs" in assets  # the queue URL's last segment


# Where an S3 operation and the IAM action that allows it have different names.
S3_ACTIONS = {
    "ListBuckets": "ListAllMyBuckets",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "GetBucketReplication": "GetReplicationConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
}
POLICY = REPO / "sovscan" / "data" / "iam-policy.json"


def _policy_actions() -> set[str]:
    """The inventory statement: what the probe needs in every account it scans."""
    document = json.loads(POLICY.read_text(encoding="utf-8"))
    (statement,) = [s for s in document["Statement"] if s["Sid"] == "SovscanReadOnlyInventory"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "*"
    assert "NotAction" not in statement
    actions = statement["Action"]
    assert actions == sorted(actions)
    return set(actions)


def test_the_policy_allows_exactly_the_calls_made(estate: Estate) -> None:
    calls = estate[3]
    made = {
        f"{prefix}:{S3_ACTIONS.get(name, name) if prefix == 's3' else name}"
        for prefix, name in calls
    }
    allowed = _policy_actions()
    assert made - allowed == set(), "calls the shipped policy does not allow"
    assert allowed - made == set(), "policy actions the probe never uses"


def test_the_probe_never_calls_a_mutating_api(estate: Estate) -> None:
    read_only = re.compile(r"^(List|Describe|Get)[A-Z]")
    assert estate[3]
    assert [name for _, name in sorted(estate[3]) if not read_only.match(name)] == []
    assert all(read_only.match(action.split(":")[1]) for action in _policy_actions())


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.kind)
def test_spec_names_real_operations(spec: ServiceSpec) -> None:
    """A typo in the table fails here, without moto: every call exists in botocore's model."""
    client = new_session().client(spec.client)  # type: ignore[call-overload]
    operations = {spec.list_call, *(call.operation for call in spec.details)}
    assert all(callable(getattr(client, name, None)) for name in operations), operations
    model = client.meta.service_model
    for call in spec.details:
        shape = model.operation_model(client.meta.method_to_api_mapping[call.operation])
        members = shape.input_shape.members if shape.input_shape else {}
        sent = {name for name, _ in call.params} | {name for name, _ in call.fixed}
        assert sent <= set(members), (call.operation, sent - set(members))
    assert spec.kind.startswith(f"aws.{spec.service}.")
