"""Slack's rate budget shared by every replica, kept in NATS KV.

Slack counts calls per app per workspace, not per process: two replicas pacing themselves each
at the full rate would together send twice what Slack allows. So the buckets live in one KV
bucket (``slack_pacing``), one key per limit (``chat.update``, ``chat.postMessage.C0123``),
each holding the level, when it was measured and until when Slack asked us to wait; taking a
token is a compare-and-swap. Replicas then share the budget exactly, whichever of them is busy,
and a restarted process does not assume a full bucket that its predecessor spent.

Why not a fixed share per replica: clicks, nudges and events do not spread evenly over
replicas (a train in one channel lands on whichever replica handles its votes), so a fixed share
would leave budget unused in one replica while another waits; and the share would change with
every replica that starts or stops. The price is a KV round trip or two per paced call, at most
a few per second at Slack's rates.

If NATS cannot answer, the call takes from this process's own bucket instead (a 429 that may
follow is waited out by the pacer). NATS is not waited for: the calls of one limit go one after
another, so while NATS is away each would otherwise hold every call queued behind it for nats-py's
5 s (a person told "NOT recorded" a minute late); a read that does not answer within
``KV_TIMEOUT_SECONDS`` counts as NATS away, and for ``AWAY_SECONDS`` after that the process does
not ask it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from bot.slack.pacing import BucketState, Limit, LocalBudget

log = logging.getLogger(__name__)

PACING_BUCKET = "slack_pacing"
# Compare-and-swap attempts before this round gives up (the caller asks again shortly).
MAX_SWAPS = 6
CONTENDED_WAIT_SECONDS = 0.01
# A KV round trip takes milliseconds; a take that has not finished in this time is NATS away.
KV_TIMEOUT_SECONDS = 0.5
# After NATS failed to answer, this long on the process's own buckets before asking it again.
AWAY_SECONDS = 2.0


class SharedBudget:
    def __init__(self, kv: KeyValue, clock: Callable[[], float] = time.time) -> None:
        # Wall-clock time: every replica reads the same one (monotonic clocks differ by host).
        self._kv = kv
        self._clock = clock
        self._fallback = LocalBudget(clock)
        # Until when (monotonic) NATS is taken as away, after it failed to answer.
        self._away_until = 0.0

    async def take(self, key: str, limit: Limit, reserve: float) -> float:
        if not self._away():
            try:
                return await asyncio.wait_for(self._take(key, limit, reserve), KV_TIMEOUT_SECONDS)
            except (NatsError, TimeoutError) as error:
                self._went_away()
                log.warning("the shared Slack budget is unavailable (%s)", type(error).__name__)
        return self._fallback.take_now(key, limit, reserve)

    async def hold_off(self, key: str, limit: Limit, seconds: float) -> None:
        if not self._away():
            try:
                await asyncio.wait_for(
                    self._swap(
                        key, limit, lambda state, now: (0.0, state.held_off(limit, now, seconds))
                    ),
                    KV_TIMEOUT_SECONDS,
                )
                return
            except (NatsError, TimeoutError):
                self._went_away()
        await self._fallback.hold_off(key, limit, seconds)

    def _away(self) -> bool:
        return time.monotonic() < self._away_until

    def _went_away(self) -> None:
        self._away_until = time.monotonic() + AWAY_SECONDS

    async def _take(self, key: str, limit: Limit, reserve: float) -> float:
        return await self._swap(key, limit, lambda state, now: state.take(limit, now, reserve))

    async def _swap(
        self,
        key: str,
        limit: Limit,
        change: Callable[[BucketState, float], tuple[float, BucketState]],
    ) -> float:
        for _ in range(MAX_SWAPS):
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                entry = None
            now = self._clock()
            state = _decode(entry.value) if entry is not None and entry.value else None
            before = state or BucketState.full(limit, now)
            wait, after = change(before, now)
            if after is before:
                return wait
            try:
                if entry is None:
                    await self._kv.create(key, _encode(after))
                else:
                    await self._kv.update(key, _encode(after), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # another replica took one meanwhile: read again
            return wait
        return CONTENDED_WAIT_SECONDS


def _encode(state: BucketState) -> bytes:
    return json.dumps(
        {"level": state.level, "at": state.at, "blocked_until": state.blocked_until}
    ).encode()


def _decode(value: bytes) -> BucketState | None:
    try:
        found = json.loads(value)
        return BucketState(
            float(found["level"]), float(found["at"]), float(found.get("blocked_until", 0.0))
        )
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: start from a full bucket rather than stop
