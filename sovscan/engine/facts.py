"""The fact fields rules may read, computed once per resolved asset into a flat mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sovscan.model import Method, Policy, ResolvedAsset

FactValue = str | int | bool | tuple[str, ...] | None
"""A fact's value; `None` always means unknown."""

Facts = Mapping[str, FactValue]

ATTR_PREFIX = "asset.attr."
UNKNOWN_ATTR = "unknown"
_ATTR_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# field -> the value type a rule may expect: "str", "bool", "list" ("any" for attributes).
FACT_TYPES: Mapping[str, str] = {
    "asset.id": "str",
    "asset.kind": "str",
    "asset.name": "str",
    "asset.classification": "str",
    "asset.sensitive": "bool",
    "location.provider": "str",
    "location.region": "str",
    "location.country": "str",
    "location.subdivision": "str",
    "location.place": "str",
    "location.edge": "bool",
    "location.method": "str",
    "location.confidence": "str",
    "control.operator": "str",
    "control.parent": "str",
    "control.jurisdictions": "list",
    "control.laws": "list",
    "control.method": "str",
    "control.confidence": "str",
}

FACT_FIELDS: tuple[str, ...] = (*FACT_TYPES, ATTR_PREFIX + "<key>")
"""Every field a rule may name, as documented in rules/README.md (a test compares the two)."""


def is_fact_field(name: str) -> bool:
    """Whether `name` is a documented fact field (``asset.attr.<key>`` for any attribute key)."""
    if name in FACT_TYPES:
        return True
    return name.startswith(ATTR_PREFIX) and bool(_ATTR_KEY_RE.match(name[len(ATTR_PREFIX) :]))


def fact_type(name: str) -> str:
    """The type of a fact field: "str", "bool", "list", or "any" for an attribute."""
    return FACT_TYPES.get(name, "any")


def facts_of(resolved: ResolvedAsset, policy: Policy) -> dict[str, FactValue]:
    """The facts of one asset under `policy`: built once, then read by every rule that applies."""
    asset, location, control = resolved.asset, resolved.location, resolved.control
    raw_class = asset.attributes.get("classification")
    classification = raw_class if isinstance(raw_class, str) else policy.default_classification
    location_known = location.method is not Method.UNKNOWN
    facts: dict[str, FactValue] = {
        "asset.id": asset.id,
        "asset.kind": asset.kind,
        "asset.name": asset.name,
        "asset.classification": classification,
        "asset.sensitive": policy.is_sensitive(classification),
        "location.provider": location.provider,
        "location.region": location.region,
        "location.country": location.country,
        "location.subdivision": location.subdivision,
        "location.place": location.subdivision or location.country,
        # `edge` is a plain bool on Location; when nothing located the asset, False only means
        # "not looked at", so the fact is unknown rather than a reassuring "not an edge network".
        "location.edge": location.edge if location_known else None,
        # Method and Confidence are StrEnums: the member is already its text, without `.value`.
        "location.method": location.method,
        "location.confidence": location.confidence,
        "control.operator": control.operator,
        "control.parent": control.parent,
        "control.jurisdictions": control.jurisdictions,
        "control.laws": control.laws,
        "control.method": control.method,
        "control.confidence": control.confidence,
    }
    for key, value in asset.attributes.items():
        # Attributes cannot hold None, so probes write the text "unknown" when they could not
        # read a value (e.g. key_manager of a KMS key they may not describe): it is unknown here.
        facts[ATTR_PREFIX + key] = None if value == UNKNOWN_ATTR else value
    return facts
