"""The approvals still open (claimed or posted), kept current from the KV bucket by a watch.

Every replica sees every record this way, so any replica can act on a nudge for an approval
another replica posted, and an untracked intent is ignored with one dictionary lookup. The same
watch tells which records, open or ended, still owe their thread replies, and since when they
are held (bot/slack/outbox.py takes over those a dead process held).
"""

from __future__ import annotations

import asyncio
import logging

from bot.approval import ApprovalKey
from bot.state.approval_store import ApprovalStore
from bot.state.owed import HeldReplies
from bot.state.records import keep_watching

log = logging.getLogger(__name__)


class OpenApprovals:
    def __init__(self, store: ApprovalStore) -> None:
        self._store = store
        self._by_intent: dict[str, set[ApprovalKey]] = {}
        self._approved: set[ApprovalKey] = set()
        self._staged: set[ApprovalKey] = set()
        # Records owing thread replies (open or ended): when the longest-held one was held.
        self._owed: HeldReplies[ApprovalKey] = HeldReplies()
        self.loaded = asyncio.Event()
        self._resubscribe = asyncio.Event()

    def keys_for(self, release_intent_id: str) -> list[ApprovalKey]:
        return sorted(self._by_intent.get(release_intent_id, ()), key=lambda k: k.token)

    def is_approved(self, key: ApprovalKey) -> bool:
        return key in self._approved

    def is_staged(self, key: ApprovalKey) -> bool:
        """Whether forest holds this approval as a pipeline stage (found by the watch)."""
        return key in self._staged

    def owed_held_before(self, moment: float) -> list[ApprovalKey]:
        """The approvals, open or ended, owing a thread reply last held before ``moment``."""
        return self._owed.before(moment)

    def all(self) -> list[ApprovalKey]:
        return [key for keys in self._by_intent.values() for key in keys]

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_intent.values())

    async def follow(self) -> None:
        """Mirror the bucket until cancelled; ``loaded`` is set once a full pass is in.

        A watch does not survive every NATS outage, so ``resubscribe`` (called on reconnect)
        starts a fresh one, which rebuilds the index from a new snapshot.
        """
        await keep_watching(self._mirror, self._resubscribe, "approvals")

    def resubscribe(self) -> None:
        self.loaded.clear()
        self._resubscribe.set()

    async def _mirror(self) -> None:
        by_intent: dict[str, set[ApprovalKey]] = {}
        approved: set[ApprovalKey] = set()
        staged: set[ApprovalKey] = set()
        owed: HeldReplies[ApprovalKey] = HeldReplies()
        async for change in self._store.watch():
            if change is None:
                # The snapshot is complete: from now on, changes go to the live index.
                self._by_intent, self._approved, self._staged = by_intent, approved, staged
                self._owed = owed
                self.loaded.set()
                continue
            summary = change.summary
            owed.note(change.key, summary.owed_held_at if summary is not None else None)
            # Claimed approvals are tracked too: a vote can come in while the message is posted.
            if summary is not None and summary.open:
                by_intent.setdefault(change.key.release_intent_id, set()).add(change.key)
                if summary.approved:
                    approved.add(change.key)
                else:
                    approved.discard(change.key)
                if summary.staged:
                    staged.add(change.key)
            else:
                _forget(by_intent, approved, change.key)
                staged.discard(change.key)


def _forget(
    by_intent: dict[str, set[ApprovalKey]], approved: set[ApprovalKey], key: ApprovalKey
) -> None:
    keys = by_intent.get(key.release_intent_id)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del by_intent[key.release_intent_id]
    approved.discard(key)
