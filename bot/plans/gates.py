"""Plan stages that wait for a decision, found in every intent the forest watch reads.

The watch calls ``on_intent`` again and again with the same intents (scans, events, re-checks):
a plan it already tracks costs a dictionary lookup; a new one is claimed and posted once by
the announcer's create-if-absent claim, however many replicas see it; every tracked plan of
the intent is brought up to date (decided in forage, deployed, cancelled).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Protocol

from bot.approval import Release
from bot.approvals.announcer import Announced
from bot.forest.errors import ForestError
from bot.forest.releases import PipelineStage, ReleaseIntent
from bot.plans.announcer import PlanAnnouncer
from bot.plans.keeper import PlanKeeper, PlanNotPostedYet
from bot.plans.open_plans import OpenPlans
from bot.plans.plan import PlanKey, PlanStage
from bot.plans.plan_store import PlanStore
from bot.slack.web import SlackError, SlackRefusedForGood

log = logging.getLogger(__name__)


class Facts(Protocol):
    async def release(self, organisation: str, intent: ReleaseIntent) -> Release: ...


class PlanGates:
    def __init__(
        self,
        store: PlanStore,
        open_plans: OpenPlans,
        announcer: PlanAnnouncer,
        keeper: PlanKeeper,
        facts: Facts,
    ) -> None:
        self._store = store
        self._open = open_plans
        self._announcer = announcer
        self._keeper = keeper
        self._facts = facts

    async def on_intent(self, organisation: str, intent: ReleaseIntent) -> None:
        for stage in intent.stages:
            if stage.awaiting_plan_approval:
                await self._announce(organisation, intent, stage)
        for key in self._open.keys_for(intent.release_intent_id):
            # Not posted yet: its poster reads the stage again once it has posted.
            with contextlib.suppress(PlanNotPostedYet):
                await self._keeper.observe(key, intent)

    async def _announce(
        self, organisation: str, intent: ReleaseIntent, stage: PipelineStage
    ) -> None:
        key = PlanKey(intent.release_intent_id, stage.stage_id)
        if self._open.posted(key):
            return
        stored = await self._store.get(key)
        if stored is not None and stored.record.posted:
            return
        waiting_since = stage.completed_at or stage.started_at or datetime.now(UTC)
        plan = PlanStage(
            organisation=organisation,
            project=intent.project,
            release_intent_id=intent.release_intent_id,
            stage_id=stage.stage_id,
            environment=stage.environment or "",
            release=await self._facts.release(organisation, intent),
            waiting_since=waiting_since.isoformat(),
        )
        try:
            outcome = await self._announcer.announce(plan)
        except SlackRefusedForGood as error:
            log.error("could not post a plan message: %s", error, extra=key.log_fields)
            return
        except SlackError as error:
            # Not recorded as posted: the next sighting of the intent tries again.
            log.warning(
                "posting a plan message failed: %s", type(error).__name__, extra=key.log_fields
            )
            return
        log.info("plan stage seen: %s", outcome.value, extra=key.log_fields)
        if outcome == Announced.POSTED:
            # What forest said while the message was being posted was not shown (the record
            # was only claimed then): read the stage once more now that it is posted.
            try:
                await self._keeper.refresh(key)
            except ForestError as error:
                log.warning("could not re-read a plan just posted: %s", error.sentence)
