"""The approvals still open (claimed or posted), kept current from the KV bucket by a watch.

Every replica sees every record this way, so any replica can act on a nudge for an approval
another replica posted, and an untracked intent is ignored with one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import logging

from bot.approval import ApprovalKey
from bot.store import ApprovalStore

log = logging.getLogger(__name__)


class OpenApprovals:
    def __init__(self, store: ApprovalStore) -> None:
        self._store = store
        self._by_intent: dict[str, set[ApprovalKey]] = {}
        self._approved: set[ApprovalKey] = set()
        self.loaded = asyncio.Event()

    def keys_for(self, release_intent_id: str) -> list[ApprovalKey]:
        return sorted(self._by_intent.get(release_intent_id, ()), key=lambda k: k.token)

    def is_approved(self, key: ApprovalKey) -> bool:
        return key in self._approved

    def all(self) -> list[ApprovalKey]:
        return [key for keys in self._by_intent.values() for key in keys]

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_intent.values())

    async def follow(self) -> None:
        """Mirror the bucket until cancelled; ``loaded`` is set once the first pass is in."""
        async for change in self._store.watch():
            if change is None:
                self.loaded.set()
                continue
            record = change.stored.record if change.stored else None
            # Claimed approvals are tracked too: a vote can come in while the message is posted.
            if record is not None and record.outcome is None:
                self._by_intent.setdefault(change.key.release_intent_id, set()).add(change.key)
                if record.approved:
                    self._approved.add(change.key)
                else:
                    self._approved.discard(change.key)
            else:
                self._forget(change.key)

    def _forget(self, key: ApprovalKey) -> None:
        keys = self._by_intent.get(key.release_intent_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_intent[key.release_intent_id]
        self._approved.discard(key)
