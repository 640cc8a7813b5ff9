"""ISO 3166 place codes and the three-valued question "is this place within those places?"."""

from __future__ import annotations

import re
from collections.abc import Iterable

_COUNTRY_CODES = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES: frozenset[str] = frozenset(_COUNTRY_CODES.split())
"""ISO 3166-1 alpha-2 codes."""

_EU = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
GROUPS: dict[str, frozenset[str]] = {
    # ISO 3166-1 reserves "EU" exceptionally; EEA adds Iceland, Liechtenstein and Norway.
    "EU": frozenset(_EU.split()),
    "EEA": frozenset(_EU.split()) | {"IS", "LI", "NO"},
}
"""Named groups of countries that policies may list like a place."""

_PLACE_RE = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")


def is_place(code: str) -> bool:
    """True for an ISO 3166-1 code, an ISO 3166-2 code of a known country, or a group name."""
    if code in GROUPS:
        return True
    if not _PLACE_RE.match(code):
        return False
    return code[:2] in COUNTRIES


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


def home_jurisdictions(home: str) -> tuple[str, ...]:
    """The jurisdictions that are not foreign to an institution at `home`: itself and its country,
    plus the EU for a member state (EU law binds it)."""
    codes = [home]
    if "-" in home:
        codes.append(country_of(home))
    if country_of(home) in GROUPS["EU"]:
        codes.append("EU")
    return tuple(codes)
