"""A small soak: many approvals, two bot processes, faults of every kind, promises checked."""

from pathlib import Path

import pytest

from bot.local.soak import soak


@pytest.mark.long
async def test_a_small_soak_keeps_every_promise(tmp_path: Path):
    report = await soak(tmp_path, events=40, replicas=2, seed=11)
    print("\n".join(report.lines()))
    assert report.messages == 40
    assert report.duplicates == [] and report.missing == []
    assert report.votes_not_once == []
    assert report.wrong_final == []
    assert report.votes_acknowledged == 40 + 14  # bob on all, carol on every third
    assert {"nats restart", "bot killed", "slack 429", "forest unavailable"} <= set(report.faults)
