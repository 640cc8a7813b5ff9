"""Waivers: exact keys, required reason/owner/expiry, marked not hidden, expiry honoured."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from sovscan.engine import Waiver, apply_waivers, beyond_review, parse_waivers
from sovscan.errors import ConfigError
from sovscan.model import Finding, Severity, Status, finding_key

RISK = Finding("foreign-law-reach", "aws:1:s3:a", Status.RISK, Severity.HIGH, "m")
OTHER = Finding("data-outside-allowed-locations", "aws:1:s3:a", Status.RISK, Severity.HIGH, "m")
OK = Finding("location-unknown", "aws:1:s3:a", Status.OK, Severity.INFO, "m")
ELSEWHERE = Finding("foreign-law-reach", "aws:1:s3:b", Status.RISK, Severity.HIGH, "m")
FINDINGS = (RISK, OTHER, OK, ELSEWHERE)
TODAY = date(2026, 11, 24)


def waiver(**kwargs: Any) -> Waiver:
    base: dict[str, Any] = {
        "reason": "PIA 2026-14",
        "owner": "dpo@u.example",
        "expires": date(2027, 6, 30),
    }
    return Waiver(**{**base, **kwargs})


def test_a_finding_key_waiver_marks_that_finding_only() -> None:
    accepted = waiver(finding=RISK.key)
    result = apply_waivers(FINDINGS, [accepted], TODAY)
    assert result.findings == FINDINGS  # still present
    assert result.is_waived(RISK)
    assert not result.is_waived(OTHER)
    assert not result.is_waived(ELSEWHERE)
    assert result.waived == {RISK.key: accepted}
    assert result.unwaived == (OTHER, OK, ELSEWHERE)


def test_an_asset_waiver_covers_its_risk_and_unknown_findings_but_not_other_assets() -> None:
    accepted = waiver(asset="aws:1:s3:a")
    result = apply_waivers(FINDINGS, [accepted], TODAY)
    assert set(result.waived) == {RISK.key, OTHER.key}
    assert not result.is_waived(OK)
    assert not result.is_waived(ELSEWHERE)


def test_an_asset_id_is_exact_never_a_prefix() -> None:
    result = apply_waivers(FINDINGS, [waiver(asset="aws:1:s3:")], TODAY)
    assert not result.waived
    assert len(result.unused) == 1


def test_an_expired_waiver_stops_applying_and_says_so() -> None:
    lapsed = waiver(finding=RISK.key, expires=date(2026, 11, 23))
    result = apply_waivers(FINDINGS, [lapsed], TODAY)
    assert not result.is_waived(RISK)
    assert result.expired == (lapsed,)
    last_day = apply_waivers(FINDINGS, [waiver(finding=RISK.key, expires=TODAY)], TODAY)
    assert last_day.is_waived(RISK)


def test_an_expired_waiver_kept_beside_its_renewal_is_a_record_not_a_notice() -> None:
    # The institution keeps the lapsed waiver for the record; "waiver expired" was told at every
    # scan although the renewal applies.
    first_term = waiver(finding=RISK.key, expires=date(2026, 6, 30))
    renewal = waiver(finding=RISK.key, expires=date(2027, 6, 30))
    asset_term = waiver(asset="aws:1:s3:b", expires=date(2025, 12, 31))
    asset_renewal = waiver(asset="aws:1:s3:b")
    # Not renewed: no waiver in force names OTHER's key. An asset waiver and a finding waiver of
    # that asset are not the same waiver either, so the lapsed asset waiver still tells.
    lapsed_alone = waiver(finding=OTHER.key, expires=date(2026, 6, 30))
    lapsed_asset = waiver(asset="aws:1:s3:a", expires=date(2026, 6, 30))
    waivers = [first_term, renewal, asset_term, asset_renewal, lapsed_alone, lapsed_asset]
    result = apply_waivers(FINDINGS, waivers, TODAY)
    assert result.waived == {RISK.key: renewal, ELSEWHERE.key: asset_renewal}
    assert result.expired == (lapsed_alone, lapsed_asset)
    assert result.unused == ()
    # The day the renewal lapses too, both tell.
    later = apply_waivers(FINDINGS, [first_term, renewal], date(2027, 7, 1))
    assert later.expired == (first_term, renewal)


def test_an_expired_finding_waiver_renewed_for_its_whole_asset_is_a_record() -> None:
    # The institution renewed a finding's acceptance as an asset waiver: "waiver expired" was
    # still told at every scan, although the asset waiver accepts the finding.
    first_term = waiver(finding=RISK.key, expires=date(2026, 6, 30))
    whole_asset = waiver(asset="aws:1:s3:a")
    gone = waiver(finding=ELSEWHERE.key, expires=date(2026, 6, 30))  # its asset has no renewal
    result = apply_waivers(FINDINGS, [first_term, whole_asset, gone], TODAY)
    assert result.waived == {RISK.key: whole_asset, OTHER.key: whole_asset}
    assert result.expired == (gone,)
    assert result.renewed_by_asset == (first_term,)
    # Once the asset waiver lapses too, both tell.
    later = apply_waivers(FINDINGS, [first_term, whole_asset], date(2027, 7, 1))
    assert later.expired == (first_term, whole_asset) and later.renewed_by_asset == ()


def test_a_waiver_running_more_than_a_year_ahead_is_a_notice() -> None:
    from sovscan.scan import waiver_notices

    yearly = waiver(finding=RISK.key, expires=date(2027, 11, 25))  # 366 days: a yearly review
    forever = waiver(asset="aws:1:s3:b", owner="ciso", expires=date(2099, 12, 31))
    lapsed = waiver(finding=OTHER.key, expires=date(2020, 1, 1))
    assert beyond_review([yearly, forever, lapsed], TODAY) == (forever,)
    (notice,) = waiver_notices([], [], far_off=[forever])
    assert notice == (
        "waiver for asset aws:1:s3:b (ciso) runs until 2099-12-31, more than a year after this "
        "scan: set its expires to the date of its next review"
    )


def test_a_key_waiver_wins_over_an_asset_waiver() -> None:
    by_key = waiver(finding=RISK.key, reason="specific")
    by_asset = waiver(asset="aws:1:s3:a", reason="broad")
    result = apply_waivers(FINDINGS, [by_asset, by_key], TODAY)
    assert result.waived[RISK.key] is by_key
    assert result.waived[OTHER.key] is by_asset


def test_a_waiver_naming_only_findings_that_are_not_risks_is_told_apart() -> None:
    # They were all "waiver matched nothing", which is false: the finding or asset exists.
    on_ok = waiver(finding=OK.key)
    clean_asset = waiver(asset="aws:1:s3:clean")
    clean = Finding("foreign-law-reach", "aws:1:s3:clean", Status.OK, Severity.HIGH, "m")
    nowhere = waiver(finding=finding_key("foreign-law-reach", "aws:1:s3:gone"))
    result = apply_waivers((*FINDINGS, clean), [on_ok, clean_asset, nowhere], TODAY)
    assert not result.waived
    assert result.unused == (on_ok, clean_asset, nowhere)
    assert result.not_risks == (on_ok, clean_asset)
    assert result.shadowed == ()


def test_an_asset_waiver_whose_findings_all_have_their_own_waiver_is_shadowed() -> None:
    by_asset = waiver(asset="aws:1:s3:a")
    own = [waiver(finding=RISK.key), waiver(finding=OTHER.key)]
    result = apply_waivers(FINDINGS, [by_asset, *own], TODAY)
    assert result.unused == (by_asset,)
    assert result.shadowed == (by_asset,) and result.not_risks == ()
    # With one of them left to it, it is used.
    partly = apply_waivers(FINDINGS, [by_asset, own[0]], TODAY)
    assert partly.unused == () and partly.waived[OTHER.key] is by_asset


def test_the_notices_of_waivers_that_waive_nothing() -> None:
    from sovscan.scan import waiver_notices

    on_ok, on_asset = waiver(finding=OK.key, owner="dpo"), waiver(asset="aws:1:s3:a", owner="it")
    nothing, shadowed = waiver(asset="aws:none", owner="ciso"), waiver(asset="aws:1:s3:b")
    notices = waiver_notices(
        [], [on_ok, on_asset, nothing, shadowed], [on_ok, on_asset], [shadowed]
    )
    assert notices[0] == (
        f"waiver for finding {OK.key} (dpo) applies to a finding that is not a risk (ok) in this "
        "scan"
    )
    assert notices[1] == (
        "waiver for asset aws:1:s3:a (it) applies to an asset none of whose findings is a risk or "
        "unknown in this scan"
    )
    assert notices[2] == "waiver matched nothing: asset aws:none (ciso)"
    assert notices[3] == (
        "waiver for asset aws:1:s3:b (dpo@u.example) waives nothing: each risk or unknown finding "
        "of the asset has its own finding waiver"
    )
    assert len(notices) == 4


def test_parse_waivers_from_the_inventory_file() -> None:
    items = [
        {"finding": RISK.key, "reason": "PIA", "owner": "dpo", "expires": date(2027, 1, 31)},
        {
            "asset": "aws:1:s3:b",
            "reason": "Research contract",
            "owner": "cio",
            "expires": date(2027, 3, 1),
        },
    ]
    parsed = parse_waivers(items, "sovscan.toml")
    assert parsed[0] == Waiver("PIA", "dpo", date(2027, 1, 31), finding=RISK.key)
    assert parsed[1].asset == "aws:1:s3:b"
    assert parsed[1].expires == date(2027, 3, 1)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"asset": "a", "owner": "o", "expires": "2027-01-01"}, "waivers[0].reason: required"),
        ({"asset": "a", "reason": "r", "expires": "2027-01-01"}, "waivers[0].owner: required"),
        ({"asset": "a", "reason": "r", "owner": "o"}, "waivers[0].expires: required: a date"),
        ({"asset": "a", "reason": "r", "owner": "o", "expires": "soon"}, "got 'soon'"),
        # Text is taken in the TOML date's own form only: Python would also read these.
        (
            {"asset": "a", "reason": "r", "owner": "o", "expires": "20270630"},
            "waivers[0].expires: required: a date such as 2027-06-30; got '20270630'",
        ),
        ({"asset": "a", "reason": "r", "owner": "o", "expires": "2027-W26-3"}, "got '2027-W26-3'"),
        ({"asset": "a", "reason": "r", "owner": "o", "expires": "2027-02-30"}, "got '2027-02-30'"),
        (
            {"asset": "a", "reason": "r", "owner": "o", "expires": datetime(2027, 1, 1, 12)},
            "waivers[0].expires",
        ),
        ({"reason": "r", "owner": "o", "expires": "2027-01-01"}, "exactly one of finding"),
        (
            {
                "asset": "a",
                "finding": finding_key("x", "a"),
                "reason": "r",
                "owner": "o",
                "expires": "2027-01-01",
            },
            "exactly one of finding",
        ),
        ({"finding": "abc", "reason": "r", "owner": "o", "expires": "2027-01-01"}, "32-hex"),
        ({"asset": "aws:*", "reason": "r", "owner": "o", "expires": "2027-01-01"}, "no wildcards"),
        (
            {"asset": "a", "reason": "r", "owner": "o", "expires": "2027-01-01", "rule": "x"},
            "waivers[0].rule: unknown key",
        ),
    ],
)
def test_a_bad_waiver_is_one_line(item: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_waivers([item], "sovscan.toml")
    message = str(caught.value)
    assert message.startswith("sovscan.toml: waivers[0]")
    assert expected in message
    assert "\n" not in message
