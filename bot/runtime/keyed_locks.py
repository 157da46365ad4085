"""One asyncio lock per key, forgotten when nobody holds or waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        async with self._counted(key) as lock, lock:
            yield

    @asynccontextmanager
    async def hold_within(self, key: Hashable, seconds: float) -> AsyncIterator[bool]:
        """Hold ``key`` if it comes free within ``seconds``; yields whether it is held. For
        work that must not wait long behind a holder, and is safe without the lock."""
        async with self._counted(key) as lock:
            try:
                async with asyncio.timeout(seconds):
                    await lock.acquire()
            except TimeoutError:
                yield False
                return
            try:
                yield True
            finally:
                lock.release()

    def busy(self, key: Hashable) -> bool:
        """Whether someone holds or waits for ``key`` right now."""
        return key in self._locks

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def _counted(self, key: Hashable) -> AsyncIterator[asyncio.Lock]:
        """The lock of ``key``, kept while this caller holds or waits for it."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            yield lock
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
