"""The lock replicas share: one holder at a time, a dead holder's lease runs out."""

import asyncio
import time
import uuid

import nats
import pytest

from bot.state.approval_store import open_bucket
from bot.state.shared_lock import LockTimeout, SharedLocks


async def test_one_holder_at_a_time_and_a_dead_holders_lock_is_broken(nats_server):
    nc = await nats.connect(nats_server.url)
    try:
        kv = await open_bucket(nc.jetstream(), f"locks_{uuid.uuid4().hex[:8]}", history=1)
        first, second = SharedLocks(kv, lease=5.0), SharedLocks(kv, lease=5.0)
        order: list[str] = []

        async def hold(locks: SharedLocks, name: str) -> None:
            async with locks.hold("refresh.T.U"):
                order.append(f"{name} in")
                await asyncio.sleep(0.2)
                order.append(f"{name} out")

        await asyncio.gather(hold(first, "a"), hold(second, "b"))
        assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])

        # A holder that died: its lease ran out a second ago.
        await kv.put("lock.dead", str(time.time() - 1).encode())
        async with first.hold("dead", wait=1.0):
            pass
        # A live holder is waited for, up to ``wait``.
        async with first.hold("busy"):
            with pytest.raises(LockTimeout):
                async with second.hold("busy", wait=0.3):
                    pass
    finally:
        await nc.close()
