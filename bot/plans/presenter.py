"""Turning a plan record and forest's plan output into the message people see."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from blocks.plan_message import plan_message
from bot.approval import release_page
from bot.forest.client import ForestClient
from bot.forest.errors import ForestError
from bot.identity.people import People
from bot.plans.plan import DestinationPlan, PlanOutput, PlanStage, PlanView
from bot.plans.plan_store import PlanRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedPlan:
    text: str
    blocks: list[dict]
    digest: str
    view: PlanView


class PlanPresenter:
    def __init__(self, forest: ForestClient, people: People, forest_web_url: str) -> None:
        self._forest = forest
        self._people = people
        self._forest_web_url = forest_web_url.rstrip("/")

    async def read_output(self, stage: PlanStage) -> PlanOutput | None:
        """The plan per destination, read with the app token; None when forest cannot say
        (the message then says so and links to forage)."""
        try:
            reply = await self._forest.plan_output(stage.release_intent_id, stage.stage_id)
        except ForestError as error:
            log.warning(
                "could not read the plan output: %s", error.sentence, extra=stage.key.log_fields
            )
            return None
        destinations = tuple(
            DestinationPlan(
                destination_name=o.destination_name,
                plan_output=o.plan_output,
                status=o.status,
                destination_id=o.destination_id,
            )
            for o in reply.outputs
        )
        if not destinations and reply.plan_output:
            # An older forest sends only the deprecated single text.
            destinations = (DestinationPlan("", reply.plan_output, reply.status),)
        return PlanOutput(reply.status, destinations)

    async def view(self, record: PlanRecord, output: PlanOutput | None) -> PlanView:
        stage = record.stage
        return PlanView(
            stage=stage,
            output=output,
            decision=record.decision,
            end=record.end,
            end_at=datetime.fromtimestamp(record.end_at, UTC) if record.end_at else None,
            web_url=self.web_url(stage),
            slack_users=await self._slack_users(stage),
        )

    async def render(self, record: PlanRecord, output: PlanOutput | None) -> RenderedPlan:
        view = await self.view(record, output)
        message = plan_message(view)
        digest = message.digest
        return RenderedPlan(message.text, message.blocks, digest, view)

    def web_url(self, stage: PlanStage) -> str:
        return release_page(
            self._forest_web_url, stage.organisation, stage.project, stage.release
        )

    async def _slack_users(self, stage: PlanStage) -> dict[str, str]:
        author = stage.release.author
        if author is None or not author.user_id:
            return {}
        slack_id = await self._people.slack_user(author.user_id, author.email)
        return {author.user_id: slack_id} if slack_id else {}
