"""Posting the ONE message of a plan stage, whoever sees it waiting and however often.

The approval message's design, for plans (bot/approvals/one_message.py): a create-if-absent claim
on ``plan.<key>``; a claim left by a process that died is taken over with compare-and-swap, after
looking in the channel for a message the dead process may have posted; a poster whose claim was
taken over while it posted deletes its own message if the taker kept another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bot.approval import ApprovalRequest
from bot.approvals.one_message import CLAIM_TIMEOUT_SECONDS, Announced, Drawn, OneMessage
from bot.approvals.routing import Router
from bot.plans.plan import PlanStage
from bot.plans.plan_store import PlanRecord, PlanStore
from bot.plans.presenter import PlanPresenter
from bot.runtime.keyed_locks import KeyedLocks
from bot.slack.web import SlackWeb
from bot.state.records import Phase

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "forest_plan"


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
        self._router = router
        self._presenter = presenter
        self._attempts = KeyedLocks()
        self._message = OneMessage(
            store, web, owner, "plan", METADATA_EVENT_TYPE, clock, claim_timeout
        )

    async def announce(self, stage: PlanStage) -> Announced:
        async with self._attempts.hold(stage.key):
            channel = self._router.channel_for(route_of(stage))

            def claim(owner: str, now: float) -> PlanRecord:
                return PlanRecord(
                    stage=stage, channel=channel, phase=Phase.CLAIMED, owner=owner, claimed_at=now
                )

            metadata = {
                "release_intent_id": stage.key.release_intent_id,
                "stage_id": stage.key.stage_id,
            }
            announced = await self._message.post_once(claim, metadata, self._draw)
        if announced == Announced.POSTED:
            log.info("posted a plan message", extra=stage.key.log_fields)
        return announced

    async def _draw(self, record: PlanRecord) -> Drawn[PlanRecord]:
        rendered = await self._presenter.render(
            record, await self._presenter.read_output(record.stage)
        )

        def posted(ts: str) -> PlanRecord:
            return replace(record, phase=Phase.POSTED, ts=ts, digest=rendered.digest)

        return Drawn(rendered.text, rendered.blocks, posted)
