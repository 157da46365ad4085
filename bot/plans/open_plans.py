"""The plan messages still open, kept current from the KV bucket by a watch (as
``bot.approvals.open_approvals`` does for approvals), so any replica can keep any plan true and
list the plans that wait."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.plans.plan import PlanKey
from bot.plans.plan_store import PlanStore

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class _Entry:
    organisation: str
    waiting: bool
    posted: bool


class OpenPlans:
    def __init__(self, store: PlanStore) -> None:
        self._store = store
        self._open: dict[PlanKey, _Entry] = {}
        self.loaded = asyncio.Event()
        self._resubscribe = asyncio.Event()

    def keys_for(self, release_intent_id: str) -> list[PlanKey]:
        return [key for key in self._open if key.release_intent_id == release_intent_id]

    def posted(self, key: PlanKey) -> bool:
        """Whether the plan's message is out (a claim alone may still need its post)."""
        entry = self._open.get(key)
        return entry is not None and entry.posted

    def waiting(self) -> list[PlanKey]:
        """Plans whose message still asks for a decision."""
        return [key for key, entry in self._open.items() if entry.waiting]

    def all(self) -> list[PlanKey]:
        return list(self._open)

    def __len__(self) -> int:
        return len(self._open)

    def resubscribe(self) -> None:
        self.loaded.clear()
        self._resubscribe.set()

    async def follow(self) -> None:
        """Mirror the bucket until cancelled; a lost watch is started again."""
        while True:
            self._resubscribe.clear()
            mirroring = asyncio.create_task(self._mirror())
            asked = asyncio.create_task(self._resubscribe.wait())
            done, pending = await asyncio.wait(
                {mirroring, asked}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if mirroring in done:
                error = mirroring.exception()
                log.warning(
                    "the plans watch ended (%s); watching again",
                    type(error).__name__ if error else "closed",
                )
                await asyncio.sleep(RETRY_SECONDS)

    async def _mirror(self) -> None:
        snapshot: dict[PlanKey, _Entry] = {}
        live = False
        async for change in self._store.watch():
            if change is None:
                self._open, live = snapshot, True
                self.loaded.set()
                continue
            target = self._open if live else snapshot
            if change.open and change.organisation:
                target[change.key] = _Entry(change.organisation, change.waiting, change.posted)
            else:
                target.pop(change.key, None)
