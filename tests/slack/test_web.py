"""The one door to Slack (bot/slack/web.py), against the fake Slack over HTTP: what each call
leaves in Slack, and the three failures every caller sees instead of slack_sdk's errors."""

from __future__ import annotations

import ast
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from tests_support import all_text, wait_until

from bot.local.fake_slack import FakeSlack
from bot.local.local_stack import CHANNEL as STACK_CHANNEL
from bot.local.local_stack import LocalStack
from bot.slack.web import (
    SlackRefused,
    SlackRefusedForGood,
    SlackUnreachable,
    SlackWeb,
    build_slack,
)

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0RELEASES"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "payments-api needs 2 votes"}}]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as running:
        yield running


@pytest_asyncio.fixture
async def slack(fake: FakeSlack) -> AsyncIterator[SlackWeb]:
    async with aiohttp.ClientSession() as session:
        yield build_slack(fake.bot_token, fake.api_url, session)


async def test_a_message_is_posted_updated_answered_in_its_thread_and_found_again(
    fake: FakeSlack, slack: SlackWeb
):
    metadata = {"event_type": "forest_approval", "event_payload": {"release_intent_id": "i-1"}}
    ts = await slack.post_message(CHANNEL, "needs votes", BLOCKS, metadata=metadata)
    await slack.update_message(CHANNEL, ts, "approved", BLOCKS)
    await slack.post_message(CHANNEL, "bob approved", thread_ts=ts)
    await slack.react(CHANNEL, ts, "white_check_mark")

    assert fake.message(CHANNEL, ts).text == "approved"
    assert [reply.text for reply in fake.thread(CHANNEL, ts)] == ["bob approved"]
    assert fake.reactions(CHANNEL, ts) == ["white_check_mark"]
    found = await slack.history(CHANNEL, oldest="0", limit=10, with_metadata=True)
    assert [(m["ts"], m["metadata"]["event_type"]) for m in found] == [(ts, "forest_approval")]
    assert ts.replace(".", "") in await slack.permalink(CHANNEL, ts)
    await slack.delete_message(CHANNEL, ts)
    assert fake.messages(CHANNEL) == []


async def test_a_person_is_found_by_email_and_nobody_is_none(fake: FakeSlack, slack: SlackWeb):
    fake.add_user("U0ALICE", "alice@example.com", "alice")
    assert await slack.user_by_email("alice@example.com") == "U0ALICE"
    assert await slack.user_by_email("nobody@example.com") is None
    channel = await slack.open_dm("U0ALICE")
    await slack.post_message(channel, "your release waits")
    assert [m.text for m in fake.dm_messages("U0ALICE")] == ["your release waits"]


async def test_the_bot_knows_who_it_is(fake: FakeSlack, slack: SlackWeb):
    identity = await slack.identity()
    assert (identity.team_id, identity.bot_user_id) == ("T0001", "U0BOT")


async def test_a_channel_slack_will_never_take_is_refused_for_good(
    fake: FakeSlack, slack: SlackWeb
):
    fake.set_channel_error(CHANNEL, "channel_not_found")
    with pytest.raises(SlackRefusedForGood) as refused:
        await slack.post_message(CHANNEL, "needs votes", BLOCKS)
    assert (refused.value.method, refused.value.channel) == ("chat.postMessage", CHANNEL)
    assert refused.value.code == "channel_not_found"
    assert str(refused.value) == f"chat.postMessage to {CHANNEL}: channel_not_found"


async def test_a_rate_limit_is_waited_out_and_one_that_lasts_is_a_refusal(
    fake: FakeSlack, slack: SlackWeb
):
    ts = await slack.post_message(CHANNEL, "needs votes", BLOCKS)
    fake.fail_next("chat.update", status=429, retry_after=0, times=2)
    await slack.update_message(CHANNEL, ts, "approved", BLOCKS)
    assert fake.message(CHANNEL, ts).text == "approved"

    fake.fail_next("chat.update", status=429, retry_after=0, times=10)
    with pytest.raises(SlackRefused) as refused:
        await slack.update_message(CHANNEL, ts, "rejected", BLOCKS)
    assert not isinstance(refused.value, SlackRefusedForGood)
    assert refused.value.code == "ratelimited"
    assert fake.message(CHANNEL, ts).text == "approved"


async def test_a_slack_that_does_not_answer_is_unreachable():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        slack = build_slack("xoxb-test", f"http://127.0.0.1:{port}/api/", session)
        with pytest.raises(SlackUnreachable) as unreachable:
            await slack.post_message(CHANNEL, "needs votes")
    assert unreachable.value.method == "chat.postMessage"


async def test_a_response_url_answers_once_used_up_as_a_refusal(fake: FakeSlack, slack: SlackWeb):
    url = fake.new_response_url(channel=CHANNEL, user="U0ALICE")
    await slack.respond(url, {"response_type": "ephemeral", "text": "Linked."})
    assert [post.body["text"] for post in fake.responses(url)] == ["Linked."]
    with pytest.raises(SlackRefused) as refused:
        await slack.respond(fake.base_url + "/response/R-unknown", {"text": "Linked."})
    assert (refused.value.method, refused.value.code) == ("response_url", "404")


def test_no_product_module_but_the_door_speaks_slack_sdk():
    """Every Slack call goes through bot/slack/web.py: nothing else in the product imports
    slack_sdk (Bolt, the listeners' framework, is not a Web API client)."""
    speaking = []
    for path in [
        *ROOT.glob("bot/**/*.py"),
        *ROOT.glob("handlers/**/*.py"),
        *ROOT.glob("blocks/**/*.py"),
    ]:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("bot/local/") or relative == "bot/slack/web.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "slack_sdk" for name in names):
                speaking.append(relative)
    assert speaking == []


async def test_slack_is_asked_who_the_bot_is_once_through_the_door_not_again_by_bolt(
    stack: LocalStack,
):
    """Bolt's own authorization would call auth.test on the first request after a start (the
    click would wait for it); the bot tells Bolt what the door learnt at start-up instead."""
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(STACK_CHANNEL, ts)))

    assert len(stack.slack.calls_to("auth.test")) == 1
