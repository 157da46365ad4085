"""Posting the ONE approval message for a (release intent, environment).

The claim is a create-if-absent on the record's KV key, so across every replica only one process
posts. A process can die after claiming and before recording the message's ts; then the claim goes
stale and another process takes it over with compare-and-swap. Before posting again it looks in
the channel for a message carrying this approval's metadata, which the dead process may have
posted. And a process that finds its claim taken over after posting deletes its own message, so
even a slow post that outlived its claim leaves one message.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bot.approval import ApprovalKey, ApprovalRequest
from bot.approvals.keeper import reported_marks
from bot.approvals.presenter import Presenter
from bot.approvals.release_facts import ReleaseFacts
from bot.approvals.routing import Router
from bot.runtime.keyed_locks import KeyedLocks
from bot.slack.web import SlackRefused, SlackWeb
from bot.state.approval_store import ApprovalRecord, ApprovalStore, Phase, StaleRevision, Stored

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "forest_approval"
# A claim older than this, still without a message, belongs to a process that died.
CLAIM_TIMEOUT_SECONDS = 30.0
TAKEOVER_WAIT_STEPS = 20
TAKEOVER_WAIT_STEP_SECONDS = 0.5


class Announced(enum.StrEnum):
    POSTED = "posted"
    ALREADY_POSTED = "already_posted"
    BUSY = "busy"  # another process holds a fresh claim: try again later


class Announcer:
    def __init__(
        self,
        store: ApprovalStore,
        router: Router,
        presenter: Presenter,
        web: SlackWeb,
        owner: str,
        clock: Callable[[], float] = time.time,
        claim_timeout: float = CLAIM_TIMEOUT_SECONDS,
        facts: ReleaseFacts | None = None,
    ) -> None:
        self._facts = facts
        self._claim_timeout = claim_timeout
        self._attempts = KeyedLocks()
        self._store = store
        self._router = router
        self._presenter = presenter
        self._web = web
        self._owner = owner
        self._clock = clock

    async def announce(self, request: ApprovalRequest) -> Announced:
        # One attempt per approval at a time in this process, so that our own earlier claim
        # can be retried safely (nobody else here is posting it).
        async with self._attempts.hold(request.key):
            return await self._announce(request)

    async def _announce(self, request: ApprovalRequest) -> Announced:
        # Forest re-announces a blocked stage every few seconds: a posted one costs one read.
        known = await self._store.get(request.key)
        if known is not None and known.record.phase == Phase.POSTED:
            return Announced.ALREADY_POSTED
        if known is None and self._facts is not None and not request.stage_id:
            # What the first message shows stays: it is forest's word when forest has one.
            # (A stage the watch found in forest carries forest's facts already.)
            request = await self._facts.confirmed(request)
        now = self._clock()
        claim = ApprovalRecord(
            request=request,
            channel=self._router.channel_for(request),
            phase=Phase.CLAIMED,
            owner=self._owner,
            claimed_at=now,
        )
        stored = await self._store.claim(claim)
        if stored is not None:
            return await self._post(stored, search_first=False)

        existing = await self._store.get(request.key)
        if existing is None:
            return Announced.BUSY
        if existing.record.phase == Phase.POSTED:
            return Announced.ALREADY_POSTED
        ours = existing.record.owner == self._owner
        if not ours and now - existing.record.claimed_at < self._claim_timeout:
            return Announced.BUSY
        log.log(
            logging.INFO if ours else logging.WARNING,
            "retrying our own claim" if ours else "taking over a stale claim",
            extra={**request.key.log_fields, "previous_owner": existing.record.owner},
        )
        try:
            taken = await self._store.replace(
                existing, replace(existing.record, owner=self._owner, claimed_at=now)
            )
        except StaleRevision:
            return Announced.BUSY
        return await self._post(taken, search_first=True)

    async def _post(self, stored: Stored, search_first: bool) -> Announced:
        record = stored.record
        ts = await self._find_posted(record) if search_first else None
        rendered = await self._presenter.render(
            record, await self._presenter.read_state_or_none(record)
        )
        if ts is None:
            ts = await self._send(record, rendered.text, rendered.blocks)
        await self._store.remember_message(record.channel, ts, record.key)
        posted = replace(
            record,
            phase=Phase.POSTED,
            ts=ts,
            digest=rendered.digest,
            approved=rendered.approved,
            # Votes cast before the message existed are shown in it, not replayed in the thread.
            reported=reported_marks(rendered.state),
        )
        try:
            await self._store.replace(stored, posted)
        except StaleRevision:
            # Our claim was taken over while we posted. The taker may have found our message
            # in the channel and kept it; if it kept another one, ours is the duplicate.
            kept = await self._wait_for_posted(record.key)
            if kept is not None and kept != ts:
                await self._withdraw(record.channel, ts)
            return Announced.ALREADY_POSTED
        return Announced.POSTED

    async def _wait_for_posted(self, key: ApprovalKey) -> str | None:
        for _ in range(TAKEOVER_WAIT_STEPS):
            current = await self._store.get(key)
            if current is not None and current.record.phase == Phase.POSTED:
                return current.record.ts
            await asyncio.sleep(TAKEOVER_WAIT_STEP_SECONDS)
        return None

    async def _send(self, record: ApprovalRecord, text: str, blocks: list[dict]) -> str:
        """Raises SlackRefusedForGood when Slack will never take this post; the event is set
        aside. Any other SlackError is tried again later."""
        return await self._web.post_message(
            record.channel,
            text,
            blocks,
            metadata={
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {
                    "release_intent_id": record.key.release_intent_id,
                    "target_environment": record.key.target_environment,
                },
            },
        )

    async def _find_posted(self, record: ApprovalRecord) -> str | None:
        """The ts of a message a dead process posted for this approval, if there is one.

        Slack refusing the search lets the post go ahead; Slack not answering (SlackUnreachable)
        is raised, and the event is tried again."""
        try:
            messages = await self._web.history(
                record.channel,
                oldest=f"{record.claimed_at - self._claim_timeout * 4:.6f}",
                limit=200,
                with_metadata=True,
            )
        except SlackRefused as error:
            log.warning("cannot search the channel for an earlier post: %s", error.code)
            return None
        for message in messages:
            if _is_message_for(message, record.key):
                return str(message["ts"])
        return None

    async def _withdraw(self, channel: str, ts: str) -> None:
        try:
            await self._web.delete_message(channel, ts)
        except SlackRefused as error:
            log.error("could not delete a duplicate approval message: %s", error.code)


def _is_message_for(message: dict, key: ApprovalKey) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == METADATA_EVENT_TYPE
        and payload.get("release_intent_id") == key.release_intent_id
        and payload.get("target_environment") == key.target_environment
    )
