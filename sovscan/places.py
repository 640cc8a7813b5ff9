"""ISO 3166 place codes and the three-valued question "is this place within those places?"."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pycountry

COUNTRIES: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)
"""ISO 3166-1 alpha-2 codes (from pycountry's copy of the ISO tables)."""

_EU = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
GROUPS: dict[str, frozenset[str]] = {
    # ISO 3166-1 reserves "EU" exceptionally; EEA adds Iceland, Liechtenstein and Norway.
    "EU": frozenset(_EU.split()),
    "EEA": frozenset(_EU.split()) | {"IS", "LI", "NO"},
}
"""Named groups of countries that policies may list like a place."""

PLACE_EXAMPLES = "'CA', 'FR', 'CA-QC' or 'DE-BY'"
"""Examples for error messages: countries and subdivisions of more than one country."""

# The groups as French, Spanish, Italian and Portuguese (UE) or German (EWR) inventories write
# them: suggested, never accepted, so that a code means one thing.
GROUP_ALIASES = {"UE": "EU", "EEE": "EEA", "EWR": "EEA"}

_PLACE_RE = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")


def is_place(code: str) -> bool:
    """True for an ISO 3166-1 code, an ISO 3166-2 subdivision code, or a group name."""
    if code in GROUPS:
        return True
    if not _PLACE_RE.match(code) or code[:2] not in COUNTRIES:
        return False
    if "-" not in code:
        return True
    found = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]  # untyped lib
    return found is not None


def country_of(code: str) -> str:
    """The ISO 3166-1 part of a place code ("CA-QC" -> "CA")."""
    return code[:2]


def within(place: str, allowed: Iterable[str]) -> bool | None:
    """Is `place` inside one of `allowed`? True, False, or None when the code is too coarse to say.

    "CA-QC" is within "CA"; "CA" is within "CA" but only *maybe* within "CA-QC" (None); "FR" is
    within "EU". A group never counts as within a single country.
    """
    maybe = False
    for area in allowed:
        if place == area:
            return True
        members = GROUPS.get(area)
        if members is not None:
            if place in members or (country_of(place) in members and "-" in place):
                return True
            if place in GROUPS and GROUPS[place] <= members:
                return True
            continue
        if "-" in place and "-" not in area and country_of(place) == area:
            return True
        if "-" not in place and "-" in area and country_of(area) == place:
            maybe = True
        if place in GROUPS and (country_of(area) in GROUPS[place]):
            maybe = True
    return None if maybe else False


def with_union_law(home: str, jurisdictions: tuple[str, ...]) -> tuple[str, ...]:
    """`jurisdictions`, with the EU added for an institution in a member state when they do not
    already cover it: EU law is part of every member state's legal order, so an operator under
    FR and EU law is not foreign to a French institution."""
    if country_of(home) not in GROUPS["EU"] or within("EU", jurisdictions) is True:
        return jurisdictions
    return (*jurisdictions, "EU")


def home_jurisdictions(home: str) -> tuple[str, ...]:
    """The jurisdictions that are not foreign to an institution at `home`: itself and its country,
    plus the EU for a member state (EU law binds it)."""
    codes = [home]
    if "-" in home:
        codes.append(country_of(home))
    if country_of(home) in GROUPS["EU"]:
        codes.append("EU")
    return tuple(codes)
