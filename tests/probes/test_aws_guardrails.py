"""SCP region guardrails: which statement forms deny regions, and what an account ends up with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sovscan.probes.aws_guardrails import (
    RegionGuardrail,
    account_guardrail,
    region_guardrails,
)

CANADA = ["ca-central-1", "ca-west-1"]


def _scp(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _deny(condition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Deny", "Resource": "*", "Condition": condition}
    statement.update(extra or {"NotAction": ["iam:*", "sts:*", "organizations:*"]})
    return statement


@pytest.mark.parametrize(
    "operator",
    [
        "StringNotEquals",
        "StringNotEqualsIfExists",
        "StringNotLike",
        "ForAnyValue:StringNotEquals",
        "ForAllValues:StringNotEqualsIfExists",
        "StringNotEqualsIgnoreCase",
    ],
)
def test_negated_region_conditions_are_guardrails(operator: str) -> None:
    document = _scp(_deny({operator: {"aws:RequestedRegion": CANADA}}))
    assert region_guardrails(document, "region-lock") == (
        RegionGuardrail("region-lock", tuple(CANADA), ("iam:*", "organizations:*", "sts:*")),
    )


def test_deny_all_actions_with_one_region_and_any_key_case() -> None:
    statement = _deny({"StringNotEquals": {"AWS:requestedregion": "ca-central-1"}}, Action="*")
    (guardrail,) = region_guardrails(_scp(statement), "p")
    assert guardrail.allowed_regions == ("ca-central-1",)
    assert guardrail.exempt_actions == ()


@pytest.mark.parametrize(
    "statement",
    [
        # Allow, not Deny.
        {"Effect": "Allow", "Action": "*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": CANADA}}},
        # Only EC2: data services stay open everywhere.
        _deny({"StringNotEquals": {"aws:RequestedRegion": CANADA}}, Action=["ec2:*"]),
        # Not negated: denies Canada, allows the rest.
        _deny({"StringEquals": {"aws:RequestedRegion": CANADA}}),
        # Another key.
        _deny({"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}),
        # Limited resources.
        {**_deny({"StringNotEquals": {"aws:RequestedRegion": CANADA}}),
         "Resource": "arn:aws:s3:::x"},
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::x",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": CANADA}}},
        # No condition at all: a deny-everything SCP is not a region guardrail.
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    ],
)  # fmt: skip
def test_statements_that_are_not_region_guardrails(statement: dict[str, Any]) -> None:
    assert region_guardrails(_scp(statement), "p") == ()


def test_statement_as_a_single_object_and_parsed_documents() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": _deny({"StringNotEquals": {"aws:RequestedRegion": CANADA}}),
    }
    assert len(region_guardrails(document, "p")) == 1
    assert len(region_guardrails(json.dumps(document), "p")) == 1


@pytest.mark.parametrize(
    "document",
    # An SCP's 5,120 characters nest deeper than json.loads recurses (RecursionError).
    ["{not json", "[]", json.dumps({"Statement": "x"}), "[" * 2_560 + "]" * 2_560],
)
def test_unreadable_documents_give_no_guardrail(document: str) -> None:
    assert region_guardrails(document, "p") == ()


def test_account_guardrail_intersects_every_attached_guardrail() -> None:
    full = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    canada = _scp(_deny({"StringNotEquals": {"aws:RequestedRegion": CANADA}}))
    central = _scp(_deny({"StringNotEquals": {"aws:RequestedRegion": ["ca-central-1", "x"]}}))
    result = account_guardrail([("FullAWSAccess", full), ("canada", canada), ("ou", central)])
    assert result.present
    assert result.allowed_regions == ("ca-central-1",)
    assert account_guardrail([("FullAWSAccess", full)]).present is False
    assert account_guardrail([]).allowed_regions == ()
