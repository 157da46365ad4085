"""A small soak: many approvals, two bot processes, faults of every kind, promises checked."""

from pathlib import Path

from bot.local.soak import soak


async def test_a_small_soak_keeps_every_promise(tmp_path: Path):
    report = await soak(tmp_path, events=40, replicas=2, seed=11)
    print("\n".join(report.lines()))
    assert report.messages == 40
    assert report.duplicates == [] and report.missing == []
    assert report.votes_not_once == []
    assert report.wrong_final == []
    # Every acknowledged vote ended recorded or told NOT recorded; none lost, none lied about.
    assert report.votes_lost == [] and report.told_not_but_recorded == []
    assert report.votes_recorded == 40 + 14  # bob on all, carol on every third
    assert report.votes_acknowledged == report.votes_recorded + report.votes_told_not_recorded
    assert report.votes_told_not_recorded >= 1  # the NATS outage and the full store refuse some
    assert {
        "nats restart",
        "bot killed",
        "slack 429",
        "forest unavailable",
        "nats outage 10s",
        "jetstream store full",
        "slack chat.update hanging",
    } <= set(report.faults)
