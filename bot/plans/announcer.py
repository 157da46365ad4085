"""Posting the ONE message of a plan stage, whoever sees it waiting and however often.

The approval announcer's design, for plans: a create-if-absent claim on ``plan.<key>``; a claim
left by a process that died is taken over with compare-and-swap, after looking in the channel
for a message the dead process may have posted; a poster whose claim was taken over while it
posted deletes its own message if the taker kept another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bot.approval import ApprovalRequest
from bot.approvals.announcer import CLAIM_TIMEOUT_SECONDS, Announced
from bot.approvals.routing import Router
from bot.plans.plan import PlanKey, PlanStage
from bot.plans.plan_store import PlanRecord, PlanStore, StoredPlan
from bot.plans.presenter import PlanPresenter
from bot.runtime.keyed_locks import KeyedLocks
from bot.slack.web import SlackRefused, SlackWeb
from bot.state.approval_store import Phase, StaleRevision

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "forest_plan"
TAKEOVER_WAIT_STEPS = 20
TAKEOVER_WAIT_STEP_SECONDS = 0.5


def route_of(stage: PlanStage) -> ApprovalRequest:
    """The routes pick a channel by organisation, project and environment, as for approvals."""
    return ApprovalRequest(
        event_id="",
        organisation=stage.organisation,
        project=stage.project,
        release_intent_id=stage.release_intent_id,
        target_environment=stage.environment,
        required_approvals=1,
    )


class PlanAnnouncer:
    def __init__(
        self,
        store: PlanStore,
        router: Router,
        presenter: PlanPresenter,
        web: SlackWeb,
        owner: str,
        clock: Callable[[], float] = time.time,
        claim_timeout: float = CLAIM_TIMEOUT_SECONDS,
    ) -> None:
        self._store = store
        self._router = router
        self._presenter = presenter
        self._web = web
        self._owner = owner
        self._clock = clock
        self._claim_timeout = claim_timeout
        self._attempts = KeyedLocks()

    async def announce(self, stage: PlanStage) -> Announced:
        async with self._attempts.hold(stage.key):
            return await self._announce(stage)

    async def _announce(self, stage: PlanStage) -> Announced:
        now = self._clock()
        claim = PlanRecord(
            stage=stage,
            channel=self._router.channel_for(route_of(stage)),
            phase=Phase.CLAIMED,
            owner=self._owner,
            claimed_at=now,
        )
        stored = await self._store.claim(claim)
        if stored is not None:
            return await self._post(stored, search_first=False)
        existing = await self._store.get(stage.key)
        if existing is None:
            return Announced.BUSY
        if existing.record.phase == Phase.POSTED:
            return Announced.ALREADY_POSTED
        ours = existing.record.owner == self._owner
        if not ours and now - existing.record.claimed_at < self._claim_timeout:
            return Announced.BUSY
        log.log(
            logging.INFO if ours else logging.WARNING,
            "retrying our own plan claim" if ours else "taking over a stale plan claim",
            extra={**stage.key.log_fields, "previous_owner": existing.record.owner},
        )
        try:
            taken = await self._store.replace(
                existing, replace(existing.record, owner=self._owner, claimed_at=now)
            )
        except StaleRevision:
            return Announced.BUSY
        return await self._post(taken, search_first=True)

    async def _post(self, stored: StoredPlan, search_first: bool) -> Announced:
        record = stored.record
        ts = await self._find_posted(record) if search_first else None
        rendered = await self._presenter.render(
            record, await self._presenter.read_output(record.stage)
        )
        if ts is None:
            ts = await self._send(record, rendered.text, rendered.blocks)
        await self._store.remember_message(record.channel, ts, record.key)
        posted = replace(record, phase=Phase.POSTED, ts=ts, digest=rendered.digest)
        try:
            await self._store.replace(stored, posted)
        except StaleRevision:
            kept = await self._wait_for_posted(record.key)
            if kept is not None and kept != ts:
                await self._withdraw(record.channel, ts)
            return Announced.ALREADY_POSTED
        log.info("posted a plan message", extra=record.key.log_fields)
        return Announced.POSTED

    async def _wait_for_posted(self, key: PlanKey) -> str | None:
        for _ in range(TAKEOVER_WAIT_STEPS):
            current = await self._store.get(key)
            if current is not None and current.record.phase == Phase.POSTED:
                return current.record.ts
            await asyncio.sleep(TAKEOVER_WAIT_STEP_SECONDS)
        return None

    async def _send(self, record: PlanRecord, text: str, blocks: list[dict]) -> str:
        """Raises SlackRefusedForGood when Slack will never take this post."""
        return await self._web.post_message(
            record.channel,
            text,
            blocks,
            metadata={
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {
                    "release_intent_id": record.key.release_intent_id,
                    "stage_id": record.key.stage_id,
                },
            },
        )

    async def _find_posted(self, record: PlanRecord) -> str | None:
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
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT_TYPE
                and payload.get("release_intent_id") == record.key.release_intent_id
                and payload.get("stage_id") == record.key.stage_id
            ):
                return str(message["ts"])
        return None

    async def _withdraw(self, channel: str, ts: str) -> None:
        try:
            await self._web.delete_message(channel, ts)
        except SlackRefused as error:
            log.error("could not delete a duplicate plan message: %s", error.code)
