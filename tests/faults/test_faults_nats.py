"""NATS failing under a vote: every vote ends recorded and shown, or the person is told it was
NOT recorded and can try again. Readiness says when JetStream takes no writes."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
import pytest_asyncio
from nats.js.api import StreamConfig
from tests_support import all_text, buttons, wait_until

from bot.local.local_stack import CHANNEL, LocalStack, local_stack
from bot.local.slack_signing import block_action_payload, form_payload

NOT_RECORDED = "your vote was *NOT* recorded"
ACK_DEADLINE = 3.0  # Slack's, for every request it sends


def told(stack: LocalStack, user: str, words: str) -> list[Any]:
    return [e for e in stack.slack.ephemerals(CHANNEL, user) if words in all_text(e)]


async def press_try_again(stack: LocalStack, user: str, answer: Any) -> None:
    """``user`` presses the Try again button of a private answer, as Slack delivers it."""
    retry = buttons(answer)["vote_resume"]
    payload = block_action_payload(
        stack.slack.identity.team_id,
        user,
        CHANNEL,
        answer.message_ts,
        "vote_resume",
        retry["value"],
        response_url=stack.slack.new_response_url(CHANNEL, user),
        trigger_id=stack.slack.new_trigger_id(user),
    )
    await stack.post(form_payload(payload))


async def readiness(stack: LocalStack) -> tuple[int, dict[str, str]]:
    async with stack.session.get(f"{stack.bot_url()}/readyz") as reply:
        return reply.status, (await reply.json())["checks"]


@pytest.mark.long
async def test_votes_during_a_nats_outage_are_told_not_recorded_and_can_be_tried_again(
    stack: LocalStack,
):
    await stack.start_bot()
    await stack.link("bob")
    await stack.link("carol")
    intent_a, ts_a = await stack.open_approval()
    intent_b, ts_b = await stack.open_approval()

    stack.nats_server.kill()
    await stack.nats_server.wait_killed()
    for person, ts in (("bob", ts_a), ("carol", ts_b)):
        started = time.monotonic()
        delivery = await stack.click(person, ts, "approval_approve")
        # Slack shows the person an error when the bot does not answer within 3 seconds.
        assert delivery.status == 200 and time.monotonic() - started < ACK_DEADLINE
    # Each click ends in an answer, though the bot cannot read its record of the message.
    await wait_until(
        lambda: told(stack, "U0BOB", NOT_RECORDED) and told(stack, "U0CAROL", NOT_RECORDED),
        timeout=15,
    )
    status, checks = await readiness(stack)
    assert status == 503 and checks["nats"] == "down"
    # Nothing was recorded, as they were told.
    assert stack.forest.calls_to("ExternalApproveRelease") == []

    await stack.nats_server.start()  # the same store: links and records are back
    await wait_until(lambda: stack.nc.is_connected, timeout=10)
    [bob_told] = told(stack, "U0BOB", NOT_RECORDED)
    assert "storage" in all_text(bob_told)
    for _ in range(100):  # the bot reconnects by itself
        if (await readiness(stack))[1]["nats"] == "ok":
            break
        await asyncio.sleep(0.1)
    await press_try_again(stack, "U0BOB", bob_told)
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts_a)), timeout=10)
    assert stack.forest.approval_state(intent_a, "production").current_approvals == 1
    assert stack.forest.approval_state(intent_b, "production").current_approvals == 0
    assert "0 of 2" in all_text(stack.slack.message(CHANNEL, ts_b))
    await wait_until(lambda: len(stack.slack.thread(CHANNEL, ts_a)) == 1)


@pytest.mark.long
async def test_a_tally_waiting_its_turn_when_nats_goes_away_is_sent_once_it_is_back(
    stack: LocalStack,
):
    """A queued tally asks the record, just before it leaves, whether it is still wanted; NATS
    gone at that moment must not leave the message without the vote for good."""
    await stack.start_bot()
    await stack.link("bob")
    await stack.link("carol")
    intent, ts = await stack.open_approval()
    stack.slack.delay("chat.update", 3.0)
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: len(stack.slack.calls_to("chat.update")) == 1)  # bob's, on its way
    await stack.reply_in_thread("carol", ts, "reject too risky")
    await wait_until(lambda: len(stack.forest.approval_state(intent, "production").decisions) == 2)
    # Carol's tally waits behind bob's, which Slack takes 3 s to answer.
    stack.nats_server.kill()
    await stack.nats_server.wait_killed()
    # Bob's tally is answered; carol's leaves, and asking its record outlasts NATS's timeout.
    await asyncio.sleep(9.0)
    stack.slack.delay("chat.update", 0)
    await stack.nats_server.start()
    await wait_until(lambda: stack.nc.is_connected, timeout=10)
    await wait_until(lambda: "U0CAROL" in all_text(stack.slack.message(CHANNEL, ts)), timeout=15)
    assert "U0BOB" in all_text(stack.slack.message(CHANNEL, ts))


@pytest_asyncio.fixture
async def small_stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    """A stack whose JetStream store holds only a few megabytes, to fill it on purpose."""
    async with local_stack(tmp_path, nats_max_file_store="4MB") as running:
        yield running


async def fill_store(stack: LocalStack) -> None:
    js = stack.nc.jetstream()
    await js.add_stream(StreamConfig(name="FILLER", subjects=["filler.>"]))
    chunk = b"x" * 256 * 1024
    for _ in range(100):
        try:
            await js.publish("filler.x", chunk)
        except nats.js.errors.ServiceUnavailableError:
            return
    raise AssertionError("the store never filled")


async def test_a_full_jetstream_store_loses_no_vote_and_readiness_says_so(
    small_stack: LocalStack,
):
    stack = small_stack
    await stack.start_bot()
    await stack.link("bob")
    await stack.link("carol")
    intent, ts = await stack.open_approval()
    assert (await readiness(stack))[0] == 200

    await fill_store(stack)
    # A click: forest records it; the bot's record cannot be written, and bob is told the
    # vote counts all the same.
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: told(stack, "U0BOB", "recorded in forest"), timeout=10)
    assert stack.forest.approval_state(intent, "production").current_approvals == 1
    # A reply in the thread cannot be marked as seen: carol is told it was NOT recorded.
    await stack.reply_in_thread("carol", ts, "approve")
    await wait_until(lambda: told(stack, "U0CAROL", NOT_RECORDED), timeout=10)
    assert [c.actor for c in stack.forest.calls_to("ExternalApproveRelease")] == ["bob"]
    await asyncio.sleep(2.5)  # the readiness probe's cache
    status, checks = await readiness(stack)
    assert status == 503
    assert checks["jetstream"].startswith("refusing writes")

    await stack.nc.jetstream().delete_stream("FILLER")
    # The message and its thread catch up with forest; carol tries again and it counts.
    [carol_told] = told(stack, "U0CAROL", NOT_RECORDED)
    await press_try_again(stack, "U0CAROL", carol_told)
    await wait_until(lambda: "production approved" in all_text(stack.slack.message(CHANNEL, ts)))
    await wait_until(lambda: len(stack.slack.thread(CHANNEL, ts)) >= 3, timeout=15)
    replies = [m.text for m in stack.slack.thread(CHANNEL, ts)]
    assert sum("approved" in text and "U0BOB" in text for text in replies) == 1, replies
    assert sum("approved" in text and "U0CAROL" in text for text in replies) == 1, replies
    await asyncio.sleep(2.5)  # the readiness probe's cache
    assert (await readiness(stack))[0] == 200
