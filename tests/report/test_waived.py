"""A waived finding says who accepted it, why and until when, in every format (README)."""

from __future__ import annotations

import pytest

from sovscan.model import Finding, Severity, Status, WaiverMark
from sovscan.report import REPORTERS
from tests.factories import make_scan, resolved_bucket


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_a_waived_finding_shows_its_owner_reason_and_expiry(name: str) -> None:
    bucket = resolved_bucket()
    mark = WaiverMark("EFVP-2026-03 assessed the transfer", "dpo@universite.example", "2027-06-30")
    finding = Finding(
        "foreign-law-reach", bucket.asset.id, Status.RISK, Severity.HIGH, "reachable", waiver=mark
    )
    text = REPORTERS[name](make_scan(assets=(bucket,), findings=(finding,)))
    for part in ("EFVP-2026-03 assessed the transfer", "dpo@universite.example", "2027-06-30"):
        assert part in text, f"{name} lacks {part!r}"
