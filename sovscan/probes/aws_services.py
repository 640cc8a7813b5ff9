"""The AWS data-holding services the probe inventories, described as data (one ServiceSpec each)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Paths below are a tiny subset of JMESPath: dotted keys, where `Key[]` flattens a list and `@`
# is the item itself (aws.py `dig`). It is enough for every list answer in the table and keeps
# the untyped jmespath package out of the strict-typed probe.


Param = str | bool | tuple[str, ...]
"""A literal call parameter; tuples are sent as lists."""


class Scope(StrEnum):
    """Where a service is listed: once per region, or once per account (a global service)."""

    REGIONAL = "regional"
    GLOBAL = "global"


class Read(StrEnum):
    """How a path's value becomes an attribute value (the interpretation lives in aws.py)."""

    TEXT = "text"  # a string
    BOOL = "bool"  # truthy, with "false"/"disabled" strings read as False
    REGIONS = "regions"  # a list of region names
    ARN_REGIONS = "arn-regions"  # ARNs (or plain ids, meaning this region) -> their regions
    ARN_ACCOUNTS = "arn-accounts"  # ARNs (or plain ids, meaning this account) -> their accounts
    ACCOUNTS = "accounts"  # a list of account ids ("all" dropped: see PUBLIC_GROUP)
    PUBLIC_GROUP = "public-group"  # a list of permission values; "all" means public
    TEXTS = "texts"  # a list of strings
    S3_PUBLIC = "s3-public"  # policy status, ACL grants and public access block of a bucket
    S3_DESTINATIONS = "s3-destinations"  # replication destination bucket ARNs -> their regions
    S3_ACCOUNTS = "s3-accounts"  # replication destinations -> their accounts (absent: this one)
    PRESENT = "present"  # True when the path holds a value, else False
    COPIED_FROM = "copied-from"  # CopySnapshot's default description -> the source region
    RESTORE_PUBLIC = "restore-public"  # RDS snapshot attributes: "all" may restore it
    RESTORE_ACCOUNTS = "restore-accounts"  # RDS snapshot attributes: accounts that may restore it


@dataclass(frozen=True, slots=True)
class Fact:
    """One attribute read from the (list + detail) item: name, path, interpretation."""

    name: str
    path: str
    read: Read = Read.TEXT


@dataclass(frozen=True, slots=True)
class Call:
    """A per-item call whose answer is merged into the item under `into` (or at its top level).

    `params` maps a parameter to a path in the item; `fixed` holds literal parameters.
    `missing_ok` lists error codes that mean "not configured" (the fact is known to be absent)
    rather than "could not see".
    """

    operation: str  # boto3 method name: "describe_table"
    params: tuple[tuple[str, str], ...]
    result: str = "@"
    into: str = ""
    fixed: tuple[tuple[str, Param], ...] = ()
    missing_ok: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One kind of resource: how to list it, where its id is, and which facts to read.

    Encryption is read as: a KMS key at `kms_key` means "kms" (key_manager from the key's
    metadata); else `encrypted` (a path) false means "none"; else encrypted with the service's
    default key, whose manager is `default_key` ("aws-owned" for SSE with service keys, reported
    as encryption "sse"; "aws-managed" for the aws/<service> KMS key, reported as "kms").
    """

    service: str  # segment of asset ids and gap scopes: "ec2", "ebs", "dynamodb"
    kind: str  # "aws.ec2.instance"
    client: str  # boto3 client name
    list_call: str  # boto3 method name
    items: str  # path to the items in one page
    id_key: str  # path to the resource id in the item
    name_key: str | None = None  # path to a human name; defaults to the id
    wrap: str | None = None  # list answers of bare strings become {wrap: value}
    id_prefix: str = ""  # keeps ids of two kinds of one service apart: "cluster/"
    location: str | None = None  # path to the item's own region (S3); None: the listed region
    paginated: bool = True
    list_params: tuple[tuple[str, Param], ...] = ()
    scope: Scope = Scope.REGIONAL
    edge: bool = False  # served from a global edge network rather than one region
    details: tuple[Call, ...] = ()
    tags: str | None = "Tags"
    encrypted: str | None = None
    kms_key: str | None = None
    default_key: str | None = None
    facts: tuple[Fact, ...] = ()
    key_source: bool = False  # KMS keys: listed first so other services can name their manager
    # Path to the item's owning account: items another account owns are not this account's
    # data (AWS's OwnerIds=self already says so; an emulator or a proxy may not).
    owner_key: str | None = None


_S3_DETAILS = (
    Call("get_bucket_location", (("Bucket", "Name"),), "LocationConstraint", "LocationConstraint"),
    Call(
        "get_bucket_encryption",
        (("Bucket", "Name"),),
        "ServerSideEncryptionConfiguration.Rules[].ApplyServerSideEncryptionByDefault",
        "Encryption",
        missing_ok=("ServerSideEncryptionConfigurationNotFoundError",),
    ),
    Call(
        "get_bucket_replication",
        (("Bucket", "Name"),),
        "ReplicationConfiguration.Rules[].Destination",
        "Replication",
        missing_ok=("ReplicationConfigurationNotFoundError",),
    ),
    Call(
        "get_bucket_tagging",
        (("Bucket", "Name"),),
        "TagSet",
        "Tags",
        missing_ok=("NoSuchTagSet", "NoSuchTagSetError"),
    ),
    Call(
        "get_public_access_block",
        (("Bucket", "Name"),),
        "PublicAccessBlockConfiguration",
        "PublicAccessBlock",
        missing_ok=("NoSuchPublicAccessBlockConfiguration",),
    ),
    Call(
        "get_bucket_policy_status",
        (("Bucket", "Name"),),
        "PolicyStatus.IsPublic",
        "PolicyPublic",
        missing_ok=("NoSuchBucketPolicy",),
    ),
    Call("get_bucket_acl", (("Bucket", "Name"),), "Grants[].Grantee", "Grantees"),
    Call(
        "get_object_lock_configuration",
        (("Bucket", "Name"),),
        "ObjectLockConfiguration.ObjectLockEnabled",
        "ObjectLock",
        missing_ok=("ObjectLockConfigurationNotFoundError",),
    ),
)

S3_BUCKETS = ServiceSpec(
    service="s3",
    kind="aws.s3.bucket",
    client="s3",
    list_call="list_buckets",
    items="Buckets[]",
    id_key="Name",
    scope=Scope.GLOBAL,
    location="LocationConstraint",
    details=_S3_DETAILS,
    encrypted=None,
    kms_key="Encryption[].KMSMasterKeyID",
    # Since January 2023 every bucket without a configuration is encrypted with SSE-S3.
    default_key="aws-owned",
    facts=(
        Fact("public", "@", Read.S3_PUBLIC),
        Fact("replica_regions", "Replication[].Bucket", Read.S3_DESTINATIONS),
        Fact("replica_accounts", "Replication", Read.S3_ACCOUNTS),
        Fact("object_lock", "ObjectLock", Read.BOOL),
    ),
)

SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        service="kms",
        kind="aws.kms.key",
        client="kms",
        list_call="list_keys",
        items="Keys[]",
        id_key="KeyId",
        details=(Call("describe_key", (("KeyId", "KeyId"),), "KeyMetadata"),),
        tags=None,
        facts=(
            Fact("kms_key_origin", "Origin"),
            Fact("kms_key_state", "KeyState"),
            Fact("multi_region", "MultiRegion", Read.BOOL),
            Fact("replica_regions", "MultiRegionConfiguration.ReplicaKeys[].Region", Read.REGIONS),
        ),
        key_source=True,
    ),
    S3_BUCKETS,
    ServiceSpec(
        service="ec2",
        kind="aws.ec2.instance",
        client="ec2",
        list_call="describe_instances",
        items="Reservations[].Instances[]",
        id_key="InstanceId",
        facts=(Fact("public", "PublicIpAddress", Read.PRESENT),),
    ),
    ServiceSpec(
        service="ebs",
        kind="aws.ebs.volume",
        client="ec2",
        list_call="describe_volumes",
        items="Volumes[]",
        id_key="VolumeId",
        encrypted="Encrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
    ),
    ServiceSpec(
        service="ebs",
        kind="aws.ebs.snapshot",
        client="ec2",
        list_call="describe_snapshots",
        items="Snapshots[]",
        id_key="SnapshotId",
        list_params=(("OwnerIds", ("self",)),),
        owner_key="OwnerId",
        details=(
            Call(
                "describe_snapshot_attribute",
                (("SnapshotId", "SnapshotId"),),
                "CreateVolumePermissions",
                "Permissions",
                fixed=(("Attribute", "createVolumePermission"),),
            ),
        ),
        encrypted="Encrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(
            Fact("public", "Permissions[].Group", Read.PUBLIC_GROUP),
            Fact("shared_with", "Permissions[].UserId", Read.ACCOUNTS),
            Fact("copied_from_region", "Description", Read.COPIED_FROM),
        ),
    ),
    ServiceSpec(
        service="rds",
        kind="aws.rds.instance",
        client="rds",
        list_call="describe_db_instances",
        items="DBInstances[]",
        id_key="DBInstanceIdentifier",
        tags="TagList",
        encrypted="StorageEncrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(
            Fact("engine", "Engine"),
            Fact("public", "PubliclyAccessible", Read.BOOL),
            Fact("replica_regions", "ReadReplicaDBInstanceIdentifiers", Read.ARN_REGIONS),
            Fact("replica_accounts", "ReadReplicaDBInstanceIdentifiers", Read.ARN_ACCOUNTS),
            Fact(
                "replica_regions",
                "DBInstanceAutomatedBackupsReplications[].DBInstanceAutomatedBackupsArn",
                Read.ARN_REGIONS,
            ),
            Fact("replica_source", "ReadReplicaSourceDBInstanceIdentifier"),
        ),
    ),
    ServiceSpec(
        service="rds",
        kind="aws.rds.cluster",
        client="rds",
        list_call="describe_db_clusters",
        items="DBClusters[]",
        id_key="DBClusterIdentifier",
        id_prefix="cluster/",
        tags="TagList",
        encrypted="StorageEncrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(
            Fact("engine", "Engine"),
            Fact("public", "PubliclyAccessible", Read.BOOL),
            Fact("replica_regions", "ReadReplicaIdentifiers", Read.ARN_REGIONS),
            Fact("replica_accounts", "ReadReplicaIdentifiers", Read.ARN_ACCOUNTS),
            Fact("global_cluster", "GlobalClusterIdentifier"),
        ),
    ),
    ServiceSpec(
        service="rds",
        kind="aws.rds.snapshot",
        client="rds",
        list_call="describe_db_snapshots",
        items="DBSnapshots[]",
        id_key="DBSnapshotIdentifier",
        id_prefix="snapshot/",
        # Manual snapshots only: automated ones stay beside their instance (which reports their
        # cross-region replication) and cannot be shared; copies and shares are manual.
        list_params=(("SnapshotType", "manual"),),
        details=(
            Call(
                "describe_db_snapshot_attributes",
                (("DBSnapshotIdentifier", "DBSnapshotIdentifier"),),
                "DBSnapshotAttributesResult.DBSnapshotAttributes",
                "Attributes",
            ),
        ),
        tags="TagList",
        encrypted="Encrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(
            Fact("public", "Attributes", Read.RESTORE_PUBLIC),
            Fact("shared_with", "Attributes", Read.RESTORE_ACCOUNTS),
            Fact("copied_from_region", "SourceRegion"),
            Fact("snapshot_type", "SnapshotType"),
        ),
    ),
    ServiceSpec(
        service="dynamodb",
        kind="aws.dynamodb.table",
        client="dynamodb",
        list_call="list_tables",
        items="TableNames[]",
        wrap="TableName",
        id_key="TableName",
        details=(
            Call("describe_table", (("TableName", "TableName"),), "Table", "Table"),
            Call("list_tags_of_resource", (("ResourceArn", "Table.TableArn"),), "Tags", "Tags"),
        ),
        kms_key="Table.SSEDescription.KMSMasterKeyArn",
        default_key="aws-owned",
        facts=(Fact("replica_regions", "Table.Replicas[].RegionName", Read.REGIONS),),
    ),
    ServiceSpec(
        service="efs",
        kind="aws.efs.filesystem",
        client="efs",
        list_call="describe_file_systems",
        items="FileSystems[]",
        id_key="FileSystemId",
        name_key="Name",
        details=(
            Call(
                "describe_replication_configurations",
                (("FileSystemId", "FileSystemId"),),
                "Replications[].Destinations[]",
                "Destinations",
                missing_ok=("ReplicationNotFound", "FileSystemNotFound"),
            ),
        ),
        encrypted="Encrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(Fact("replica_regions", "Destinations[].Region", Read.REGIONS),),
    ),
    ServiceSpec(
        service="lambda",
        kind="aws.lambda.function",
        client="lambda",
        list_call="list_functions",
        items="Functions[]",
        id_key="FunctionName",
        details=(Call("list_tags", (("Resource", "FunctionArn"),), "Tags", "Tags"),),
        kms_key="KMSKeyArn",
        default_key="aws-owned",
    ),
    ServiceSpec(
        service="ecr",
        kind="aws.ecr.repository",
        client="ecr",
        list_call="describe_repositories",
        items="repositories[]",
        id_key="repositoryName",
        details=(
            Call("list_tags_for_resource", (("resourceArn", "repositoryArn"),), "tags", "Tags"),
            # Replication is set per registry (region); its repository filters are not read, so
            # every repository is reported as possibly copied: the cautious reading.
            Call(
                "describe_registry",
                (),
                "replicationConfiguration.rules[].destinations[]",
                "Replication",
            ),
        ),
        kms_key="encryptionConfiguration.kmsKey",
        default_key="aws-owned",
        facts=(
            Fact("replica_regions", "Replication[].region", Read.REGIONS),
            Fact("replica_accounts", "Replication[].registryId", Read.ACCOUNTS),
        ),
    ),
    ServiceSpec(
        service="secretsmanager",
        kind="aws.secretsmanager.secret",
        client="secretsmanager",
        list_call="list_secrets",
        items="SecretList[]",
        id_key="Name",
        details=(
            Call("describe_secret", (("SecretId", "ARN"),), "ReplicationStatus", "Replication"),
        ),
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(
            Fact("replica_regions", "Replication[].Region", Read.REGIONS),
            Fact("primary_region", "PrimaryRegion"),
        ),
    ),
    ServiceSpec(
        service="backup",
        kind="aws.backup.vault",
        client="backup",
        list_call="list_backup_vaults",
        items="BackupVaultList[]",
        id_key="BackupVaultName",
        tags=None,
        kms_key="EncryptionKeyArn",
        default_key="aws-managed",
    ),
    ServiceSpec(
        service="backup",
        kind="aws.backup.plan",
        client="backup",
        list_call="list_backup_plans",
        items="BackupPlansList[]",
        id_key="BackupPlanId",
        id_prefix="plan/",
        name_key="BackupPlanName",
        details=(
            Call(
                "get_backup_plan",
                (("BackupPlanId", "BackupPlanId"),),
                "BackupPlan.Rules[].CopyActions[].DestinationBackupVaultArn",
                "Copies",
            ),
        ),
        tags=None,
        facts=(
            Fact("replica_regions", "Copies", Read.ARN_REGIONS),
            Fact("replica_accounts", "Copies", Read.ARN_ACCOUNTS),
        ),
    ),
    ServiceSpec(
        service="cloudtrail",
        kind="aws.cloudtrail.trail",
        client="cloudtrail",
        list_call="describe_trails",
        items="trailList[]",
        id_key="Name",
        paginated=False,
        # A multi-region trail also appears as a "shadow" in every other region: list it once.
        list_params=(("includeShadowTrails", False),),
        tags=None,
        kms_key="KmsKeyId",
        default_key="aws-owned",
        facts=(
            Fact("log_bucket", "S3BucketName"),
            Fact("multi_region", "IsMultiRegionTrail", Read.BOOL),
            Fact("home_region", "HomeRegion"),
        ),
    ),
    ServiceSpec(
        service="logs",
        kind="aws.logs.group",
        client="logs",
        list_call="describe_log_groups",
        items="logGroups[]",
        id_key="logGroupName",
        tags=None,
        kms_key="kmsKeyId",
        default_key="aws-owned",
    ),
    ServiceSpec(
        service="sqs",
        kind="aws.sqs.queue",
        client="sqs",
        list_call="list_queues",
        items="QueueUrls[]",
        wrap="QueueUrl",
        id_key="QueueUrl",
        details=(
            Call(
                "get_queue_attributes",
                (("QueueUrl", "QueueUrl"),),
                "Attributes",
                "Attributes",
                fixed=(("AttributeNames", ("All",)),),
            ),
            Call("list_queue_tags", (("QueueUrl", "QueueUrl"),), "Tags", "Tags"),
        ),
        encrypted="Attributes.SqsManagedSseEnabled",
        kms_key="Attributes.KmsMasterKeyId",
        default_key="aws-owned",
    ),
    ServiceSpec(
        service="sns",
        kind="aws.sns.topic",
        client="sns",
        list_call="list_topics",
        items="Topics[]",
        id_key="TopicArn",
        details=(
            Call("get_topic_attributes", (("TopicArn", "TopicArn"),), "Attributes", "Attributes"),
            Call("list_tags_for_resource", (("ResourceArn", "TopicArn"),), "Tags", "Tags"),
        ),
        kms_key="Attributes.KmsMasterKeyId",
        encrypted="Attributes.KmsMasterKeyId",
    ),
    ServiceSpec(
        service="redshift",
        kind="aws.redshift.cluster",
        client="redshift",
        list_call="describe_clusters",
        items="Clusters[]",
        id_key="ClusterIdentifier",
        encrypted="Encrypted",
        kms_key="KmsKeyId",
        default_key="aws-managed",
        facts=(Fact("public", "PubliclyAccessible", Read.BOOL),),
    ),
    ServiceSpec(
        service="opensearch",
        kind="aws.opensearch.domain",
        client="opensearch",
        list_call="list_domain_names",
        items="DomainNames[]",
        id_key="DomainName",
        paginated=False,
        details=(
            Call("describe_domain", (("DomainName", "DomainName"),), "DomainStatus", "Domain"),
        ),
        tags=None,
        encrypted="Domain.EncryptionAtRestOptions.Enabled",
        kms_key="Domain.EncryptionAtRestOptions.KmsKeyId",
        default_key="aws-managed",
    ),
    ServiceSpec(
        service="elasticache",
        kind="aws.elasticache.replication-group",
        client="elasticache",
        list_call="describe_replication_groups",
        items="ReplicationGroups[]",
        id_key="ReplicationGroupId",
        tags=None,
        encrypted="AtRestEncryptionEnabled",
        kms_key="KmsKeyId",
        default_key="aws-owned",
        facts=(
            Fact("global_replication_group", "GlobalReplicationGroupInfo.GlobalReplicationGroupId"),
        ),
    ),
    ServiceSpec(
        service="cloudfront",
        kind="aws.cloudfront.distribution",
        client="cloudfront",
        list_call="list_distributions",
        items="DistributionList.Items[]",
        id_key="Id",
        name_key="DomainName",
        scope=Scope.GLOBAL,
        edge=True,
        tags=None,
        facts=(Fact("origins", "Origins.Items[].DomainName", Read.TEXTS),),
    ),
    ServiceSpec(
        service="route53",
        kind="aws.route53.zone",
        client="route53",
        list_call="list_hosted_zones",
        items="HostedZones[]",
        id_key="Id",
        name_key="Name",
        scope=Scope.GLOBAL,
        edge=True,
        tags=None,
        facts=(Fact("private_zone", "Config.PrivateZone", Read.BOOL),),
    ),
)
"""Every service the probe lists; KMS first (key_source) so others can name their key manager."""
