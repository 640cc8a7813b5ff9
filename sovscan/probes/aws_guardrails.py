"""Region guardrails in AWS Organizations service control policies (SCPs), read as data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Condition operators that deny a request whose region is not in a list. The set-operator
# prefixes and the IfExists suffix change what happens when the key is missing, not which
# regions pass: aws:RequestedRegion is present on every regional request.
_NEGATED_OPERATORS = {"stringnotequals", "stringnotequalsignorecase", "stringnotlike"}
_REGION_KEY = "aws:requestedregion"


@dataclass(frozen=True, slots=True)
class RegionGuardrail:
    """One SCP statement that denies every action (bar `exempt_actions`) outside some regions."""

    policy: str  # the SCP's name
    allowed_regions: tuple[str, ...]
    exempt_actions: tuple[str, ...] = ()  # NotAction: typically global services (iam:*, sts:*)


@dataclass(frozen=True, slots=True)
class AccountGuardrail:
    """What an account's attached SCPs say about regions. `allowed_regions` is the intersection
    of every guardrail's list (each one denies what is outside its own)."""

    guardrails: tuple[RegionGuardrail, ...]

    @property
    def present(self) -> bool:
        return bool(self.guardrails)

    @property
    def allowed_regions(self) -> tuple[str, ...]:
        if not self.guardrails:
            return ()
        allowed = set(self.guardrails[0].allowed_regions)
        for guardrail in self.guardrails[1:]:
            allowed &= set(guardrail.allowed_regions)
        return tuple(sorted(allowed))


def region_guardrails(
    document: str | Mapping[str, Any], policy: str
) -> tuple[RegionGuardrail, ...]:
    """The region-denying statements of one SCP document (JSON text or parsed).

    A statement counts when it is `Deny`, covers every action (`Action: "*"` or a `NotAction`
    exemption list), every resource, and has a negated string condition on
    `aws:RequestedRegion` (`StringNotEquals`, `...IfExists`, `ForAnyValue:`/`ForAllValues:`).
    A statement limited to some actions ("ec2:*") is not a region guardrail for the data.
    Unparseable documents give no guardrail.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than it recurses
            return ()
    if not isinstance(document, Mapping):
        return ()
    found: list[RegionGuardrail] = []
    for statement in _as_list(document.get("Statement")):
        if isinstance(statement, Mapping):
            guardrail = _statement_guardrail(statement, policy)
            if guardrail is not None:
                found.append(guardrail)
    return tuple(found)


def account_guardrail(documents: Iterable[tuple[str, str]]) -> AccountGuardrail:
    """The guardrail of an account given (policy name, document) for every SCP attached to its
    root, each OU on its path and the account itself (a Deny anywhere on the path applies)."""
    guardrails = [g for name, document in documents for g in region_guardrails(document, name)]
    return AccountGuardrail(tuple(guardrails))


def _statement_guardrail(statement: Mapping[str, Any], policy: str) -> RegionGuardrail | None:
    if statement.get("Effect") != "Deny" or "NotResource" in statement:
        return None
    if "*" not in _as_list(statement.get("Resource", "*")):
        return None
    exempt: tuple[str, ...] = ()
    if "NotAction" in statement:
        exempt = tuple(sorted(str(a) for a in _as_list(statement["NotAction"])))
    elif "*" not in _as_list(statement.get("Action")):
        return None
    regions = _denied_outside(statement.get("Condition"))
    if regions is None:
        return None
    return RegionGuardrail(policy, regions, exempt)


def _denied_outside(condition: object) -> tuple[str, ...] | None:
    if not isinstance(condition, Mapping):
        return None
    for operator, body in condition.items():
        base = str(operator).split(":", 1)[-1].lower().removesuffix("ifexists")
        if base not in _NEGATED_OPERATORS or not isinstance(body, Mapping):
            continue
        for key, values in body.items():
            if str(key).lower() == _REGION_KEY:
                return tuple(sorted(str(v) for v in _as_list(values)))
    return None


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
