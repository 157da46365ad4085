"""Votes typed in an approval message's thread: ``approve [comment]``, ``reject <reason>``,
``bypass <reason>``; and ``approve`` / ``reject <reason>`` under a plan message. Everything else
said in a thread is conversation and is left alone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from blocks.elements import SlackMessage
from blocks.replies import notice, vote_failed
from bot.approvals.voting import STORE_SILENT, VoteKind
from bot.plans.deciding import PlanChoice
from bot.state.errors import StoreUnavailable
from handlers.deps import HandlerDeps, tracked
from handlers.payloads import PayloadError, PendingVote, ThreadVote, thread_vote
from handlers.plans import PendingPlan, decide_and_answer
from handlers.verdicts import RESUME_ACTION_ID, cast_and_answer

log = logging.getLogger(__name__)


class ThreadVotes:
    def __init__(self, deps: HandlerDeps) -> None:
        self._deps = deps

    async def on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        try:
            vote = thread_vote(event, body)
        except PayloadError as error:
            log.warning("ignored a thread message: %s", error)
            return
        if vote is None or vote.actor.user_id == self._deps.bot_user_id:
            return
        try:
            key = await self._deps.votes.approval_of_message(vote.channel_id, vote.thread_ts)
        except StoreUnavailable as error:
            # Which approval this thread is under is unknown, so no button can name it.
            log.warning("thread vote not cast: %s", error)
            await self._deps.answers.ephemeral(
                vote.channel_id,
                vote.actor.user_id,
                notice(f"{STORE_SILENT}, so your vote was *NOT* recorded. Reply again shortly."),
                thread_ts=vote.thread_ts,
            )
            return
        if key is None:
            try:
                await self._on_plan_reply(vote)
            except StoreUnavailable as error:
                log.warning("thread decision not made: %s", error)
                await _say_in_thread(self._deps, vote)(
                    notice(f"{STORE_SILENT}, so your decision was *NOT* recorded. Reply again.")
                )
            return
        pending = PendingVote(vote.kind, key, vote.channel_id, vote.thread_ts)
        # Slack redelivers events it thinks were lost; the reply's own ts identifies it.
        mark = f"thread.{vote.channel_id}.{vote.message_ts.replace('.', '_')}"
        try:
            first = await self._deps.dedup.first_time(mark)
        except StoreUnavailable as error:
            # Without the mark a redelivery would vote again: refuse, and say so.
            log.warning("thread vote not cast: %s", error, extra=key.log_fields)
            await self._deps.answers.ephemeral(
                vote.channel_id,
                vote.actor.user_id,
                vote_failed(
                    RESUME_ACTION_ID,
                    pending.encode(),
                    sentence=f"{STORE_SILENT}, so your vote was *NOT* recorded.",
                ),
                thread_ts=vote.thread_ts,
            )
            return
        if not first:
            return
        if vote.kind in (VoteKind.REJECT, VoteKind.BYPASS) and not vote.comment:
            word = vote.kind.value
            await self._deps.answers.ephemeral(
                vote.channel_id,
                vote.actor.user_id,
                notice(f"A {word} needs a reason: reply `{word} <why>` in the thread."),
                thread_ts=vote.thread_ts,
            )
            return
        # Decoded once here: forest, forage and the thread reply get the words as typed.
        comment = await self._deps.names.readable(vote.comment) if vote.comment else ""
        await cast_and_answer(
            self._deps, vote.actor, pending, comment.strip() or None, reply_ts=vote.message_ts
        )

    async def _on_plan_reply(self, vote: ThreadVote) -> None:
        """``approve`` / ``reject <reason>`` under a plan message decides the plan."""
        plans = self._deps.plans
        if plans is None:
            return
        key = await plans.plan_of_message(vote.channel_id, vote.thread_ts)
        if key is None:
            return  # a thread under some other message
        mark = f"thread.{vote.channel_id}.{vote.message_ts.replace('.', '_')}"
        if not await self._deps.dedup.first_time(mark):
            return
        say = _say_in_thread(self._deps, vote)
        if vote.kind == VoteKind.BYPASS:
            await say(notice("Plans have no bypass: reply `approve` or `reject <why>`."))
            return
        choice = PlanChoice.APPROVE if vote.kind == VoteKind.APPROVE else PlanChoice.REJECT
        if choice == PlanChoice.REJECT and not vote.comment:
            await say(
                notice("Rejecting a plan needs a reason: reply `reject <why>` in the thread.")
            )
            return
        pending = PendingPlan(choice, key, vote.channel_id, vote.thread_ts)
        # Decoded as a vote's comment is: forest gets the reason as typed, not Slack's encoding.
        reason = await self._deps.names.readable(vote.comment) if vote.comment else ""
        await decide_and_answer(
            self._deps, plans, vote.actor, pending, reason.strip() or None, reply_ts=vote.message_ts
        )


def _say_in_thread(
    deps: HandlerDeps, vote: ThreadVote
) -> Callable[[SlackMessage], Awaitable[None]]:
    async def say(message: SlackMessage) -> None:
        await deps.answers.ephemeral(
            vote.channel_id, vote.actor.user_id, message, thread_ts=vote.thread_ts
        )

    return say


def register(app: AsyncApp, deps: HandlerDeps) -> None:
    app.event("message")(tracked(deps.tasks, ThreadVotes(deps).on_message))
