import asyncio

from bot.runtime.keyed_locks import KeyedLocks


async def test_hold_within_gives_up_on_a_lock_held_past_it_and_takes_a_free_one():
    locks = KeyedLocks()
    released = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("approval"):
            await released.wait()

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    async with locks.hold_within("approval", 0.05) as held:
        assert held is False
    async with locks.hold_within("another", 0.05) as held:
        assert held is True
        assert locks.busy("another")
    released.set()
    await holding
    async with locks.hold_within("approval", 0.05) as held:
        assert held is True
    assert len(locks) == 0  # nobody holds or waits: every lock is forgotten


async def test_a_lock_taken_within_the_wait_is_released_after():
    locks = KeyedLocks()
    async with locks.hold_within("approval", 1.0) as held:
        assert held
        waiting = asyncio.create_task(_hold_briefly(locks))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the lock is really held
    await asyncio.wait_for(waiting, 1.0)
    assert len(locks) == 0


async def _hold_briefly(locks: KeyedLocks) -> None:
    async with locks.hold("approval"):
        pass
