"""The door with pacing on, against the fake Slack with Slack's rate limits: calls wait their
turn instead of meeting 429s, a 429 that still comes is waited out, and what cannot get
through becomes the door's own error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from bot.local.fake_slack import FakeSlack
from bot.local.fake_slack_limits import TIER_3
from bot.slack.pacing import LocalBudget, Priority
from bot.slack.web import SlackRefused, SlackWeb, build_slack

CHANNEL = "C0RELEASES"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(rate_limits=True) as running:
        yield running


@pytest_asyncio.fixture
async def slack(fake: FakeSlack) -> AsyncIterator[SlackWeb]:
    async with aiohttp.ClientSession() as session:
        door = build_slack(fake.bot_token, fake.api_url, session, budget=LocalBudget())
        yield door
        await door.close(1.0)


async def test_more_updates_than_the_tier_allows_wait_their_turn_and_meet_no_429(
    fake: FakeSlack, slack: SlackWeb
):
    messages = [await slack.post_message(f"C{n}", "needs votes") for n in range(TIER_3.burst + 2)]
    await asyncio.gather(
        *(
            slack.update_message(f"C{n}", ts, "approved", [], priority=Priority.PERSON)
            for n, ts in enumerate(messages)
        )
    )

    assert all(fake.message(f"C{n}", ts).text == "approved" for n, ts in enumerate(messages))
    assert fake.rate_limited_calls == []


async def test_a_429_that_still_comes_is_waited_out_once(fake: FakeSlack, slack: SlackWeb):
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    ts = await slack.post_message(CHANNEL, "needs votes")

    assert fake.message(CHANNEL, ts).text == "needs votes"
    assert time.monotonic() - started >= 0.9  # Slack's Retry-After, not the client's retries
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert slack.pacer is not None and slack.pacer.rate_limited == 1


async def test_slack_refusing_for_good_is_the_doors_error_not_a_retry(
    fake: FakeSlack, slack: SlackWeb
):
    fake.set_channel_error(CHANNEL, "channel_not_found")
    with pytest.raises(SlackRefused) as refused:
        await slack.post_message(CHANNEL, "needs votes")
    assert refused.value.code == "channel_not_found"
    assert len(fake.calls_to("chat.postMessage")) == 1
