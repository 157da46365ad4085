"""Plan messages: Approve plan, Reject plan (a modal asks why), View plan, and finishing a
decision after linking or a failure. Thin: parse, call PlanDecisions, answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp

from blocks.elements import SlackMessage
from blocks.linking import RESUME_ACTION_ID
from blocks.modals import (
    PLAN_REJECT_CALLBACK_ID,
    REASON_BLOCK_ID,
    key_token_of,
    notice_modal,
    plan_reject_modal,
    reason_of,
)
from blocks.plan_message import (
    APPROVE_PLAN_ACTION_ID,
    REJECT_PLAN_ACTION_ID,
    VIEW_PLAN_ACTION_ID,
    plan_loading_modal,
    plan_modal,
)
from blocks.replies import not_linked, notice, vote_failed
from bot.approvals.voting import Verdict, VoteKind
from bot.plans.deciding import PlanBallot, PlanChoice, PlanDecisions, PlanResult
from bot.plans.plan import PlanKey
from bot.plans.plan_store import PlanRecord
from handlers.deps import HandlerDeps, tracked
from handlers.payloads import (
    Actor,
    ButtonClick,
    ModalPlace,
    PayloadError,
    actor_of,
    button_click,
    modal_place,
)
from handlers.verdicts import REACTIONS, answer_privately

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]
PENDING_PREFIX = "plan-"
# Forest may have decided before its answer was lost; trying again never decides twice.
PLAN_NOT_ANSWERED = (
    "Forest didn't answer, so your decision may *not* have been recorded. Try again: a plan is"
    " only ever decided once."
)


@dataclass(frozen=True)
class PendingPlan:
    """A plan decision someone started and could not finish yet (not linked, forest down)."""

    choice: PlanChoice
    key: PlanKey
    channel_id: str
    message_ts: str

    def encode(self) -> str:
        kind = PENDING_PREFIX + self.choice.value
        return "|".join((kind, self.key.token, self.channel_id, self.message_ts))


def is_pending_plan(value: str) -> bool:
    return value.startswith(PENDING_PREFIX)


def pending_plan(value: str) -> PendingPlan:
    parts = value.split("|")
    if len(parts) != 4 or not is_pending_plan(parts[0]):
        raise PayloadError("not a pending plan decision")
    try:
        choice = PlanChoice(parts[0].removeprefix(PENDING_PREFIX))
        key = PlanKey.from_token(parts[1])
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("not a pending plan decision") from None
    return PendingPlan(choice, key, parts[2], parts[3])


def plan_answer(result: PlanResult, pending: PendingPlan) -> SlackMessage | None:
    """What the person is told privately; None when the message and thread say it all."""
    match result.verdict:
        case Verdict.RECORDED | Verdict.IN_FLIGHT:
            return None
        case Verdict.NOT_LINKED:
            return not_linked(pending.encode(), result.sentence)
        case Verdict.FAILED:
            return vote_failed(RESUME_ACTION_ID, pending.encode(), sentence=PLAN_NOT_ANSWERED)
        case _:
            return notice(result.sentence)


def plan_ballot_of(actor: Actor, pending: PendingPlan, reason: str | None = None) -> PlanBallot:
    return PlanBallot(
        team_id=actor.team_id,
        slack_user_id=actor.user_id,
        key=pending.key,
        choice=pending.choice,
        reason=reason,
        channel=pending.channel_id,
        message_ts=pending.message_ts,
    )


async def decide_and_answer(
    deps: HandlerDeps,
    plans: PlanDecisions,
    actor: Actor,
    pending: PendingPlan,
    reason: str | None,
    reply_ts: str | None = None,
) -> None:
    """Decide the plan as the person; tell them privately when the message will not say it all.

    A decision typed in the thread names the person's reply (``reply_ts``): a recorded one gets
    a reaction on it, and any answer goes in the thread.
    """
    result = await plans.decide(plan_ballot_of(actor, pending, reason))
    kind = VoteKind.APPROVE if pending.choice == PlanChoice.APPROVE else VoteKind.REJECT
    recorded = REACTIONS[kind] if result.verdict == Verdict.RECORDED else None
    await answer_privately(
        deps,
        actor,
        pending.channel_id,
        pending.message_ts,
        plan_answer(result, pending),
        reply_ts=reply_ts,
        recorded=recorded,
    )


class PlanButtons:
    def __init__(self, deps: HandlerDeps, plans: PlanDecisions) -> None:
        self._deps = deps
        self._plans = plans

    async def approve(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        click, pending = self._parse(body, PlanChoice.APPROVE)
        if click is not None and pending is not None:
            await self.decide(click.actor, pending, reason=None)

    async def reject(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        click, pending = self._parse(body, PlanChoice.REJECT)
        if click is not None and pending is not None:
            await self.open_reason_modal(click, pending)

    async def view(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        click, pending = self._parse(body, PlanChoice.APPROVE)
        if click is None or pending is None:
            return
        # The trigger lasts 3 s: open first, then read the plan from forest.
        view_id = await self._deps.answers.open_modal(click.trigger_id, plan_loading_modal())
        if view_id is None:
            return  # no modal to fill: forest is not asked
        shown = await self._plans.plan_view(pending.key)
        if shown is None:
            modal = notice_modal(notice("This plan is not one the bot is tracking."), "Plan")
        else:
            modal = plan_modal(shown)
        await self._deps.answers.update_modal(view_id, modal)

    async def resume(self, click: ButtonClick) -> None:
        """Finish a decision started before linking, or try again after forest failed."""
        try:
            pending = pending_plan(click.value)
        except PayloadError:
            return
        if pending.choice == PlanChoice.APPROVE:
            await self.decide(click.actor, pending, reason=None)
        else:
            await self.open_reason_modal(click, pending)

    async def decide(self, actor: Actor, pending: PendingPlan, reason: str | None) -> None:
        await decide_and_answer(self._deps, self._plans, actor, pending, reason)

    async def open_reason_modal(self, click: ButtonClick, pending: PendingPlan) -> None:
        record = await self._plans.find(pending.key)
        title = release_name_of(record)
        place = ModalPlace(pending.channel_id, pending.message_ts).encode()
        view_id = await self._deps.answers.open_modal(
            click.trigger_id, plan_reject_modal(pending.key.token, title, place)
        )
        refusal = await self._plans.check(plan_ballot_of(click.actor, pending))
        answer = plan_answer(refusal, pending) if refusal is not None else None
        if answer is None:
            return
        if view_id is not None:
            await self._deps.answers.update_modal(view_id, notice_modal(answer))
        else:
            await self._deps.answers.ephemeral(pending.channel_id, click.actor.user_id, answer)

    async def submit_reject(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = reason_of(view)
        if not reason:
            await ack(response_action="errors", errors={REASON_BLOCK_ID: "Please give a reason."})
            return
        await ack()
        try:
            actor = actor_of(body)
            key = PlanKey.from_token(key_token_of(view))
            place = modal_place(view.get("private_metadata", ""))
        except (PayloadError, ValueError, UnicodeDecodeError) as error:
            log.warning("ignored a plan modal submission: %s", error)
            return
        pending = PendingPlan(PlanChoice.REJECT, key, place.channel_id, place.message_ts)
        await self.decide(actor, pending, reason)

    def _parse(
        self, body: dict[str, Any], choice: PlanChoice
    ) -> tuple[ButtonClick | None, PendingPlan | None]:
        try:
            click = button_click(body)
            key = PlanKey.from_token(click.value)
        except (PayloadError, ValueError, UnicodeDecodeError) as error:
            log.warning("ignored a plan button: %s", error)
            return None, None
        if not click.channel_id or not click.message_ts:
            return click, None
        return click, PendingPlan(choice, key, click.channel_id, click.message_ts)


def release_name_of(record: PlanRecord | None) -> str:
    return "" if record is None else record.stage.release.title or record.stage.release.slug


def register(app: AsyncApp, deps: HandlerDeps) -> PlanButtons | None:
    if deps.plans is None:
        return None
    buttons = PlanButtons(deps, deps.plans)
    app.action(APPROVE_PLAN_ACTION_ID)(tracked(deps.tasks, buttons.approve))
    app.action(REJECT_PLAN_ACTION_ID)(tracked(deps.tasks, buttons.reject))
    app.action(VIEW_PLAN_ACTION_ID)(tracked(deps.tasks, buttons.view))
    app.view(PLAN_REJECT_CALLBACK_ID)(tracked(deps.tasks, buttons.submit_reject))
    return buttons
