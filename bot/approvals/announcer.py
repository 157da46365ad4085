"""Posting the ONE approval message for a (release intent, environment), with forest's word on
the release where forest has one. How one message is ensured across replicas (claim, takeover,
withdrawing a duplicate) is bot/approvals/one_message.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bot.approval import ApprovalRequest
from bot.approvals.keeper import reported_marks
from bot.approvals.one_message import CLAIM_TIMEOUT_SECONDS, Announced, Drawn, OneMessage
from bot.approvals.presenter import Presenter
from bot.approvals.release_facts import ReleaseFacts
from bot.approvals.routing import Router
from bot.runtime.keyed_locks import KeyedLocks
from bot.slack.web import SlackWeb
from bot.state.approval_store import ApprovalRecord, ApprovalStore, Phase

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "forest_approval"


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
        self._attempts = KeyedLocks()
        self._store = store
        self._router = router
        self._presenter = presenter
        self._message = OneMessage(
            store, web, owner, "approval", METADATA_EVENT_TYPE, clock, claim_timeout
        )

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
        # A stage the watch found carries forest's facts already (stage_id set).
        if known is None and self._facts is not None and not request.stage_id:
            # What the first message shows stays: it is forest's word when forest has one.
            request = await self._facts.confirmed(request)
        channel = self._router.channel_for(request)

        def claim(owner: str, now: float) -> ApprovalRecord:
            return ApprovalRecord(
                request=request, channel=channel, phase=Phase.CLAIMED, owner=owner, claimed_at=now
            )

        metadata = {
            "release_intent_id": request.key.release_intent_id,
            "target_environment": request.key.target_environment,
        }
        return await self._message.post_once(claim, metadata, self._draw)

    async def _draw(self, record: ApprovalRecord) -> Drawn[ApprovalRecord]:
        rendered = await self._presenter.render(
            record, await self._presenter.read_state_or_none(record)
        )

        def posted(ts: str) -> ApprovalRecord:
            return replace(
                record,
                phase=Phase.POSTED,
                ts=ts,
                digest=rendered.digest,
                approved=rendered.approved,
                # Votes cast before the message existed are shown in it, not replayed in the
                # thread.
                reported=reported_marks(rendered.state),
            )

        return Drawn(rendered.text, rendered.blocks, posted)
