"""Votes as people cast them in a soak, each followed until it ends.

A person clicks Approve, or replies ``approve`` in the message's thread; the attempt then ends in
one of two ways: forest has their vote, or they were told privately that it was NOT recorded
(and they press its Try again, or reply again when it has none). An attempt that ends in neither
within ``VOTE_DEADLINE_SECONDS`` is lost: the person was left without an answer.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from dataclasses import dataclass, field

from blocks.linking import RESUME_ACTION_ID
from blocks.replies import LINK_ACTION_ID
from bot.local.bot_process import BotProcess
from bot.local.fake_slack_model import SlackEphemeral
from bot.local.local_stack import CHANNEL, LocalStack
from bot.local.slack_signing import Delivery, event_callback_body, form_payload
from bot.local.soak_report import SoakReport

# Generous: a vote cast while NATS is away waits for its reads to time out before the person is
# told, and the answer then waits its turn inside Slack's rate limits.
VOTE_DEADLINE_SECONDS = 60.0
# A person gives up pressing Try again after this many attempts (the soak then fails).
MAX_ATTEMPTS = 12
# Slack's deadline for an answer to any request it sends.
ACK_DEADLINE_SECONDS = 3.0
POLL_SECONDS = 0.05


class Way(enum.StrEnum):
    CLICK = "click"
    THREAD = "thread reply"


class Ending(enum.StrEnum):
    RECORDED = "recorded"
    TOLD_NOT = "told NOT recorded"
    LOST = "lost"


@dataclass
class Vote:
    """One person's approval of one release, through as many attempts as it takes."""

    intent: str
    ts: str  # the approval message
    person: str
    user: str  # their Slack user id
    way: Way
    attempts: int = 0
    # The last "NOT recorded" answer, whose Try again the next attempt presses.
    answer: SlackEphemeral | None = None
    # Where the fake Slack's private answers stood when the last attempt began.
    answers_before: int = 0
    endings: list[Ending] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.person} on {self.intent} ({self.way}, attempt {self.attempts})"


async def attempt(stack: LocalStack, vote: Vote, bot: BotProcess, report: SoakReport) -> Ending:
    """One attempt of ``vote`` through ``bot``, followed until it ends."""
    vote.attempts += 1
    vote.answers_before = len(stack.slack.workspace.ephemerals)
    report.votes_attempted += 1
    started = time.monotonic()
    delivery = await _send(stack, vote, bot, report)
    if delivery.status != 200 or time.monotonic() - started > ACK_DEADLINE_SECONDS:
        # Slack shows the person an error; the bot may still record or refuse the vote.
        report.slow_acks += 1
    ending = await _ending(stack, vote)
    vote.endings.append(ending)
    waited = time.monotonic() - started
    if ending == Ending.RECORDED:
        report.votes_recorded += 1
        report.slowest_recorded_seconds = max(report.slowest_recorded_seconds, waited)
    elif ending == Ending.TOLD_NOT:
        report.votes_told_not_recorded += 1
        report.slowest_not_recorded_seconds = max(report.slowest_not_recorded_seconds, waited)
    else:
        said = [e.text for e in answers_to(stack, vote.user)][-2:]
        report.votes_lost.append(f"{vote} (last told: {said})")
    return ending


async def _send(stack: LocalStack, vote: Vote, bot: BotProcess, report: SoakReport) -> Delivery:
    retry = vote.answer
    if retry is not None and RESUME_ACTION_ID in _button_ids(retry):
        report.tries_again += 1
        payload = stack.slack.ephemeral_click_payload(retry.message_ts, vote.user, RESUME_ACTION_ID)
        return await stack.post(form_payload(payload), bot)
    if vote.way == Way.CLICK:
        report.clicks += 1
        return await stack.click(vote.person, vote.ts, "approval_approve", bot)
    report.thread_replies += 1
    return await _reply(stack, vote, bot)


async def _reply(stack: LocalStack, vote: Vote, bot: BotProcess) -> Delivery:
    """``approve`` typed in the thread; Slack delivers the event again once when the bot did
    not answer it in time, as Slack does."""
    _message, event = stack.slack.person_writes(CHANNEL, vote.user, "approve", vote.ts)
    body = event_callback_body(
        stack.slack.identity.team_id,
        event,
        f"Ev{uuid.uuid4().hex[:10].upper()}",
        bot_user_id=stack.slack.identity.bot_user_id,
    )
    started = time.monotonic()
    delivery = await stack.post(body, bot)
    if delivery.status != 200 or time.monotonic() - started > ACK_DEADLINE_SECONDS:
        await stack.post(body, bot, retry_num=1)
    return delivery


async def _ending(stack: LocalStack, vote: Vote) -> Ending:
    deadline = time.monotonic() + VOTE_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if recorded(stack, vote):
            return Ending.RECORDED
        told = told_not_recorded(stack, vote, vote.answers_before)
        if told:
            vote.answer = told[-1]
            return Ending.TOLD_NOT
        await asyncio.sleep(POLL_SECONDS)
    return Ending.LOST


def recorded(stack: LocalStack, vote: Vote) -> bool:
    decisions = stack.forest.approval_state(vote.intent, "production").decisions
    return any(d.username == vote.person for d in decisions)


def answers_to(stack: LocalStack, user: str, since: int = 0) -> list[SlackEphemeral]:
    """Every private answer ``user`` was shown since the ``since``-th, removed ones too."""
    return [e for e in stack.slack.workspace.ephemerals[since:] if e.user == user]


def told_not_recorded(stack: LocalStack, vote: Vote, since: int) -> list[SlackEphemeral]:
    """The "NOT recorded" answers about ``vote``'s approval: a Try again naming its message,
    or an answer in its thread."""
    return [
        e
        for e in answers_to(stack, vote.user, since)
        if "NOT" in e.text and (vote.ts in _button_values(e) or e.thread_ts == vote.ts)
    ]


def told_to_link(stack: LocalStack, user: str) -> list[SlackEphemeral]:
    return [e for e in answers_to(stack, user) if LINK_ACTION_ID in _button_ids(e)]


def _buttons(message: SlackEphemeral) -> list[dict[str, object]]:
    return [
        element
        for block in message.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


def _button_ids(message: SlackEphemeral) -> set[str]:
    return {str(button.get("action_id", "")) for button in _buttons(message)}


def _button_values(message: SlackEphemeral) -> str:
    return " ".join(str(button.get("value", "")) for button in _buttons(message))
