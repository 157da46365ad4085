"""Since when an approval or a plan waits: forest's time when it gave one, else the bot's claim."""

from datetime import UTC, datetime, timedelta, timezone

from bot.approvals.pending import forest_time_or_claim

CLAIMED_AT = datetime(2025, 3, 4, 9, 30, tzinfo=UTC).timestamp()


def test_forest_time_wins_and_one_without_a_zone_is_utc():
    assert forest_time_or_claim(" 2025-03-04T08:00:00 ", CLAIMED_AT) == datetime(
        2025, 3, 4, 8, 0, tzinfo=UTC
    )
    cet = timezone(timedelta(hours=1))
    assert forest_time_or_claim("2025-03-04T08:00:00+01:00", CLAIMED_AT) == datetime(
        2025, 3, 4, 8, 0, tzinfo=cet
    )


def test_no_time_or_an_unreadable_one_is_the_claim():
    for said in ("", "  ", "yesterday"):
        assert forest_time_or_claim(said, CLAIMED_AT) == datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
