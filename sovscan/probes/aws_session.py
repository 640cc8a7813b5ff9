"""AWS credentials for the probe: a profile, an assumed role, the default chain, and the
member accounts of an AWS Organization."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from sovscan.bounds import bounded
from sovscan.config import AwsSource
from sovscan.errors import ProbeError
from sovscan.model import Gap

GLOBAL_REGIONS: Mapping[str, str] = MappingProxyType(
    {
        # Where each partition's global services (IAM, S3 listing, Organizations, CloudFront,
        # Route 53) answer, and where STS is asked when no region is configured.
        "aws": "us-east-1",
        "aws-us-gov": "us-gov-west-1",
        "aws-cn": "cn-north-1",
        "aws-eusc": "eusc-de-east-1",
    }
)

_STS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, user_agent_extra="sovscan")


def session_for(source: AwsSource) -> boto3.Session:
    """The session the probe uses for `source`: its profile (or the default credential chain),
    then `role_arn` assumed through STS when set (with `external_id`).

    Honours the standard environment, AWS_ENDPOINT_URL included. Raises ProbeError with one line
    that never contains credentials when the profile is unknown or the role cannot be assumed.
    """
    try:
        base = boto3.Session(profile_name=source.profile) if source.profile else boto3.Session()
    except ProfileNotFound:
        raise ProbeError(
            f"aws: profile {bounded(source.profile or '', 80)!r} is not in the AWS config files"
        ) from None
    if source.role_arn is None:
        return base
    return assume_role(base, source.role_arn, external_id=source.external_id)


def assume_role(
    session: boto3.Session,
    role_arn: str,
    *,
    external_id: str | None = None,
    session_name: str = "sovscan",
) -> boto3.Session:
    """A session with the temporary credentials of `role_arn`, assumed from `session`.

    The credentials last an hour (STS's default), longer than a scan of one account takes.
    Raises ProbeError("aws: cannot assume role <arn> (<error code>)") on any failure.
    """
    parts = role_arn.split(":")
    partition = parts[1] if len(parts) > 1 else "aws"
    region = session.region_name or GLOBAL_REGIONS.get(partition, "us-east-1")
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
    if external_id:
        params["ExternalId"] = external_id
    try:
        sts = session.client("sts", region_name=region, config=_STS_CONFIG)
        credentials = sts.assume_role(**params)["Credentials"]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "ClientError")
        raise ProbeError(f"aws: cannot assume role {bounded(role_arn, 200)} ({code})") from None
    except BotoCoreError as exc:
        raise ProbeError(
            f"aws: cannot assume role {bounded(role_arn, 200)} ({type(exc).__name__})"
        ) from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """The root or an organizational unit on an account's path."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class MemberAccount:
    """One active account of an AWS Organization, where it sits, and the SCPs that reach it.

    `scps` is (policy name, JSON document) for every SCP attached to the root, each OU on the
    path and the account itself; None when they could not be read (unknown, not "none").
    """

    id: str
    name: str
    path: tuple[OrgUnit, ...]  # the root first, down to the account's parent
    management: bool  # SCPs never apply to the management account
    scps: tuple[tuple[str, str], ...] | None


@dataclass(frozen=True, slots=True)
class Organization:
    """The accounts the management (or delegated administrator) account can list."""

    management_account: str
    accounts: tuple[MemberAccount, ...]
    gaps: tuple[Gap, ...]


def read_organization(session: boto3.Session) -> Organization:
    """List the Organization's active accounts with their OU path and attached SCPs.

    Calls are sequential and cached per OU and per policy: Organizations allows only a few
    requests per second per account. Raises ProbeError when the accounts cannot be listed at
    all (not a management or delegated administrator account); an unreadable SCP is a Gap.
    """
    partition = session.get_partition_for_region(session.region_name or "us-east-1")
    region = GLOBAL_REGIONS.get(partition, "us-east-1")
    orgs = session.client("organizations", region_name=region, config=_ORG_CONFIG)
    try:
        management = str(orgs.describe_organization()["Organization"]["MasterAccountId"])
        listed = [
            account
            for page in orgs.get_paginator("list_accounts").paginate()
            for account in page["Accounts"]
            # `State` replaces the deprecated `Status`; a suspended account holds no scope.
            if (account.get("State") or account.get("Status") or "ACTIVE") == "ACTIVE"
        ]
    except (ClientError, BotoCoreError) as exc:
        raise ProbeError(f"aws: cannot list the organization's accounts ({_code(exc)})") from None
    reader = _OrgReader(orgs, management)
    accounts = tuple(
        reader.account(str(a["Id"]), bounded(str(a.get("Name", "")), 200)) for a in listed
    )
    return Organization(management, tuple(sorted(accounts, key=lambda a: a.id)), reader.gaps())


def member_session(
    session: boto3.Session, account: str, role_name: str, *, external_id: str | None = None
) -> boto3.Session:
    """A session in member `account` through `role_name`; raises ProbeError (one line)."""
    partition = session.get_partition_for_region(session.region_name or "us-east-1")
    return assume_role(
        session, f"arn:{partition}:iam::{account}:role/{role_name}", external_id=external_id
    )


_ORG_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, user_agent_extra="sovscan")


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


class _OrgReader:
    """Organizations lookups with caches, so each OU and each policy is read once."""

    def __init__(self, client: Any, management: str) -> None:
        self._client = client
        self._management = management
        self._parents: dict[str, tuple[str, str]] = {}
        self._names: dict[str, str] = {}
        self._targets: dict[str, tuple[str, ...] | None] = {}
        self._documents: dict[str, tuple[str, str] | None] = {}
        self._gaps: set[Gap] = set()

    def gaps(self) -> tuple[Gap, ...]:
        return tuple(sorted(self._gaps, key=lambda g: (g.scope, g.reason)))

    def account(self, account_id: str, name: str) -> MemberAccount:
        path = self._path(account_id)
        scps = None if path is None else self._scps([*(unit.id for unit in path), account_id])
        return MemberAccount(account_id, name, path or (), account_id == self._management, scps)

    def _path(self, child: str) -> tuple[OrgUnit, ...] | None:
        units: list[OrgUnit] = []
        try:
            while True:
                parent, kind = self._parent(child)
                units.append(OrgUnit(parent, self._name(parent, kind)))
                if kind == "ROOT" or len(units) > 10:  # AWS allows five levels of OUs
                    break
                child = parent
        except (ClientError, BotoCoreError) as exc:
            self._gap(exc, "ListParents")
            return None
        return tuple(reversed(units))

    def _parent(self, child: str) -> tuple[str, str]:
        if child not in self._parents:
            parent = self._client.list_parents(ChildId=child)["Parents"][0]
            self._parents[child] = (str(parent["Id"]), str(parent["Type"]))
        return self._parents[child]

    def _name(self, unit: str, kind: str) -> str:
        if kind == "ROOT":
            return "Root"
        if unit not in self._names:
            answer = self._client.describe_organizational_unit(OrganizationalUnitId=unit)
            self._names[unit] = bounded(str(answer["OrganizationalUnit"].get("Name", unit)), 128)
        return self._names[unit]

    def _scps(self, targets: list[str]) -> tuple[tuple[str, str], ...] | None:
        found: list[tuple[str, str]] = []
        for target in targets:
            policy_ids = self._policies(target)
            if policy_ids is None:
                return None
            for policy_id in policy_ids:
                document = self._document(policy_id)
                if document is None:
                    return None
                found.append(document)
        return tuple(found)

    def _policies(self, target: str) -> tuple[str, ...] | None:
        if target not in self._targets:
            try:
                pages = self._client.get_paginator("list_policies_for_target").paginate(
                    TargetId=target, Filter="SERVICE_CONTROL_POLICY"
                )
                self._targets[target] = tuple(
                    str(p["Id"]) for page in pages for p in page["Policies"]
                )
            except (ClientError, BotoCoreError) as exc:
                self._gap(exc, "ListPoliciesForTarget")
                self._targets[target] = None
        return self._targets[target]

    def _document(self, policy_id: str) -> tuple[str, str] | None:
        if policy_id not in self._documents:
            try:
                policy = self._client.describe_policy(PolicyId=policy_id)["Policy"]
                name = str(policy["PolicySummary"].get("Name") or policy_id)
                self._documents[policy_id] = (bounded(name, 128), str(policy["Content"]))
            except (ClientError, BotoCoreError) as exc:
                self._gap(exc, "DescribePolicy")
                self._documents[policy_id] = None
        return self._documents[policy_id]

    def _gap(self, exc: Exception, operation: str) -> None:
        scope = f"aws:{self._management}:global:organizations"
        self._gaps.add(Gap(scope, f"{_code(exc)}: organizations:{operation}"))
