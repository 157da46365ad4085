"""The plan messages still open, kept current from the KV bucket by a watch (as
``bot.approvals.open_approvals`` does for approvals), so any replica can keep any plan true and
list the plans that wait. The same watch tells which plans, open or ended, still owe their
thread replies, and since when they are held (bot/slack/outbox.py takes over those a dead
process held)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.plans.plan import PlanKey
from bot.plans.plan_store import PlanStore
from bot.state.owed import HeldReplies
from bot.state.records import keep_watching

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    organisation: str
    waiting: bool
    posted: bool


class OpenPlans:
    def __init__(self, store: PlanStore) -> None:
        self._store = store
        self._open: dict[PlanKey, _Entry] = {}
        # Plans owing thread replies (open or ended: an end's reply outlives the plan's
        # message being open): when the longest-held one was held.
        self._owed: HeldReplies[PlanKey] = HeldReplies()
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

    def owed_held_before(self, moment: float) -> list[PlanKey]:
        """The plans, open or ended, owing a thread reply last held before ``moment``."""
        return self._owed.before(moment)

    def all(self) -> list[PlanKey]:
        return list(self._open)

    def __len__(self) -> int:
        return len(self._open)

    def resubscribe(self) -> None:
        self.loaded.clear()
        self._resubscribe.set()

    async def follow(self) -> None:
        """Mirror the bucket until cancelled; a lost watch is started again."""
        await keep_watching(self._mirror, self._resubscribe, "plans")

    async def _mirror(self) -> None:
        snapshot: dict[PlanKey, _Entry] = {}
        owed: HeldReplies[PlanKey] = HeldReplies()
        live = False
        async for change in self._store.watch():
            if change is None:
                self._open, self._owed, live = snapshot, owed, True
                self.loaded.set()
                continue
            owed.note(change.key, change.owed_held_at)
            target = self._open if live else snapshot
            if change.open and change.organisation:
                target[change.key] = _Entry(change.organisation, change.waiting, change.posted)
            else:
                target.pop(change.key, None)
