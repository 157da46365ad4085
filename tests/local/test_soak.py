"""A small soak: approvals through two bot processes, faults of every kind, promises checked.

The full run (``python -m bot.local.soak --events 500``, and ``--cluster``) holds NATS away for
ten seconds and loses a cluster node; here the windows are a few seconds each, so that the test
stays quick, and every fault still meets votes on their way.
"""

from pathlib import Path

import pytest

from bot.local.soak import soak
from bot.local.soak_faults import SoakFaults

EVENTS = 16
VOTES = EVENTS + len(range(0, EVENTS, 3))  # bob on all, carol on every third
SHORT = SoakFaults(
    refresh_race_seconds=3.0,
    slack_hang_seconds=5.0,  # past the bot's 3 s deadline for an answer sent after 1 s
    nats_outage_seconds=3.0,
    full_store_seconds=3.0,
)


@pytest.mark.long
async def test_a_small_soak_keeps_every_promise(tmp_path: Path):
    report = await soak(tmp_path, events=EVENTS, replicas=2, seed=11, faults=SHORT)
    print("\n".join(report.lines()))
    assert report.messages == EVENTS and report.approvals_without_message == []
    # Every attempt ended recorded or told NOT recorded (and was tried again); none was lost.
    assert report.votes_lost == []
    assert report.votes_attempted == report.votes_recorded + report.votes_told_not_recorded
    assert report.votes_recorded_once == report.votes_wanted == VOTES
    assert report.votes_confirmed == VOTES
    assert report.duplicates == 0
    assert report.wrong_final == []
    # Both replicas refreshed one person's token at once near its expiry: the link held.
    assert report.token_refreshes >= 1 and report.links_lost == []
    windows = {
        "refresh race near expiry",
        "slack methods hanging",
        "nats outage",
        "jetstream store full",
    }
    assert {"nats restart", "bot killed", "slack 429", "forest unavailable"} | windows <= set(
        report.faults
    )
    assert all(report.votes_under_fault[window] > 0 for window in windows)
    assert report.ok
