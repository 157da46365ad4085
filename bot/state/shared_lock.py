"""A lock shared by every replica: one key in a JetStream KV bucket, taken with compare-and-swap.

``create`` succeeds for one process only; the holder deletes the key (with its own revision, so a
lock taken over meanwhile is left alone). The value is the time the lease ends: a holder that
died leaves a key that the next process may break once that time has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

DEFAULT_LEASE_SECONDS = 15.0
POLL_SECONDS = 0.05


class LockTimeout(Exception):
    """Another process held the lock for longer than we could wait."""


class SharedLocks:
    def __init__(
        self,
        kv: KeyValue,
        lease: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._lease = lease
        self._clock = clock

    @contextlib.asynccontextmanager
    async def hold(self, name: str, wait: float | None = None) -> AsyncIterator[None]:
        """Hold ``lock.<name>`` across every replica; raises LockTimeout after ``wait``
        seconds (by default a little longer than a lease)."""
        key = f"lock.{name}"
        give_up = time.monotonic() + (self._lease + 1.0 if wait is None else wait)
        while True:
            revision = await self._try_take(key)
            if revision is not None:
                break
            if time.monotonic() > give_up:
                raise LockTimeout(name)
            await asyncio.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            # A failed release only costs the next holder the rest of the lease.
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._kv.delete(key, last=revision)

    async def _try_take(self, key: str) -> int | None:
        lease_end = str(self._clock() + self._lease).encode()
        try:
            return await self._kv.create(key, lease_end)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None  # released meanwhile: try again
        if _lease_end(entry.value) < self._clock():
            # Its holder died: break the lock, unless someone else just did.
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self._kv.delete(key, last=entry.revision)
        return None


def _lease_end(value: bytes | None) -> float:
    try:
        return float(value or b"0")
    except ValueError:
        return 0.0
