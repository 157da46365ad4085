"""The benchmark itself, run very small: every phase completes and measures what it says.

Only that it works is asserted here; its figures are read from `python bench/run.py`.
"""

import math
from dataclasses import replace
from pathlib import Path

from bench.harness import run, table
from bench.scenarios import Options

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
