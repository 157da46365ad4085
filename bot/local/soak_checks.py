"""What a soak checks once the votes are in: forest and Slack, as the people see them."""

from __future__ import annotations

import re
from collections import Counter

from bot.local.fake_slack_model import SlackMessage
from bot.local.local_stack import CHANNEL, LocalStack
from bot.local.soak_report import SoakReport
from bot.local.soak_votes import Ending, Vote, told_not_recorded, told_to_link

# One approval in this many is deployed at the end (those bob and carol both approved).
DEPLOYED_EVERY = 6


def messages_by_intent(stack: LocalStack) -> Counter[str]:
    return Counter(
        str((m.metadata or {}).get("event_payload", {}).get("release_intent_id"))
        for m in stack.slack.messages(CHANNEL)
    )


def verify(
    stack: LocalStack,
    intents: list[str],
    messages: dict[str, str],
    votes: list[Vote],
    report: SoakReport,
) -> None:
    """Fill in ``report``'s verdicts (each pass starts afresh)."""
    per_intent = messages_by_intent(stack)
    report.messages = sum(per_intent.values())
    report.approvals_with_two_messages = [i for i in intents if per_intent[i] > 1]
    report.approvals_without_message = [i for i in intents if per_intent[i] == 0]
    cast = Counter((intent, person) for intent, person, _ in stack.forest.recorded_votes)
    report.votes_wanted = len(votes)
    report.votes_recorded_once = 0
    report.votes_recorded_twice = []
    report.votes_never_recorded = []
    report.told_not_but_recorded = []
    report.recorded_unconfirmed = []
    report.votes_confirmed = 0
    for vote in votes:
        if not vote.endings or vote.endings[-1] != Ending.RECORDED:
            if vote.endings and vote.endings[-1] == Ending.TOLD_NOT:
                report.votes_never_recorded.append(str(vote))
            continue
        times = cast[(vote.intent, vote.person)]
        if times == 1:
            report.votes_recorded_once += 1
        else:
            report.votes_recorded_twice.append(f"{vote}: forest recorded it {times} times")
        if told_not_recorded(stack, vote, vote.answers_before):
            report.told_not_but_recorded.append(str(vote))
        if _confirmed(stack, vote, messages):
            report.votes_confirmed += 1
        else:
            report.recorded_unconfirmed.append(str(vote))
    report.replies_shown_twice = _replies_shown_twice(stack, votes)
    report.links_lost = [
        f"{vote.person} ({vote.user})"
        for vote in {v.person: v for v in votes}.values()
        if told_to_link(stack, vote.user)
    ]
    report.wrong_final = wrong_final(stack, intents, messages)


def _confirmed(stack: LocalStack, vote: Vote, messages: dict[str, str]) -> bool:
    """The person sees their vote counted: the message or its thread names them."""
    shown = all_text(stack.slack.message(CHANNEL, messages[vote.intent]))
    thread = " ".join(m.text for m in stack.slack.thread(CHANNEL, messages[vote.intent]))
    return vote.user in shown or f"<@{vote.user}> approved" in thread


def _replies_shown_twice(stack: LocalStack, votes: list[Vote]) -> list[str]:
    twice: list[str] = []
    for vote in votes:
        thread = [m.text for m in stack.slack.thread(CHANNEL, vote.ts)]
        shown = sum(len(re.findall(re.escape(f"<@{vote.user}> approved"), t)) for t in thread)
        if shown > 1:
            twice.append(f"{vote.person} on {vote.intent}: {shown} replies")
    return twice


def wrong_final(stack: LocalStack, intents: list[str], messages: dict[str, str]) -> list[str]:
    """The approvals whose one message does not show forest's final state: the tally or the
    outcome, and every person forest has a vote from."""
    wrong: list[str] = []
    for number, intent in enumerate(intents):
        ts = messages.get(intent)
        if ts is None:
            continue  # no message: counted as missing
        state = stack.forest.approval_state(intent, "production")
        shown = all_text(stack.slack.message(CHANNEL, ts))
        if state.current_approvals < state.required_approvals:
            expected = f"{state.current_approvals} of {state.required_approvals}"
        elif number % DEPLOYED_EVERY == 0:
            expected = "Deployed to production"
        else:
            expected = "production approved"
        voters = [stack.person(d.username).slack_user_id for d in state.decisions]
        unnamed = [user for user in voters if user not in shown]
        if expected not in shown or unnamed:
            wrong.append(f"{intent}: forest says {expected!r} by {voters}, unnamed {unnamed}")
    return wrong


def all_text(message: SlackMessage) -> str:
    parts = [message.text or ""]
    for block in message.blocks or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for item in block.get("fields") or block.get("elements") or []:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
    return "\n".join(parts)
