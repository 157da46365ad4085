"""One follower of forest's event log at a time, across every replica.

A lease in the bot's key-value state: ``lease.<organisation>`` holds the owner, when the lease
runs out, and whether the owner is connected to forest (what the other replicas report as
their readiness). The owner renews it with compare-and-swap; another replica takes it over
once it ran out, so a dead follower is replaced within one lease.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.js.errors
from nats.js.kv import KeyValue

LEASE_SECONDS = 15.0


@dataclass(frozen=True)
class Holder:
    owner: str
    expires_at: float
    connected: bool


class WatchLease:
    def __init__(
        self,
        kv: KeyValue,
        organisation: str,
        owner: str,
        seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._key = f"lease.{organisation}"
        self.owner = owner
        self.seconds = seconds
        self._clock = clock
        self.holder: Holder | None = None

    async def hold(self, connected: bool) -> bool:
        """Take or renew the lease; True while this process holds it.

        ``holder`` is left as the lease was read, so a replica that does not hold it knows who
        does and whether that one is connected.
        """
        now = self._clock()
        revision, current = await self._read()
        if current is not None and current.owner != self.owner and current.expires_at > now:
            self.holder = current
            return False
        mine = Holder(self.owner, now + self.seconds, connected)
        try:
            if revision is None:
                await self._kv.create(self._key, _encode(mine))
            else:
                await self._kv.update(self._key, _encode(mine), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            # Another replica wrote first: it holds the lease.
            _, self.holder = await self._read()
            return False
        self.holder = mine
        return True

    async def give_up(self) -> None:
        """Let another replica take over at once (a clean shutdown)."""
        revision, current = await self._read()
        if current is not None and current.owner == self.owner and revision is not None:
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self._kv.delete(self._key, last=revision)

    def other_is_connected(self) -> bool:
        """Whether another replica holds a live lease and says it follows forest."""
        holder = self.holder
        return (
            holder is not None
            and holder.owner != self.owner
            and holder.expires_at > self._clock()
            and holder.connected
        )

    async def _read(self) -> tuple[int | None, Holder | None]:
        try:
            entry = await self._kv.get(self._key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None, None
        if not entry.value:
            return entry.revision, None
        try:
            document = json.loads(entry.value)
            return entry.revision, Holder(
                str(document["owner"]),
                float(document["expires_at"]),
                bool(document.get("connected")),
            )
        except (ValueError, KeyError, TypeError):
            return entry.revision, None


def _encode(holder: Holder) -> bytes:
    return json.dumps(
        {"owner": holder.owner, "expires_at": holder.expires_at, "connected": holder.connected}
    ).encode()
