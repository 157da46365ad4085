"""Real processes, real kills, a real NATS restart: nothing lost, nothing doubled."""

import asyncio
import dataclasses

import pytest
from tests_support import all_text, wait_until

from bot.local.fake_forest_pipelines import deploy, plan
from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack
from bot.wiring import Tuning

# Short takeover times, so a test sees a crash recovered in seconds rather than a minute.
QUICK = Tuning(
    coalesce_window=0.2,
    reconcile_interval=60.0,
    device_poll_floor=0.05,
    ack_wait=2.0,
    claim_timeout=2.0,
    reply_grace=2.0,
)


@pytest.mark.long
async def test_nats_restarts_mid_stream_and_no_event_is_lost_or_doubled(stack: LocalStack):
    await stack.start_bot(QUICK)
    first = [stack.new_release() for _ in range(10)]
    for intent in first:
        await stack.announce(intent)
    await stack.nats_server.restart()
    second = [stack.new_release() for _ in range(10)]
    for intent in second:
        for attempt in range(50):
            try:
                await stack.announce(intent)
                break
            except Exception:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) >= 20, timeout=20)
    await asyncio.sleep(1.0)
    assert len(stack.slack.messages(CHANNEL)) == 20
    assert all(stack.message_of(intent) is not None for intent in first + second)
    # Nudges and the key-value watch came back too: a web vote still updates the message.
    await stack.forest.record_decision(second[0], "production", "bob", "approved")
    message = stack.message_of(second[0])
    await wait_until(
        lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, message.ts)), timeout=10
    )


@pytest.mark.parametrize("crash_point", ["before_post", "during_post"])
async def test_a_bot_killed_while_announcing_ends_with_one_message(
    stack: LocalStack, crash_point: str
):
    doomed = await stack.start_bot_process(QUICK)
    if crash_point == "before_post":
        stack.forest.delay("GetExternalApprovalState", 3.0)  # the read that precedes the post
    else:
        stack.slack.delay("chat.postMessage", 1.5)  # Slack takes the post, then the bot dies
    intent = stack.new_release()
    await stack.announce(intent)
    await asyncio.sleep(0.7)
    doomed.kill()
    await doomed.wait_killed()
    stack.forest.delay("GetExternalApprovalState", 0)
    stack.slack.delay("chat.postMessage", 0)

    await stack.start_bot_process(QUICK)
    await wait_until(lambda: stack.message_of(intent) is not None, timeout=20)
    await asyncio.sleep(QUICK.ack_wait + QUICK.claim_timeout + 1)
    assert stack.message_of(intent) is not None
    # The surviving record points at that one message: votes update it.
    await stack.forest.record_decision(intent, "production", "bob", "approved")
    message = stack.message_of(intent)
    await wait_until(
        lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, message.ts)), timeout=10
    )


async def test_a_bot_killed_during_a_vote_is_consistent_after_restart(stack: LocalStack):
    doomed = await stack.start_bot_process(QUICK)
    await stack.link("bob", doomed)
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: stack.message_of(intent) is not None)
    message = stack.message_of(intent)
    # Forest records the vote, and the bot dies before it hears back.
    stack.forest.delay("ExternalApproveRelease", 2.0, after_processing=True)
    await stack.click("bob", message.ts, "approval_approve", doomed)
    await wait_until(lambda: len(stack.forest.approval_state(intent, "production").decisions) == 1)
    doomed.kill()
    await doomed.wait_killed()
    assert "0 of 2" in all_text(stack.slack.message(CHANNEL, message.ts))

    await stack.start_bot_process(QUICK)  # reconciles open approvals at start
    await wait_until(
        lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, message.ts)), timeout=10
    )
    assert len(stack.slack.messages(CHANNEL)) == 1


@pytest.mark.long
@pytest.mark.parametrize("replicas", [2, 3])
async def test_replicas_post_once_and_handle_each_click_once(stack: LocalStack, replicas: int):
    bots = [await stack.start_bot_process(QUICK) for _ in range(replicas)]
    await stack.link("bob", bots[0])
    intents = [stack.new_release() for _ in range(12)]
    for intent in intents:
        await stack.announce(intent)
        await stack.announce(intent)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 12, timeout=20)
    for index, intent in enumerate(intents):
        message = stack.message_of(intent)
        await stack.click("bob", message.ts, "approval_approve", bots[index % replicas])
    await wait_until(
        lambda: all(
            "1 of 2" in all_text(stack.slack.message(CHANNEL, stack.message_of(i).ts))
            for i in intents
        ),
        timeout=20,
    )
    # The replies share the channel's budget of about one post a second: they follow.
    await wait_until(
        lambda: all(stack.slack.thread(CHANNEL, stack.message_of(i).ts) for i in intents),
        timeout=20,
    )
    await asyncio.sleep(1.0)
    assert len(stack.slack.messages(CHANNEL)) == 12
    assert len(stack.forest.calls_to("ExternalApproveRelease")) == 12
    for intent in intents:
        message = stack.message_of(intent)
        assert len(stack.slack.thread(CHANNEL, message.ts)) == 1


async def test_sigterm_finishes_the_vote_in_flight_and_exits_quickly(stack: LocalStack):
    bot = await stack.start_bot_process(QUICK)
    await stack.link("bob", bot)
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: stack.message_of(intent) is not None)
    message = stack.message_of(intent)
    stack.forest.delay("ExternalApproveRelease", 2.0)
    delivery = await stack.click("bob", message.ts, "approval_approve", bot)
    assert delivery.status == 200  # acknowledged to the person
    await asyncio.sleep(0.2)
    code, took = await bot.terminate()
    assert code == 0, bot.runtime.logs()
    assert took < 10
    assert [c.actor for c in stack.forest.calls_to("ExternalApproveRelease")] == ["bob"]
    assert "1 of 2" in all_text(stack.slack.message(CHANNEL, message.ts))
    assert len(stack.slack.thread(CHANNEL, message.ts)) == 1


def bot_replies(stack: LocalStack, ts: str) -> list[str]:
    """The bot's replies in the thread of ``ts``, as people read them."""
    return [
        stack.slack.as_seen(reply.text)
        for reply in stack.slack.thread(CHANNEL, ts)
        if reply.bot_id is not None
    ]


def said(stack: LocalStack, ts: str, words: str) -> int:
    """How many times the bot said ``words`` in the thread of ``ts`` (replies may be merged)."""
    return sum(reply.count(words) for reply in bot_replies(stack, ts))


async def test_thread_replies_waiting_when_the_bot_is_killed_are_posted_once_after(
    stack: LocalStack,
):
    stack.slack.rate_limits.enabled = True
    doomed = await stack.start_bot_process(QUICK)
    for person in ("bob", "carol"):
        await stack.link(person, doomed)
    approved = [await stack.open_approval() for _ in range(2)]
    _, rejected = await stack.open_approval()
    cancelled, cancelled_ts = await stack.open_approval()
    # From here no post reaches Slack while this bot lives: each thread's first reply hangs on
    # its way, the others wait their turn behind it.
    stack.slack.hang("chat.postMessage")
    typed = [
        await stack.reply_in_thread(person, ts, f"approve from {person}", doomed)
        for _, ts in approved
        for person in ("bob", "carol")
    ]
    typed.append(await stack.reply_in_thread("bob", rejected, "reject perf & load <p99>", doomed))
    await stack.forest.publish_release_status(
        cancelled, {"release_id": "r1", "status": "CANCELLED"}
    )
    # Every vote was recorded (its reaction came) and the outcome's reply is on its way.
    await wait_until(lambda: all(stack.slack.reactions(CHANNEL, ts) for ts, _ in typed), 20)
    await wait_until(
        lambda: any(
            c.args.get("thread_ts") == cancelled_ts
            for c in stack.slack.calls_to("chat.postMessage")
        )
    )
    hung = [c for c in stack.slack.calls_to("chat.postMessage") if c.response is None]
    doomed.kill()
    await doomed.wait_killed()
    await wait_until(lambda: all(c.abandoned for c in hung))  # none of them reached Slack
    stack.slack.hang("chat.postMessage", False)
    assert all(bot_replies(stack, ts) == [] for ts in (*(ts for _, ts in approved), rejected))

    # Two replicas come up, and both find the replies nobody alive holds.
    await asyncio.gather(stack.start_bot_process(QUICK), stack.start_bot_process(QUICK))
    owed = {
        ts: ["✅ @bob approved: from bob", "✅ @carol approved: from carol", "✅ Approved by"]
        for _, ts in approved
    }
    owed[rejected] = ["❌ @bob rejected: perf & load <p99>"]
    owed[cancelled_ts] = ["Cancelled"]
    await wait_until(
        lambda: all(
            said(stack, ts, words) for ts, all_words in owed.items() for words in all_words
        ),
        timeout=30,
    )
    await asyncio.sleep(QUICK.reply_grace * 2)  # long enough for a second take-over to post
    for ts, all_words in owed.items():
        for words in all_words:
            assert said(stack, ts, words) == 1, (words, bot_replies(stack, ts))


@pytest.mark.long
async def test_a_reply_held_up_by_its_approvals_slow_update_stays_with_its_live_process(
    stack: LocalStack,
):
    # Slack slow to answer: a thread post takes 3 s, an update 5 s. Carol's vote approves the
    # release, and its update holds the approval in the voting process for those seconds (and
    # behind bob's tally, still on its way), past the grace after which a reply that nobody
    # renews is taken over. Bob's reply is posted meanwhile by that live process; the other
    # replica must not post it a second time.
    tuning = dataclasses.replace(QUICK, slack_timeout=30.0)
    voter = await stack.start_bot_process(tuning)
    await stack.start_bot_process(tuning)
    for person in ("bob", "carol"):
        await stack.link(person, voter)
    _, ts = await stack.open_approval()
    stack.slack.delay("chat.postMessage", 3.0)
    stack.slack.delay("chat.update", 5.0)
    await stack.click("bob", ts, "approval_approve", voter)
    await wait_until(
        lambda: any(c.args.get("thread_ts") == ts for c in stack.slack.calls_to("chat.postMessage"))
    )
    await stack.click("carol", ts, "approval_approve", voter)
    await wait_until(lambda: said(stack, ts, "✅ Approved by") >= 1, timeout=40)
    await asyncio.sleep(tuning.reply_grace * 3)  # long enough for a take-over to post
    for words in ("@bob approved", "@carol approved", "✅ Approved by"):
        assert said(stack, ts, words) == 1, (words, bot_replies(stack, ts))


async def test_a_plan_decision_reply_waiting_when_the_bot_is_killed_is_posted_once_after(
    stack: LocalStack,
):
    stack.slack.rate_limits.enabled = True
    watching = {"FOREST_ORGANISATION": ORGANISATION}
    doomed = await stack.start_bot_process(QUICK, **watching)
    stack.forest.add_destination(ORGANISATION, "infra-prod", "prod-eu")
    artifact = stack.forest.add_artifact(ORGANISATION, PROJECT, title="feat: logs bucket")
    stages = [plan("infra-prod"), deploy("infra-prod", depends_on=["plan-infra-prod"])]
    intent = await stack.forest.release(ORGANISATION, PROJECT, stages, artifact=artifact)
    await stack.forest.run_stage(intent, "plan-infra-prod")
    await stack.forest.finish_stage(intent, "plan-infra-prod", plan_output="No changes.")
    await wait_until(lambda: stack.slack.messages(CHANNEL), timeout=20)
    [message] = stack.slack.messages(CHANNEL)
    # From here no post reaches Slack while this bot lives: the decision's reply hangs on its
    # way, after the message itself showed the decision.
    stack.slack.hang("chat.postMessage")
    await stack.forest.decide_plan(intent, "plan-infra-prod", "carol", approve=True)
    await wait_until(
        lambda: "in forage" in all_text(stack.slack.message(CHANNEL, message.ts)), timeout=20
    )
    await wait_until(
        lambda: any(
            c.args.get("thread_ts") == message.ts for c in stack.slack.calls_to("chat.postMessage")
        )
    )
    hung = [c for c in stack.slack.calls_to("chat.postMessage") if c.response is None]
    doomed.kill()
    await doomed.wait_killed()
    await wait_until(lambda: all(c.abandoned for c in hung))  # it never reached Slack
    stack.slack.hang("chat.postMessage", False)
    assert bot_replies(stack, message.ts) == []

    await stack.start_bot_process(QUICK, **watching)
    approved = "The plan was approved in forage."
    await wait_until(lambda: said(stack, message.ts, approved), timeout=30)
    await asyncio.sleep(QUICK.reply_grace * 2)  # long enough for a second take-over to post
    assert said(stack, message.ts, approved) == 1, bot_replies(stack, message.ts)


@pytest.mark.parametrize("slow", ["slack_post", "forest_read_before_the_post"])
async def test_a_post_slower_than_the_claim_timeout_is_not_taken_over_by_another_replica(
    stack: LocalStack, slow: str
):
    await asyncio.gather(stack.start_bot_process(QUICK), stack.start_bot_process(QUICK))
    # More than twice the claim timeout; within the deadline of a Slack or a forest call.
    if slow == "slack_post":
        stack.slack.delay("chat.postMessage", QUICK.claim_timeout * 2.5)  # taken, answered late
    else:
        stack.forest.delay("GetExternalApprovalState", QUICK.claim_timeout * 2)  # the votes
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(
        lambda: (
            stack.slack.calls_to("chat.postMessage")
            or stack.forest.calls_to("GetExternalApprovalState")
        )
    )
    # The replica posting handles one event at a time: forest's repeats of the announcement go
    # to the other replica, which finds the claim older than the claim timeout unless renewed.
    for _ in range(4):
        await asyncio.sleep(QUICK.claim_timeout / 2)
        await stack.announce(intent)
    await wait_until(lambda: stack.message_of(intent) is not None, timeout=20)
    stack.slack.delay("chat.postMessage", 0)
    stack.forest.delay("GetExternalApprovalState", 0)
    await asyncio.sleep(QUICK.ack_wait + QUICK.claim_timeout + 1)  # the repeats are answered

    assert len(stack.slack.calls_to("chat.postMessage")) == 1
    assert stack.slack.calls_to("chat.delete") == []
    assert len(stack.slack.messages(CHANNEL)) == 1
