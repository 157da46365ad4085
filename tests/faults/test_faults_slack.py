"""Slack faults: rate limits are waited out, errors retried, refusals set aside, nothing doubled."""

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from tests_support import all_text, buttons, wait_until

from bot.events.consumer import DURABLE, STREAM
from bot.local.local_stack import CHANNEL, FAST, LocalStack


async def test_a_rate_limited_post_is_waited_out_and_posted_once(stack: LocalStack):
    await stack.start_bot()
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    intent = stack.new_release()
    await stack.announce(intent)
    await stack.slack.wait_for("chat.postMessage", ok=True, timeout=10)
    await asyncio.sleep(1.0)
    refused = [c for c in stack.slack.calls_to("chat.postMessage") if c.status == 429]
    assert len(refused) == 2
    assert len(stack.slack.messages(CHANNEL)) == 1
    # The retries waited for Retry-After each time.
    ok = next(c for c in stack.slack.calls_to("chat.postMessage") if c.ok)
    assert ok.at - refused[0].at >= 1.9


async def test_a_not_recorded_answer_slack_did_not_take_is_sent_again(stack: LocalStack):
    """The person's only way to learn their vote was NOT recorded is the private answer: one
    that Slack did not answer in time is sent again, not logged and forgotten."""
    await stack.start_bot(replace(FAST, slack_timeout=1.0))
    await stack.link("bob")
    intent, ts = await stack.open_approval()
    stack.forest.fail_next("ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "down")
    stack.slack.hang("chat.postEphemeral")

    def told() -> list:
        return [e for e in stack.slack.ephemerals(CHANNEL, "U0BOB") if "NOT" in e.text]

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.slack.calls_to("chat.postEphemeral"), timeout=10)
    await asyncio.sleep(2.0)  # twice the bot's deadline for a call: that one failed
    assert told() == []
    stack.slack.hang("chat.postEphemeral", False)
    await wait_until(told, timeout=15)
    [answer] = told()
    assert "Forest didn't answer, so your vote was *NOT* recorded." in all_text(answer)
    assert "vote_resume" in buttons(answer)
    assert stack.forest.approval_state(intent, "production").decisions == ()


async def test_server_errors_are_retried_until_the_post_lands(stack: LocalStack):
    await stack.start_bot()
    # More failures than the client's own retries: the event is redelivered later.
    stack.slack.fail_next("chat.postMessage", status=503, times=6)
    intent = stack.new_release()
    await stack.announce(intent)
    await stack.slack.wait_for("chat.postMessage", ok=True, timeout=15)
    await asyncio.sleep(1.0)
    assert len(stack.slack.messages(CHANNEL)) == 1


async def test_a_channel_slack_refuses_is_reported_and_others_go_on(
    stack: LocalStack, tmp_path: Path
):
    routes = tmp_path / "routes.yml"
    routes.write_text("routes:\n  - environment: staging\n    channel: C0GONE\n")
    stack.slack.set_channel_error("C0GONE", "channel_not_found")
    bot = await stack.start_bot(APPROVALS_ROUTES=str(routes))
    lost = stack.new_release()
    await stack.announce(lost, environment="staging", required_approvals=1)
    kept = stack.new_release()
    await stack.announce(kept)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    await wait_until(
        lambda: (
            bot.metrics.registry.get_sample_value(
                "approvals_events_set_aside_total", {"reason": "slack_refused"}
            )
            == 1.0
        )
    )
    await asyncio.sleep(1.5)
    # Tried once (with the client's retries only for transient errors), not forever.
    refused = [
        c for c in stack.slack.calls_to("chat.postMessage") if c.error == "channel_not_found"
    ]
    assert len(refused) == 1
    dead = await stack.nc.jetstream().pull_subscribe("forest.approval.deadletter", durable="x")
    [letter] = await dead.fetch(1, timeout=5)
    assert "channel_not_found" in letter.headers["Forest-Set-Aside-Detail"]


async def test_a_post_slower_than_the_ack_wait_is_not_redelivered(stack: LocalStack):
    # Two replicas: a redelivered event would go to the one that is free.
    for _ in range(2):
        await stack.start_bot(replace(FAST, ack_wait=1.0))
    stack.slack.delay("chat.postMessage", 3.0)
    intent = stack.new_release()
    await stack.announce(intent)
    await stack.slack.wait_for("chat.postMessage", ok=True, timeout=10)
    stack.slack.delay("chat.postMessage", 0)
    js = stack.nc.jetstream()
    for _ in range(50):
        consumer = await js.consumer_info(STREAM, DURABLE)
        if consumer.num_ack_pending == 0:
            break
        await asyncio.sleep(0.1)
    # The heartbeat kept JetStream from handing the event out again while Slack was slow.
    assert consumer.num_ack_pending == 0
    assert consumer.delivered.consumer_seq == 1  # one event, handed out once
    assert len(stack.slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("slowness", ["hanging chat.update", "429 with Retry-After 30"])
async def test_a_slow_slack_holds_no_vote_back_once_forest_has_it(stack: LocalStack, slowness):
    # One vote at a time: a vote waiting on Slack would hold every later one.
    await stack.start_bot(replace(FAST, vote_concurrency=1, slack_timeout=4.0))
    await stack.link("bob")
    await stack.link("carol")
    intent_a, ts_a = await stack.open_approval()
    intent_b, ts_b = await stack.open_approval()
    if slowness == "hanging chat.update":
        stack.slack.hang("chat.update")
    else:
        stack.slack.fail_next("chat.update", status=429, retry_after=30)

    await stack.click("bob", ts_a, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"))
    clicked = time.monotonic()
    await stack.click("carol", ts_b, "approval_approve")
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 2)
    assert time.monotonic() - clicked < 2.0
    assert stack.forest.approval_state(intent_b, "production").current_approvals == 1
    if slowness == "429 with Retry-After 30":
        return
    # Slack's deadline ends bob's update; it is sent again, and the message catches up once
    # Slack answers again, with no other nudge.
    await asyncio.sleep(5.0)
    assert "0 of 2" in all_text(stack.slack.message(CHANNEL, ts_a))
    stack.slack.hang("chat.update", False)
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts_a)), timeout=15)
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts_b)), timeout=15)
    assert stack.forest.approval_state(intent_a, "production").current_approvals == 1
