"""Reminders: an approval short of votes after APPROVALS_REMIND_AFTER gets one reply in its
thread, and its author one direct message, per period, however many bots run."""

import asyncio
import uuid
from dataclasses import replace

import nats
import pytest
from tests_support import all_text, wait_until

from bot.approval import ApprovalKey
from bot.approvals.reminders import ReminderMarks
from bot.config import ConfigError, load_settings
from bot.local.local_stack import CHANNEL, FAST, LocalStack
from bot.local.nats_server import NatsServer
from bot.state.approval_store import open_bucket

REMINDING = replace(FAST, reminder_check_interval=0.1)

VALID = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "FOREST_APP_TOKEN": "forest-app-token",
    "APPROVALS_CHANNEL": "C0APPROVALS",
    "BOT_SECRET_KEY": "k" * 40,
}


# The setting


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 4 * 3600.0), ("4h", 4 * 3600.0), ("30m", 1800.0), ("90s", 90.0), ("1h30m", 5400.0)],
)
def test_remind_after_reads_durations(value, seconds):
    env = dict(VALID) if value is None else {**VALID, "APPROVALS_REMIND_AFTER": value}
    assert load_settings(env).approvals_remind_after == seconds


def test_zero_turns_reminders_off():
    settings = load_settings({**VALID, "APPROVALS_REMIND_AFTER": "0"})
    assert settings.approvals_remind_after == 0


@pytest.mark.parametrize("value", ["four hours", "4", "-1h", "4d", "h", "1.5h", "30m4h"])
def test_a_bad_duration_names_the_variable(value):
    with pytest.raises(ConfigError) as caught:
        load_settings({**VALID, "APPROVALS_REMIND_AFTER": value})
    assert str(caught.value).startswith("APPROVALS_REMIND_AFTER must be a duration")
    assert caught.value.variable == "APPROVALS_REMIND_AFTER"
    assert "\n" not in str(caught.value)


# The mark that makes a period's reminder happen once


async def test_one_claimer_wins_each_period(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    try:
        kv = await open_bucket(nc.jetstream(), f"reminders_{uuid.uuid4().hex[:8]}", history=1)
        replicas = [ReminderMarks(kv) for _ in range(4)]
        key = ApprovalKey("0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10", "production")
        first = await asyncio.gather(*(marks.claim(key, 1) for marks in replicas))
        assert sorted(first) == [False, False, False, True]
        assert not await replicas[0].claim(key, 1)
        second = await asyncio.gather(*(marks.claim(key, 2) for marks in replicas))
        assert sorted(second) == [False, False, False, True]
        assert await replicas[0].last_reminded(key) == 2
    finally:
        await nc.close()


# What people see


def reminders_in_thread(stack: LocalStack, ts: str) -> list[str]:
    return [reply.text for reply in stack.slack.thread(CHANNEL, ts) if reply.text.startswith("⏰")]


def reminders_to_alice(stack: LocalStack) -> list[str]:
    return [all_text(message) for message in stack.slack.dm_messages("U0ALICE")]


async def test_a_waiting_approval_gets_one_reminder_and_its_author_one_message(
    stack: LocalStack,
):
    await stack.start_bot(REMINDING, APPROVALS_REMIND_AFTER="3s")
    await stack.start_bot(REMINDING, APPROVALS_REMIND_AFTER="3s")
    _, ts = await stack.open_approval(author="alice")
    await asyncio.sleep(1.5)
    assert reminders_in_thread(stack, ts) == []

    await wait_until(lambda: reminders_in_thread(stack, ts), timeout=5.0)
    await wait_until(lambda: reminders_to_alice(stack))
    await asyncio.sleep(0.5)  # both bots check several times within the period

    [reminder] = reminders_in_thread(stack, ts)
    assert reminder.startswith("⏰ Still needs 2 more approvals (0 of 2). Waiting since <!date^")
    [direct] = reminders_to_alice(stack)
    assert direct.startswith("⏰ Still needs 2 more approvals (0 of 2).")
    link = f"https://acme.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    assert f"Your release <{link}|fix: retry card captures on timeout (#812)>" in direct


async def test_each_further_period_brings_one_more_reminder(stack: LocalStack):
    await stack.start_bot(REMINDING, APPROVALS_REMIND_AFTER="1s")
    _, ts = await stack.open_approval(author="alice")
    await wait_until(lambda: len(reminders_in_thread(stack, ts)) == 2, timeout=5.0)
    await wait_until(lambda: len(reminders_to_alice(stack)) == 2)
    assert len(reminders_in_thread(stack, ts)) == 2


async def test_no_reminders_when_the_period_is_zero(stack: LocalStack):
    await stack.start_bot(REMINDING, APPROVALS_REMIND_AFTER="0")
    _, ts = await stack.open_approval(author="alice")
    await asyncio.sleep(2.0)
    assert reminders_in_thread(stack, ts) == []
    assert reminders_to_alice(stack) == []


async def test_no_reminder_once_approved(stack: LocalStack):
    await stack.start_bot(REMINDING, APPROVALS_REMIND_AFTER="3s")
    await stack.link("bob")
    _, ts = await stack.open_approval(author="alice", environment="staging", required_approvals=1)
    await stack.click("bob", ts, "approval_approve")
    await wait_until(
        lambda: "approved" in stack.slack.message(CHANNEL, ts).blocks[0]["text"]["text"]
    )
    await asyncio.sleep(3.5)
    assert reminders_in_thread(stack, ts) == []
    assert reminders_to_alice(stack) == []
    assert stack.slack.thread(CHANNEL, ts)  # the approval itself was told
