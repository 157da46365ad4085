"""A plan run's release status asks the watch for a scan: at once, then at most once per
interval, and a hint inside the interval is kept for its end, never dropped."""

import asyncio
import json
import uuid

import nats

from bot.local.nats_server import NatsServer
from bot.plans.open_plans import OpenPlans
from bot.plans.plan import PlanStage
from bot.plans.plan_store import PlanRecord, PlanStore
from bot.plans.spotter import PlanSpotter
from bot.state.approval_store import Phase, open_bucket


async def open_plans(nc, tracked: str | None = None) -> tuple[OpenPlans, asyncio.Task]:
    """The real index of open plans over a bucket, with one plan of ``tracked`` in it."""
    store = PlanStore(await open_bucket(nc.jetstream(), f"spot_{uuid.uuid4().hex[:8]}"))
    if tracked is not None:
        await store.claim(
            PlanRecord(
                PlanStage("acme", "infra", tracked, "plan-prod", "prod"),
                "C1",
                Phase.POSTED,
                "me",
                0.0,
                ts="1.0",
            )
        )
    index = OpenPlans(store)
    follow = asyncio.create_task(index.follow())
    await asyncio.wait_for(index.loaded.wait(), 5)
    return index, follow


async def test_hints_are_spaced_and_never_dropped(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    index, follow = await open_plans(nc)
    scans: list[float] = []
    loop = asyncio.get_running_loop()
    spotter = PlanSpotter(index, lambda: scans.append(loop.time()), min_interval=0.3)
    spotter.hint()
    spotter.hint()
    spotter.hint()
    assert len(scans) == 1
    await asyncio.sleep(0.45)
    assert len(scans) == 2
    assert scans[1] - scans[0] >= 0.25
    await spotter.stop()
    follow.cancel()
    await nc.close()


async def test_a_finished_release_of_an_untracked_intent_asks_for_a_scan(
    nats_server: NatsServer,
):
    nc = await nats.connect(nats_server.url)
    index, follow = await open_plans(nc, tracked="tracked")
    scans: list[str] = []
    spotter = PlanSpotter(index, lambda: scans.append("scan"), min_interval=0)
    try:
        await spotter.start(nc)
        assert scans == ["scan"]  # what finished before it listened
        for intent, status in (
            ("tracked", "SUCCEEDED"),
            ("other", "RUNNING"),
            ("other", "not json"),
            ("other", "SUCCEEDED"),
        ):
            body = status.encode() if status == "not json" else json.dumps({"status": status})
            await nc.publish(
                f"forest.release.status.{intent}",
                body if isinstance(body, bytes) else body.encode(),
            )
        await nc.flush()
        await asyncio.sleep(0.2)
        assert scans == ["scan", "scan"]
    finally:
        await spotter.stop()
        follow.cancel()
        await nc.close()
