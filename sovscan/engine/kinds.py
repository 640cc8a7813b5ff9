"""The asset kinds probes produce, so rules' `applies_to` globs can be checked against them."""

from __future__ import annotations

from fnmatch import fnmatchcase

KNOWN_ASSET_KINDS: tuple[str, ...] = (
    "aws.account",
    "aws.backup.plan",
    "aws.backup.vault",
    "aws.cloudfront.distribution",
    "aws.cloudtrail.trail",
    "aws.dynamodb.table",
    "aws.ebs.snapshot",
    "aws.ebs.volume",
    "aws.ec2.instance",
    "aws.ecr.repository",
    "aws.efs.filesystem",
    "aws.elasticache.replication-group",
    "aws.kms.key",
    "aws.lambda.function",
    "aws.logs.group",
    "aws.opensearch.domain",
    "aws.rds.cluster",
    "aws.rds.instance",
    "aws.rds.snapshot",
    "aws.redshift.cluster",
    "aws.route53.zone",
    "aws.s3.bucket",
    "aws.secretsmanager.secret",
    "aws.sns.topic",
    "aws.sqs.queue",
    "dns.caa",
    "dns.dkim",
    "dns.dmarc",
    "dns.host",
    "dns.mailbox",
    "dns.mx",
    "dns.ns",
    "dns.soa",
    "dns.spf",
    "dns.srv",
    "dns.txt",
    "saas.endpoint",
    "saas.tenant",
)
"""Every kind some probe produces; a probe adding a kind adds it here (the corpus test reads it)."""


def kind_matches(pattern: str, kind: str) -> bool:
    """Whether an `applies_to` glob (``aws.rds.*``, ``*``) covers the asset kind `kind`."""
    return fnmatchcase(kind, pattern)


def known_kinds_matching(pattern: str) -> tuple[str, ...]:
    """The known kinds a glob covers; empty means the pattern names nothing a probe produces."""
    return tuple(kind for kind in KNOWN_ASSET_KINDS if fnmatchcase(kind, pattern))
