"""AWS Organizations: every member account through a role, its OU, and its region guardrail."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sovscan.config import AwsSource
from sovscan.errors import ProbeError
from sovscan.model import Asset, Gap
from sovscan.probes.aws import AwsOrganizationProbe
from sovscan.probes.aws_services import SERVICES
from sovscan.probes.aws_session import member_session, read_organization
from tests.probes.aws_fixtures import ACCOUNT, REPO, aws_env, fail_calls, session

__all__ = ["aws_env", "session"]

ROLE = "OrganizationAccountAccessRole"
REGION_LOCK = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyOutsideCanada",
            "Effect": "Deny",
            "NotAction": ["iam:*", "sts:*", "organizations:*", "cloudfront:*", "route53:*"],
            "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:RequestedRegion": ["ca-central-1"]}},
        }
    ],
}


class Org:
    """A management account with three members: one under a region-locked OU, one at the
    root without a guardrail, one whose audit role cannot be assumed."""

    def __init__(self, session: boto3.Session) -> None:
        orgs = session.client("organizations", region_name="us-east-1")
        orgs.create_organization(FeatureSet="ALL")
        root = orgs.list_roots()["Roots"][0]["Id"]
        self.ou = orgs.create_organizational_unit(ParentId=root, Name="Research")[
            "OrganizationalUnit"
        ]["Id"]
        self.lab = self._account(orgs, "lab")
        self.admin = self._account(orgs, "admin")
        self.broken = self._account(orgs, "broken")
        orgs.move_account(AccountId=self.lab, SourceParentId=root, DestinationParentId=self.ou)
        policy = orgs.create_policy(
            Content=json.dumps(REGION_LOCK),
            Description="Canada only",
            Name="region-lock",
            Type="SERVICE_CONTROL_POLICY",
        )["Policy"]["PolicySummary"]["Id"]
        orgs.attach_policy(PolicyId=policy, TargetId=self.ou)
        lab = member_session(session, self.lab, ROLE)
        lab.client("s3", region_name="ca-central-1").create_bucket(
            Bucket="lab-data", CreateBucketConfiguration={"LocationConstraint": "ca-central-1"}
        )

    @staticmethod
    def _account(orgs: Any, name: str) -> str:
        status = orgs.create_account(Email=f"{name}@universite.example", AccountName=name)
        return str(status["CreateAccountStatus"]["AccountId"])


@pytest.fixture
def org(session: boto3.Session) -> Org:
    return Org(session)


def _deny_role_in(session: boto3.Session, account: str) -> None:
    def deny(params: dict[str, Any], **_: Any) -> None:
        if f"::{account}:" in params.get("RoleArn", ""):
            error = {"Code": "AccessDenied", "Message": "not authorized"}
            raise ClientError({"Error": error}, "AssumeRole")

    session.events.register("before-parameter-build.sts.AssumeRole", deny)


def test_every_member_account_is_scanned(session: boto3.Session, org: Org) -> None:
    _deny_role_in(session, org.broken)
    calls: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.signing_name}:{model.name}")

    session.events.register("before-parameter-build", record)
    probe = AwsOrganizationProbe(
        AwsSource(regions=("ca-central-1",)),
        session,
        role_name=ROLE,
        external_id="ext-1",
        services=tuple(s for s in SERVICES if s.kind == "aws.s3.bucket"),
    )
    items = list(probe.collect())
    assets = {item.id: item for item in items if isinstance(item, Asset)}
    gaps = [item for item in items if isinstance(item, Gap)]

    assert gaps == [
        Gap(
            f"aws:{org.broken}",
            f"aws: cannot assume role arn:aws:iam::{org.broken}:role/{ROLE} (AccessDenied)",
        )
    ]
    bucket = assets[f"aws:{org.lab}:s3:lab-data"]
    assert bucket.attributes["account"] == org.lab
    assert bucket.attributes["region"] == "ca-central-1"

    lab = assets[f"aws:{org.lab}:account"]
    assert lab.kind == "aws.account"
    assert lab.name == "lab"
    assert lab.attributes["ou"] == "Research"
    assert lab.attributes["ou_id"] == org.ou
    assert lab.attributes["ou_path"] == ("Root", "Research")
    assert lab.attributes["region_guardrail"] is True
    assert lab.attributes["guardrail_regions"] == ("ca-central-1",)
    assert lab.attributes["guardrail_policies"] == ("region-lock",)

    admin = assets[f"aws:{org.admin}:account"].attributes
    assert admin["region_guardrail"] is False
    assert admin["ou_path"] == ("Root",)
    management = assets[f"aws:{ACCOUNT}:account"].attributes
    assert management["management"] is True
    assert management["region_guardrail"] is False  # SCPs never apply to it
    assert f"aws:{org.broken}:account" in assets  # listed, even though it could not be scanned
    _assert_policy_covers(calls)


def _assert_policy_covers(calls: set[str]) -> None:
    """The management-account statements allow exactly the Organizations and STS calls made."""
    document = json.loads((REPO / "sovscan" / "data" / "iam-policy.json").read_text("utf-8"))
    statements = {s["Sid"]: s for s in document["Statement"]}
    org_read = statements["SovscanOrganizationRead"]
    assert org_read["Effect"] == "Allow"
    made = {call for call in calls if call.startswith("organizations:")}
    assert made == set(org_read["Action"])
    assert all(a.split(":")[1].startswith(("List", "Describe")) for a in org_read["Action"])
    assume = statements["SovscanAssumeMemberRole"]
    assert "sts:AssumeRole" in calls
    assert assume["Action"] == ["sts:AssumeRole"]
    assert assume["Resource"].startswith("arn:aws:iam::*:role/")


def test_unreadable_scps_leave_the_guardrail_unknown(session: boto3.Session, org: Org) -> None:
    fail_calls(session, "organizations.DescribePolicy", "AccessDeniedException")
    organization = read_organization(session)
    assert organization.gaps == (
        Gap(
            f"aws:{ACCOUNT}:global:organizations",
            "AccessDeniedException: organizations:DescribePolicy",
        ),
    )
    lab = next(a for a in organization.accounts if a.id == org.lab)
    assert lab.scps is None
    assert [unit.name for unit in lab.path] == ["Root", "Research"]


def test_not_a_management_account(session: boto3.Session) -> None:
    fail_calls(session, "organizations.DescribeOrganization", "AWSOrganizationsNotInUseException")
    with pytest.raises(ProbeError) as raised:
        read_organization(session)
    assert str(raised.value) == (
        "aws: cannot list the organization's accounts (AWSOrganizationsNotInUseException)"
    )
