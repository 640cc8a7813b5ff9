"""The fact fields rules may read, and how each is computed from a resolved asset."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sovscan.model import (
    Asset,
    AttrValue,
    Confidence,
    Control,
    Location,
    Method,
    Policy,
    ResolvedAsset,
    rests_there,
    run_by,
)

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
    "location.at_rest": "bool",
    "location.declared": "str",
    "location.detail": "str",
    "location.where": "str",
    "location.method": "str",
    "location.confidence": "str",
    "control.operator": "str",
    "control.parent": "str",
    "control.run_by": "str",
    "control.jurisdictions": "list",
    "control.laws": "list",
    "control.method": "str",
    "control.confidence": "str",
    "control.confirmed": "bool",
}

# field -> what it is in words, for messages read by people who do not write rules.
FACT_WORDS: Mapping[str, str] = {
    "asset.id": "its id",
    "asset.kind": "its kind",
    "asset.name": "its name",
    "asset.classification": "its classification",
    "asset.sensitive": "whether it holds sensitive data",
    "location.provider": "its provider",
    "location.region": "its region",
    "location.country": "the country its data is in",
    "location.subdivision": "the province or state its data is in",
    "location.place": "where its data is",
    "location.edge": "whether a global edge network serves it",
    "location.at_rest": "whether its data rests where it is served from",
    "location.declared": "where the institution declares its vendor keeps the data",
    "location.detail": "how its location was found",
    "location.where": "where its data is and how that was found",
    "location.method": "how its location was found",
    "location.confidence": "how sure its location is",
    "control.operator": "who operates it",
    "control.parent": "the operator's parent company",
    "control.run_by": "who operates it and their parent company",
    "control.jurisdictions": "the jurisdictions over its operator",
    "control.laws": "the laws that can compel its operator",
    "control.method": "how its control was found",
    "control.confidence": "how sure its control is",
    "control.confirmed": "whether its operator was found by more than an inference",
}

FACT_FIELDS: tuple[str, ...] = (*FACT_TYPES, ATTR_PREFIX + "<key>")
"""Every field a rule may name, as documented in rules/README.md (a test compares the two)."""


def is_fact_field(name: str) -> bool:
    """Whether `name` is a documented fact field (``asset.attr.<key>`` for any attribute key)."""
    if name in FACT_TYPES:
        return True
    return name.startswith(ATTR_PREFIX) and bool(_ATTR_KEY_RE.match(name[len(ATTR_PREFIX) :]))


def fact_words(name: str) -> str:
    """A field in words with its name after it: "the country its data is in
    (location.country)", "its region guardrail (asset.attr.region_guardrail)"."""
    words = FACT_WORDS.get(name)
    if words is None and name.startswith(ATTR_PREFIX):
        words = "its " + name[len(ATTR_PREFIX) :].replace("_", " ")
    return f"{words} ({name})" if words else name


def fact_type(name: str) -> str:
    """The type of a fact field: "str", "bool", "list", or "any" for an attribute."""
    return FACT_TYPES.get(name, "any")


def facts_of(resolved: ResolvedAsset, policy: Policy) -> dict[str, FactValue]:
    """The facts of one asset under `policy`, as one flat mapping (the rule test cases, and the
    messages of risk and unknown findings, read them)."""
    facts = asset_facts(resolved.asset, policy)
    facts.update(location_facts(resolved.location))
    facts.update(control_facts(resolved.control))
    return facts


def classification_of(raw: object, policy: Policy) -> str:
    """The asset's label: its ``classification`` attribute when it is text, else the default."""
    return raw if isinstance(raw, str) else policy.default_classification


def attribute_fact(value: AttrValue | None) -> FactValue:
    """An attribute as a fact; absent, or the text "unknown", is unknown.

    Attributes cannot hold None, so probes write the text "unknown" when they could not read a
    value (e.g. key_manager of a KMS key they may not describe).
    """
    return None if value is None or value == UNKNOWN_ATTR else value


def asset_facts(asset: Asset, policy: Policy) -> dict[str, FactValue]:
    """The ``asset.*`` facts, attributes included."""
    classification = classification_of(asset.attributes.get("classification"), policy)
    facts: dict[str, FactValue] = {
        "asset.id": asset.id,
        "asset.kind": asset.kind,
        "asset.name": asset.name,
        "asset.classification": classification,
        "asset.sensitive": policy.is_sensitive(classification),
    }
    for key, value in asset.attributes.items():
        facts[ATTR_PREFIX + key] = None if value == UNKNOWN_ATTR else value
    return facts


def location_facts(location: Location) -> dict[str, FactValue]:
    """The ``location.*`` facts, the same for every asset at `location`."""
    return {
        "location.provider": location.provider,
        "location.region": location.region,
        "location.country": location.country,
        "location.subdivision": location.subdivision,
        "location.place": location.subdivision or location.country,
        # `edge` is a plain bool on Location; when nothing located the asset, False only means
        # "not looked at", so the fact is unknown rather than a reassuring "not an edge network".
        "location.edge": location.edge if location.method is not Method.UNKNOWN else None,
        "location.at_rest": rests_there(location.method),
        "location.declared": location.declared,
        "location.detail": location_detail(location),
        "location.where": location_where(location),
        # Method and Confidence are StrEnums: the member is already its text, without `.value`.
        "location.method": location.method,
        "location.confidence": location.confidence,
    }


def location_where(location: Location) -> str:
    """The place with how it was found, for messages that name it whatever it is: "CA-QC (aws
    ca-central-1, where it is served from)", "cloudflare global edge (no single country)", "not
    found"; never "unknown (unknown)". A declared storage place follows the place seen."""
    if location.method is Method.UNKNOWN:
        seen = "not found"
    elif location.edge:
        seen = f"{location.provider or 'a'} global edge (no single country)"
    else:
        place = location.subdivision or location.country
        detail = location_detail(location)
        if place and detail:
            seen = f"{place} ({detail})"
        else:
            seen = place or (f"{detail}; place not known" if detail else "not found")
    if location.declared:
        seen += f"; kept in {location.declared}, as the institution declares"
    return seen


def location_detail(location: Location) -> str | None:
    """How the place was found, for messages: "aws us-east-1", or "aws ca-central-1, where it
    is served from" (an address locates a server, not the data)."""
    named = " ".join(part for part in (location.provider, location.region) if part)
    if not named or location.method is Method.UNKNOWN:
        return None
    return named if rests_there(location.method) else f"{named}, where it is served from"


def control_facts(control: Control) -> dict[str, FactValue]:
    """The ``control.*`` facts, the same for every asset under `control`."""
    return {
        "control.operator": control.operator,
        "control.parent": control.parent,
        "control.run_by": run_by(control.operator, control.parent),
        "control.jurisdictions": control.jurisdictions,
        "control.laws": control.laws,
        "control.method": control.method,
        "control.confidence": control.confidence,
        # Never false: an operator guessed from an AS name, an RDAP organisation or a catalogue
        # row marked low is not proof of the opposite either, so a rule that needs it to say ok
        # says unknown instead (unknown is not safe). With no operator at all, the other control
        # facts are unknown already; saying so twice would only lengthen the message.
        "control.confirmed": None if control.confidence is Confidence.LOW else True,
    }
