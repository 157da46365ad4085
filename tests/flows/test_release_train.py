"""A release train against a Slack that enforces its rate limits: the bot paces itself, every
message ends true, every reply is there, and Slack hardly ever has to say 429."""

import asyncio

import pytest
from tests_support import all_text, wait_until

from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack

MESSAGES = 10
TRAIN = "train"


def thread_text(stack: LocalStack, ts: str) -> str:
    return "\n".join(reply.text for reply in stack.slack.thread(CHANNEL, ts))


def shows_every_vote(stack: LocalStack, ts: str) -> bool:
    shown = all_text(stack.slack.message(CHANNEL, ts))
    # carol's approval stands; bob and dave reject.
    return "1 of 5" in shown and all(
        name in shown for name in ("<@U0BOB>", "<@U0CAROL>", "<@U0DAVE>", "bob's second thoughts")
    )


def replies_complete(stack: LocalStack, ts: str) -> bool:
    thread = thread_text(stack, ts)
    return all(
        said in thread
        for said in (
            "✅ <@U0BOB> approved",
            "✅ <@U0CAROL> approved",
            "❌ <@U0DAVE> rejected",
            "❌ <@U0BOB> changed their vote to reject",
        )
    )


@pytest.mark.long
async def test_a_burst_of_40_votes_on_10_messages_stays_inside_slacks_limits(
    stack: LocalStack,
):
    stack.slack.rate_limits.enabled = True
    stack.forest.add_policy(ORGANISATION, PROJECT, TRAIN, name="train", required_approvals=5)
    bot = await stack.start_bot()
    for person in ("bob", "carol", "dave"):
        await stack.link(person)
    intents = [stack.new_release() for _ in range(MESSAGES)]
    for intent in intents:
        await stack.announce(intent, environment=TRAIN, required_approvals=5)
    # One message a second in a channel: ten take several seconds.
    await wait_until(lambda: all(stack.message_of(i, TRAIN) for i in intents), timeout=30)
    timestamps = [stack.message_of(i, TRAIN).ts for i in intents]  # type: ignore[union-attr]

    # 40 votes at once: bob and carol approve every release, dave rejects each through the
    # modal, then bob changes his mind in every thread.
    clicks = [stack.click(p, ts, "approval_approve") for ts in timestamps for p in ("bob", "carol")]
    clicks += [stack.click("dave", ts, "approval_reject") for ts in timestamps]
    await asyncio.gather(*clicks)
    await wait_until(lambda: len(stack.slack.views) == MESSAGES)
    await asyncio.gather(
        *(stack.submit("dave", view.id, "perf & load regressed") for view in stack.slack.views)
    )
    typed = await asyncio.gather(
        *(stack.reply_in_thread("bob", ts, "reject bob's second thoughts") for ts in timestamps)
    )

    await wait_until(lambda: all(shows_every_vote(stack, ts) for ts in timestamps), timeout=90)
    await wait_until(lambda: all(replies_complete(stack, ts) for ts in timestamps), timeout=90)

    refused = stack.slack.rate_limited_calls
    assert len(refused) <= 1, [(c.method, c.args.get("channel")) for c in refused]
    # Replies waiting in one thread left together: fewer posts than replies.
    replies = [c for c in stack.slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert len(replies) < 4 * MESSAGES
    # Each typed vote was acknowledged with its reaction.
    await wait_until(lambda: all(stack.slack.reactions(CHANNEL, ts) == ["x"] for ts, _ in typed))
    # Nothing is left waiting for its turn.
    assert bot.metrics.registry.get_sample_value("approvals_slack_calls_waiting") == 0
