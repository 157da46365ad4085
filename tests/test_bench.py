"""The benchmark itself, run very small: every phase completes and measures what it says.

Only that it works is asserted here; its figures are read from `python bench/run.py`.
"""

import math
from dataclasses import replace
from pathlib import Path

import pytest

from bench.harness import run, table
from bench.scenarios import Options
from bench.train import TrainOptions, lower_bound, run_train, train_table

TINY = Options(
    click_seconds=1.0,
    click_rates=(10,),
    reviewers=3,
    single_events=3,
    burst_events=20,
    storm_nudges=200,
    storm_intents=5,
    storm_seconds=0.5,
    open_approvals=30,
)


@pytest.mark.long
async def test_a_tiny_benchmark_run_completes_every_phase(tmp_path: Path):
    results = await run(TINY, tmp_path)

    assert results.errors == []
    [clicks] = results.clicks
    assert (clicks.ack.count, clicks.floor_ack.count) == (10, 10)
    assert (clicks.failed, clicks.unseen) == (0, 0)
    assert clicks.to_update.count == 10
    events = results.events
    assert events is not None
    assert (events.single.count, events.burst.count) == (3, 20)
    assert (events.floor_single.count, events.floor_burst.count) == (3, 20)
    storm = results.storm
    assert storm is not None and storm.untrue == 0
    assert storm.updates == storm.intents  # each stale message corrected once
    scale = results.scale
    assert scale is not None and scale.closed == scale.open_approvals == 30
    assert not math.isnan(scale.startup_reconciled_seconds)
    assert "nan" not in table(results)


@pytest.mark.long
async def test_a_tiny_run_with_two_replicas_spreads_the_clicks(tmp_path: Path):
    results = await run(replace(TINY, replicas=2), tmp_path)

    assert results.errors == []
    [clicks] = results.clicks
    assert (clicks.ack.count, clicks.failed, clicks.unseen) == (10, 0, 0)
    events = results.events
    assert events is not None and (events.single.count, events.burst.count) == (3, 20)
    assert results.scale is None  # one process's figures: not measured with replicas
    # The timed phases ran on the second pair of processes, and both cast votes.
    for name in ("bot-3", "bot-4"):
        assert "vote recorded" in (tmp_path / f"{name}.log").read_text()


TINY_TRAIN = TrainOptions(
    releases=6,
    reviewers=3,
    votes_per_release=2,
    vote_seconds=4.0,
    reject_every=4,
    forage_votes=3,
    unlinked_clicks=2,
    finish_timeout=120.0,
)


@pytest.mark.long
async def test_a_tiny_release_train_runs_both_peers_and_loses_nothing(tmp_path: Path):
    results = await run_train(TINY_TRAIN, tmp_path)

    assert results.errors == []
    paced, naive = results.peers
    assert (paced.peer, naive.peer) == ("paced", "naive")
    for peer in (paced, naive):
        assert peer.releases == 7  # the six of the train and the one blocked mid-train
        assert peer.votes_sent == TINY_TRAIN.votes
        assert (peer.replies_lost, peer.outcomes_lost, peer.untrue) == (0, 0, 0)
        assert peer.ack.count == TINY_TRAIN.votes + TINY_TRAIN.unlinked_clicks + 3  # + submissions
        assert peer.answers.count == 3 + TINY_TRAIN.unlinked_clicks and peer.answers_missing == 0
        assert peer.true_after >= peer.lower_bound > 0
    assert paced.rate_limited == 0
    assert "nan" not in train_table(results)


def test_the_lower_bound_is_what_the_buckets_allow():
    # 10 updates at once: the burst (10) goes at once.
    assert lower_bound({}, [5.0] * 10, start=0.0) == 5.0
    # 20 at once: 10 more at 50 a minute after the burst.
    assert math.isclose(lower_bound({}, [5.0] * 20, start=0.0), 5.0 + 10 * 60 / 50)
    # Posts: per channel, one a second past a burst of 5.
    posts = {"C1": [0.0] * 8, "C2": [0.0] * 2}
    assert math.isclose(lower_bound(posts, [], start=0.0), 3.0)
