"""Once-only marks across every replica, for requests that Slack may deliver twice."""

from __future__ import annotations

import asyncio

import nats.js.errors
from nats.js.kv import KeyValue

from bot.state.errors import store_call

DEDUP_BUCKET = "forest_dedup"
# Slack retries within minutes; an hour covers every retry and replay we know of.
DEDUP_TTL_SECONDS = 3600.0


class Dedup:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def first_time(self, mark: str, timeout: float | None = None) -> bool:
        """True for the first caller with ``mark``, False for every later one (within the TTL).

        Raises StoreUnavailable when JetStream cannot say (or not within ``timeout``, for a
        caller that must answer sooner than nats-py's own 5 s): the caller must not guess."""
        with store_call("mark a request as seen"):
            try:
                await asyncio.wait_for(self._kv.create(mark, b"1"), timeout)
            except nats.js.errors.KeyWrongLastSequenceError:
                return False
        return True
