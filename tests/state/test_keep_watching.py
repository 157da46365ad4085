"""Keeping a store's watch going: afresh when asked, and never outliving its loop."""

import asyncio

from bot.state.records import keep_watching


async def test_a_cancelled_loop_stops_the_watch_it_runs():
    started, stopped = asyncio.Event(), asyncio.Event()

    async def mirror() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    loop = asyncio.create_task(keep_watching(mirror, asyncio.Event(), "records"))
    await asyncio.wait_for(started.wait(), 2)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert loop.cancelled()
    assert stopped.is_set()


async def test_a_reconnect_starts_the_watch_afresh():
    again = asyncio.Event()
    first, second = asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def mirror() -> None:
        runs.append(len(runs))
        (first if len(runs) == 1 else second).set()
        await asyncio.Event().wait()

    loop = asyncio.create_task(keep_watching(mirror, again, "records"))
    try:
        await asyncio.wait_for(first.wait(), 2)
        again.set()
        await asyncio.wait_for(second.wait(), 2)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert runs == [0, 1]
