"""The fake Slack's rate limits: per method tier per workspace, chat.postMessage per channel,
429 with Retry-After past them, and off unless asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.local.fake_slack import FakeSlack
from bot.local.fake_slack_limits import (
    CHANNEL_POSTS,
    METHOD_TIERS,
    TIER_3,
    TIER_4,
    SlackRateLimits,
)

CHANNEL = "C0RELEASES"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(rate_limits=True) as running:
        running.add_user("U0ALICE", "alice@acme.io", "alice")
        yield running


def client_of(fake: FakeSlack) -> AsyncWebClient:
    # No retry handler: the test sees each 429 itself.
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])


async def posted(client: AsyncWebClient, count: int, channel: str = CHANNEL) -> list[str]:
    return [
        (await client.chat_postMessage(channel=channel, text=f"message {n}"))["ts"]
        for n in range(count)
    ]


async def test_the_limits_are_those_slack_documents():
    assert TIER_3.per_minute == 50 and TIER_4.per_minute == 100
    assert CHANNEL_POSTS.per_second == 1.0
    for method in ("chat.update", "reactions.add", "conversations.history", "users.lookupByEmail"):
        assert METHOD_TIERS[method] == TIER_3
    for method in ("chat.postEphemeral", "views.open", "views.publish"):
        assert METHOD_TIERS[method] == TIER_4


async def test_past_a_tier_slack_answers_429_with_retry_after(fake: FakeSlack):
    client = client_of(fake)
    [ts] = await posted(client, 1)
    for n in range(TIER_3.burst):
        await client.chat_update(channel=CHANNEL, ts=ts, text=f"edit {n}")

    try:
        await client.chat_update(channel=CHANNEL, ts=ts, text="one too many")
        raise AssertionError("the update past the burst was accepted")
    except SlackApiError as error:
        refused = error.response

    assert refused.status_code == 429
    assert refused.data == {"ok": False, "error": "ratelimited"}
    assert int(refused.headers["Retry-After"]) >= 1
    assert fake.message(CHANNEL, ts).text == f"edit {TIER_3.burst - 1}"
    assert fake.rate_limits.refused == {"chat.update": 1}
    assert [c.args["text"] for c in fake.rate_limited_calls] == ["one too many"]


async def test_each_method_has_its_own_budget(fake: FakeSlack):
    client = client_of(fake)
    [ts] = await posted(client, 1)
    for n in range(TIER_3.burst):
        await client.chat_update(channel=CHANNEL, ts=ts, text=f"edit {n}")

    # chat.update is spent; reactions.add (same tier) and Tier 4 methods are not.
    await client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    for n in range(TIER_4.burst):
        await client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text=f"psst {n}")
    assert fake.rate_limits.refused == {}


async def test_posting_is_limited_per_channel_not_per_workspace(fake: FakeSlack):
    client = client_of(fake)
    await posted(client, CHANNEL_POSTS.burst)

    try:
        await client.chat_postMessage(channel=CHANNEL, text="too fast")
        raise AssertionError("the post past the burst was accepted")
    except SlackApiError as error:
        assert error.response.status_code == 429
    await posted(client, CHANNEL_POSTS.burst, channel="C0OTHER")

    assert len(fake.messages(CHANNEL)) == CHANNEL_POSTS.burst
    assert len(fake.messages("C0OTHER")) == CHANNEL_POSTS.burst


async def test_the_budget_refills_at_the_tiers_rate():
    clock = ManualClock()
    limits = SlackRateLimits(enabled=True, clock=clock)
    args = {"channel": CHANNEL}
    for _ in range(TIER_3.burst):
        assert limits.admit("chat.update", args) is None
    assert limits.admit("chat.update", args) == 2  # 1.2 s to the next, in whole seconds

    clock.now += 60 / TIER_3.per_minute
    assert limits.admit("chat.update", args) is None
    assert limits.admit("chat.update", args) is not None

    clock.now += 3600  # a quiet hour refills no more than the burst
    for _ in range(TIER_3.burst):
        assert limits.admit("chat.update", args) is None
    assert limits.admit("chat.update", args) is not None
    assert limits.refused == {"chat.update": 3}


async def test_methods_without_a_known_limit_and_a_disabled_fake_are_not_limited():
    limits = SlackRateLimits(enabled=True)
    assert all(limits.admit("auth.test", {}) is None for _ in range(500))
    off = SlackRateLimits()
    assert all(off.admit("chat.update", {}) is None for _ in range(500))


async def test_off_by_default():
    async with FakeSlack() as fake:
        client = client_of(fake)
        ts = (await posted(client, 20))[0]
        for n in range(TIER_3.burst * 3):
            await client.chat_update(channel=CHANNEL, ts=ts, text=f"edit {n}")
        assert fake.rate_limited_calls == []


async def test_slack_sdks_retry_handler_waits_as_told_and_gets_through(fake: FakeSlack):
    client = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    await posted(client, CHANNEL_POSTS.burst + 1)

    assert len(fake.messages(CHANNEL)) == CHANNEL_POSTS.burst + 1
    assert len(fake.rate_limited_calls) == 1
