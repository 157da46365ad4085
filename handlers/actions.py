"""Buttons: Approve, Reject, Bypass on the approval message; linking and finishing a vote."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from blocks.approval_message import APPROVE_ACTION_ID, BYPASS_ACTION_ID, REJECT_ACTION_ID
from blocks.linking import RESUME_ACTION_ID
from blocks.modals import bypass_modal, notice_modal, reject_modal
from blocks.replies import LINK_ACTION_ID, notice
from bot.approvals.voting import VoteKind
from handlers.deps import HandlerDeps, tracked
from handlers.linking import start_linking
from handlers.payloads import (
    ButtonClick,
    ModalPlace,
    PayloadError,
    PendingVote,
    approval_key,
    button_click,
    pending_vote,
)
from handlers.plans import PlanButtons, is_pending_plan
from handlers.verdicts import ballot_of, cast_and_answer, private_answer

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]


class ApprovalButtons:
    def __init__(self, deps: HandlerDeps) -> None:
        self._deps = deps

    async def approve(self, ack: Ack, body: dict[str, Any]) -> None:
        clicked = await self._clicked(ack, body, VoteKind.APPROVE)
        if clicked is not None:
            await cast_and_answer(self._deps, clicked[0].actor, clicked[1])

    async def reject(self, ack: Ack, body: dict[str, Any]) -> None:
        clicked = await self._clicked(ack, body, VoteKind.REJECT)
        if clicked is not None:
            await self.open_reason_modal(*clicked)

    async def bypass(self, ack: Ack, body: dict[str, Any]) -> None:
        clicked = await self._clicked(ack, body, VoteKind.BYPASS)
        if clicked is not None:
            await self.open_reason_modal(*clicked)

    async def _clicked(
        self, ack: Ack, body: dict[str, Any], kind: VoteKind
    ) -> tuple[ButtonClick, PendingVote] | None:
        """Ack a vote button, then read it: None when it is not a click on an approval message
        (a button that names no approval is refused to the person)."""
        await ack()
        click = _click(body)
        if click is None:
            return None
        pending = _pending_from_click(click, kind)
        if pending is None:
            await self._refuse_tampered(click)
            return None
        return click, pending

    async def resume(self, ack: Ack, body: dict[str, Any]) -> None:
        """Finish a vote the person started before linking, or try again after a failure."""
        await ack()
        click = _click(body)
        if click is None:
            return
        if is_pending_plan(click.value):
            if self._deps.plans is not None:
                await PlanButtons(self._deps, self._deps.plans).resume(click)
            await self._withdraw(click)
            return
        try:
            pending = pending_vote(click.value)
        except PayloadError:
            return
        if pending.kind == VoteKind.APPROVE:
            await cast_and_answer(self._deps, click.actor, pending)
        else:
            await self.open_reason_modal(click, pending)
        await self._withdraw(click)

    async def _withdraw(self, click: ButtonClick) -> None:
        """The private "Finish your approval" or "Try again" has been used: remove it, so it
        does not stay clickable (what happened next is told on its own)."""
        if click.response_url:
            await self._deps.answers.withdraw(click.response_url)

    async def link(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        click = _click(body)
        if click is None:
            return
        await start_linking(
            self._deps, click.actor, click.response_url, click.value or None, replace=True
        )

    async def open_reason_modal(self, click: ButtonClick, pending: PendingVote) -> None:
        """Open the modal at once (the trigger expires in 3 s), then check the person may vote
        and turn the modal into the reason why not when they may not."""
        record = await self._deps.votes.find(pending.key)
        title = record.request.release.title if record else ""
        place = ModalPlace(pending.channel_id, pending.message_ts, pending.key.token).encode()
        build = reject_modal if pending.kind == VoteKind.REJECT else bypass_modal
        view_id = await self._deps.answers.open_modal(
            click.trigger_id, build(pending.key.token, title, place)
        )
        refusal = await self._deps.votes.check(ballot_of(click.actor, pending))
        if refusal is None:
            return
        answer = private_answer(refusal, pending)
        if answer is None:
            return
        if view_id is not None:
            await self._deps.answers.update_modal(view_id, notice_modal(answer))
        else:
            await self._deps.answers.ephemeral(pending.channel_id, click.actor.user_id, answer)

    async def _refuse_tampered(self, click: ButtonClick) -> None:
        log.warning(
            "refused a button whose value is not an approval",
            extra={"slack_user": click.actor.user_id},
        )
        if click.channel_id:
            await self._deps.answers.ephemeral(
                click.channel_id,
                click.actor.user_id,
                notice("That button does not belong to this release."),
            )


def _click(body: dict[str, Any]) -> ButtonClick | None:
    try:
        return button_click(body)
    except PayloadError as error:
        log.warning("ignored a button click: %s", error)
        return None


def _pending_from_click(click: ButtonClick, kind: VoteKind) -> PendingVote | None:
    try:
        key = approval_key(click.value)
    except PayloadError:
        return None
    if not click.channel_id or not click.message_ts:
        return None
    return PendingVote(kind, key, click.channel_id, click.message_ts)


def register(app: AsyncApp, deps: HandlerDeps) -> None:
    buttons = ApprovalButtons(deps)
    app.action(APPROVE_ACTION_ID)(tracked(deps.tasks, buttons.approve))
    app.action(REJECT_ACTION_ID)(tracked(deps.tasks, buttons.reject))
    app.action(BYPASS_ACTION_ID)(tracked(deps.tasks, buttons.bypass))
    app.action(RESUME_ACTION_ID)(tracked(deps.tasks, buttons.resume))
    app.action(LINK_ACTION_ID)(tracked(deps.tasks, buttons.link))
