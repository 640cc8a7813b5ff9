"""A report says when the data that places addresses is old at the time of the scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sovscan.resolve import load_knowledge
from sovscan.resolve.knowledge import STALE_AFTER_DAYS, stale_data_notice


def test_address_feeds_older_than_the_limit_are_named_in_one_notice() -> None:
    knowledge = load_knowledge()
    aws = knowledge.datasets["aws-ip-ranges"].as_of
    at_limit = stale_data_notice(knowledge, aws + timedelta(days=STALE_AFTER_DAYS))
    assert not any("aws-ip-ranges" in notice for notice in at_limit)
    (notice,) = stale_data_notice(knowledge, aws + timedelta(days=STALE_AFTER_DAYS + 1))
    assert f"aws-ip-ranges ({aws.date().isoformat()}, {STALE_AFTER_DAYS + 1} days)" in notice
    assert "sovscan data update" in notice
    assert stale_data_notice(knowledge, datetime(2000, 1, 1, tzinfo=UTC)) == ()
