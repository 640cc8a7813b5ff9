"""ISO place containment is three-valued: a coarse code never passes for a precise one."""

from __future__ import annotations

import pytest

from sovscan.places import home_jurisdictions, is_place, within


@pytest.mark.parametrize(
    ("place", "allowed", "expected"),
    [
        ("CA-QC", ["CA-QC"], True),
        ("CA-QC", ["CA"], True),
        ("CA-ON", ["CA-QC"], False),
        ("CA", ["CA-QC"], None),  # somewhere in Canada: maybe Quebec, maybe not
        ("US", ["CA-QC", "CA"], False),
        ("FR", ["EU"], True),
        ("FR-75", ["EU"], True),
        ("CH", ["EU"], False),
        ("NO", ["EEA"], True),
        ("EU", ["FR"], None),
        ("EU", ["EEA"], True),
    ],
)
def test_within(place: str, allowed: list[str], expected: bool | None) -> None:
    assert within(place, allowed) is expected


def test_is_place_and_home_jurisdictions() -> None:
    assert is_place("CA-QC") and is_place("US") and is_place("EU")
    assert not is_place("ZZ") and not is_place("ca") and not is_place("Quebec")
    assert home_jurisdictions("CA-QC") == ("CA-QC", "CA")
    assert home_jurisdictions("DE") == ("DE", "EU")


def test_subdivisions_are_checked_against_iso_3166_2() -> None:
    assert is_place("CA-QC") and is_place("US-OR") and is_place("FR-75C")
    assert not is_place("CA-QX") and not is_place("US-ZZ")
