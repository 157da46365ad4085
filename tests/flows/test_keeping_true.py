"""The approval message keeps telling the truth while votes come in from anywhere."""

import asyncio
import time

from tests_support import all_text, buttons, wait_until

from bot.local.local_stack import CHANNEL, LocalStack


async def posted_message(stack: LocalStack, intent: str):
    await stack.slack.wait_for("chat.postMessage", ok=True)
    [message] = stack.slack.messages(CHANNEL)
    return message


async def test_a_vote_cast_in_forage_updates_the_message_within_two_seconds(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    message = await posted_message(stack, intent)

    started = time.monotonic()
    await stack.forest.record_decision(intent, "production", "bob", "approved", "ship it")
    await wait_until(
        lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, message.ts)), timeout=2.0
    )
    assert time.monotonic() - started < 2.0
    shown = all_text(stack.slack.message(CHANNEL, message.ts))
    assert "bob" in shown and "ship it" in shown
    assert set(buttons(stack.slack.message(CHANNEL, message.ts))) == {
        "approval_approve",
        "approval_reject",
        "approval_bypass",
    }
    # The thread is the record: the web vote is reported there too, once.
    await wait_until(lambda: len(stack.slack.thread(CHANNEL, message.ts)) == 1)
    assert "bob" in stack.slack.thread(CHANNEL, message.ts)[0].text


async def test_a_burst_of_nudges_costs_one_read_and_one_update(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    await posted_message(stack, intent)
    await stack.forest.record_decision(intent, "production", "bob", "approved")
    await stack.slack.wait_for("chat.update", ok=True)
    await asyncio.sleep(0.5)
    reads_before = len(stack.forest.calls_to("GetExternalApprovalState"))
    updates_before = len(stack.slack.calls_to("chat.update"))

    await stack.forest.record_decision(intent, "production", "carol", "rejected", "no")
    for _ in range(10):
        await stack.forest.nudge(intent)
    await stack.slack.wait_for("chat.update", ok=True, count=updates_before + 1)
    await asyncio.sleep(0.6)
    assert len(stack.forest.calls_to("GetExternalApprovalState")) - reads_before == 1
    assert len(stack.slack.calls_to("chat.update")) - updates_before == 1


async def test_enough_approvals_remove_the_buttons_and_success_makes_it_final(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    message = await posted_message(stack, intent)

    await stack.forest.record_decision(intent, "production", "bob", "approved")
    await stack.forest.record_decision(intent, "production", "carol", "approved")
    await wait_until(
        lambda: "approved" in stack.slack.message(CHANNEL, message.ts).blocks[0]["text"]["text"]
    )
    approved = stack.slack.message(CHANNEL, message.ts)
    assert buttons(approved) == {}
    assert "Deploying" in all_text(approved)
    await wait_until(
        lambda: any("on its way" in reply.text for reply in stack.slack.thread(CHANNEL, message.ts))
    )
    summary = next(r for r in stack.slack.thread(CHANNEL, message.ts) if "on its way" in r.text)
    assert "<@U0ALICE>" in summary.text  # the author is told

    await stack.forest.publish_release_status(
        intent, {"pipeline_update": True, "pipeline_complete": True, "intent_status": "SUCCEEDED"}
    )
    await wait_until(
        lambda: "Deployed to production" in all_text(stack.slack.message(CHANNEL, message.ts))
    )
    final = stack.slack.message(CHANNEL, message.ts)
    assert buttons(final) == {}
    await wait_until(
        lambda: any(
            "Deployed to production" in r.text for r in stack.slack.thread(CHANNEL, message.ts)
        )
    )


async def test_a_cancelled_release_is_final_and_refuses_nothing_later(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    message = await posted_message(stack, intent)
    await stack.forest.publish_release_status(intent, {"release_id": "r1", "status": "CANCELLED"})
    await wait_until(lambda: "Cancelled" in all_text(stack.slack.message(CHANNEL, message.ts)))
    assert buttons(stack.slack.message(CHANNEL, message.ts)) == {}


async def test_votes_cast_while_the_bot_was_down_show_after_restart(stack: LocalStack):
    bot = await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    message = await posted_message(stack, intent)
    await stack.stop_bot(bot)

    await stack.forest.record_decision(intent, "production", "bob", "approved")  # nudge lost
    await stack.start_bot()
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, message.ts)))
    assert len(stack.slack.calls_to("chat.postMessage")) == 1 + len(
        stack.slack.thread(CHANNEL, message.ts)
    )


async def test_a_vote_answered_after_the_release_ended_leaves_the_outcome_shown(
    stack: LocalStack,
):
    await stack.start_bot()
    await stack.link("bob")
    intent, ts = await stack.open_approval()
    # Forest records Bob's vote but its answer is slow; the release is cancelled meanwhile.
    stack.forest.delay("ExternalApproveRelease", 1.0, after_processing=True)
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 1)
    await stack.forest.publish_release_status(intent, {"release_id": "r1", "status": "CANCELLED"})
    await wait_until(lambda: "Cancelled" in all_text(stack.slack.message(CHANNEL, ts)))

    await asyncio.sleep(1.5)  # forest's answer to the vote has arrived and been handled
    final = stack.slack.message(CHANNEL, ts)
    assert "Cancelled" in all_text(final)
    assert buttons(final) == {}


async def test_an_outcome_slack_refused_to_show_is_shown_when_slack_recovers(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    message = await posted_message(stack, intent)
    # More failures than the client's own retries of a server error.
    stack.slack.fail_next("chat.update", status=503, times=6)
    await stack.forest.publish_release_status(intent, {"release_id": "r1", "status": "CANCELLED"})
    await wait_until(
        lambda: "Cancelled" in all_text(stack.slack.message(CHANNEL, message.ts)), timeout=20
    )
    assert buttons(stack.slack.message(CHANNEL, message.ts)) == {}
    await wait_until(
        lambda: any("cancelled" in r.text.lower() for r in stack.slack.thread(CHANNEL, message.ts))
    )
