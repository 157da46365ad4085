"""Replicas share Slack's budget through NATS KV: together they take no more than one bucket."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest_asyncio
from nats.js.kv import KeyValue
from tests_support import wait_until

from bot.local.nats_server import NatsServer, run_nats_server
from bot.slack.pacing import Call, Limit, Limits, Pacer, Priority
from bot.slack.shared_budget import SharedBudget


@pytest_asyncio.fixture
async def kv(nats_server: NatsServer) -> AsyncIterator[KeyValue]:
    nc = await nats.connect(nats_server.url)
    bucket = await nc.jetstream().create_key_value(bucket=f"pacing_{uuid.uuid4().hex[:8]}")
    yield bucket
    await nc.close()


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


LIMIT = Limit(per_second=1.0, burst=4)


async def test_two_replicas_draw_from_one_bucket(kv: KeyValue):
    clock = ManualClock()
    one, two = SharedBudget(kv, clock), SharedBudget(kv, clock)

    waits = await asyncio.gather(*(b.take("chat.update", LIMIT, 0.0) for b in (one, two) * 3))

    assert sorted(waits)[:4] == [0.0] * 4  # the burst, whoever asked
    assert all(w > 0 for w in sorted(waits)[4:])
    clock.now += 1.0
    assert await two.take("chat.update", LIMIT, 0.0) == 0.0
    assert await one.take("chat.update", LIMIT, 0.0) > 0


async def test_a_429_seen_by_one_replica_holds_off_the_other(kv: KeyValue):
    clock = ManualClock()
    one, two = SharedBudget(kv, clock), SharedBudget(kv, clock)
    await one.hold_off("chat.postMessage.C1", LIMIT, 5.0)

    assert await two.take("chat.postMessage.C1", LIMIT, 0.0) == 5.0
    clock.now += 6.0
    assert await two.take("chat.postMessage.C1", LIMIT, 0.0) == 0.0
    # Other limits are untouched.
    assert await two.take("chat.update", LIMIT, 0.0) == 0.0


async def test_two_pacing_replicas_together_stay_inside_the_limit(kv: KeyValue):
    sent: list[float] = []

    async def send(method: str, args: dict) -> dict:
        sent.append(asyncio.get_running_loop().time())
        return {"ok": True}

    limits = Limits(methods={"chat.update": Limit(per_second=10.0, burst=2)})
    replicas = [Pacer(send, SharedBudget(kv), limits) for _ in range(2)]
    calls = [
        replicas[n % 2].call(
            Call("chat.update", {"channel": "C1", "ts": f"{n}.0"}, Priority.PERSON, coalesce=True)
        )
        for n in range(12)
    ]
    await asyncio.gather(*calls)

    span = sent[-1] - sent[0]
    # 12 calls: 2 at once, then 10 more at 10 a second, whichever replica made them.
    assert len(sent) == 12
    assert span >= 0.9, span
    for replica in replicas:
        await replica.close()


async def test_an_unreadable_entry_starts_a_full_bucket(kv: KeyValue):
    await kv.put("chat.update", b"not json")
    budget = SharedBudget(kv, ManualClock())
    assert await budget.take("chat.update", LIMIT, 0.0) == 0.0


async def test_without_nats_a_replica_paces_itself(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    bucket = await nc.jetstream().create_key_value(bucket=f"pacing_{uuid.uuid4().hex[:8]}")
    budget = SharedBudget(bucket, ManualClock())
    await nc.close()

    waits = [await budget.take("chat.update", LIMIT, 0.0) for _ in range(5)]
    assert waits[:4] == [0.0] * 4 and waits[4] > 0


async def test_while_nats_is_away_a_replica_paces_itself_without_waiting_for_it(tmp_path: Path):
    """A killed NATS answers nothing: nats-py waits its 5 s for each read. The calls of a lane
    go one after another, so waiting for each would hold every answer to a person for
    seconds more per call queued before it."""
    async with run_nats_server(tmp_path / "nats") as server:
        nc = await nats.connect(
            server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=_quiet
        )
        bucket = await nc.jetstream().create_key_value(bucket="pacing_outage")
        budget = SharedBudget(bucket, ManualClock())
        server.kill()
        await server.wait_killed()
        started = time.monotonic()
        waits = [await budget.take("chat.postEphemeral", LIMIT, 0.0) for _ in range(5)]
        took = time.monotonic() - started
        assert waits[:4] == [0.0] * 4 and waits[4] > 0
        assert took < 1.5, f"5 calls waited {took:.1f}s for an absent NATS"
        await server.start()
        await wait_until(lambda: nc.is_connected)
        await nc.close()


async def _quiet(_: Exception) -> None:
    pass
