"""Whether JetStream takes the bot's writes now, for readiness.

A connected client says little: JetStream may be electing a leader, or its store may be full and
refuse every write ("insufficient resources") while reads still work. One small write answers
both, and it is made at most once every few seconds however often readiness is asked.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

PROBE_EVERY_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 2.0
OK = "ok"


class JetStreamProbe:
    def __init__(
        self,
        kv: KeyValue,
        owner: str,
        every: float = PROBE_EVERY_SECONDS,
        timeout: float = PROBE_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        # One key per process, in a bucket whose entries expire: nothing piles up.
        self._key = "probe." + re.sub(r"[^-_A-Za-z0-9]", "_", owner)
        self._every = every
        self._timeout = timeout
        self._clock = clock
        self._last: tuple[float, str] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> str:
        """``ok``, or what is wrong in a few words."""
        async with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last[0] < self._every:
                return self._last[1]
            result = await self._probe()
            self._last = (self._clock(), result)
            return result

    async def _probe(self) -> str:
        try:
            await asyncio.wait_for(self._kv.put(self._key, b"1"), self._timeout)
        except nats.js.errors.APIError as error:
            return f"refusing writes ({error.description or error.code})"
        except (TimeoutError, nats.errors.Error):
            return "not answering"
        return OK
