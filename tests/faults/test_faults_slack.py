"""Slack faults: rate limits are waited out, errors retried, refusals set aside, nothing doubled."""

import asyncio
from dataclasses import replace
from pathlib import Path

from tests_support import wait_until

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
