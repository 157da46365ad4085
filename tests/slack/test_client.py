"""The Slack client's deadline is really applied (slack_sdk ignores its own with a session)."""

import asyncio
import time

import aiohttp
import pytest

from bot.local.fake_slack import FakeSlack
from bot.slack.client import build_session, build_web_client


async def test_a_call_slack_does_not_answer_fails_at_the_sessions_deadline():
    async with FakeSlack(team_id="T0ACME") as slack:
        slack.delay("chat.update", 30)
        async with build_session(timeout=0.5) as session:
            client = build_web_client(slack.bot_token, slack.api_url, session)
            started = time.monotonic()
            with pytest.raises(aiohttp.ClientError):
                await client.chat_update(channel="C0", ts="1.0", text="x", blocks=[])
            assert time.monotonic() - started < 2.0


def test_the_default_session_deadline_is_seconds_not_minutes():
    async def deadline() -> float | None:
        async with build_session() as session:
            return session.timeout.total

    total = asyncio.run(deadline())
    assert total is not None and total <= 30
