"""The Slack door's deadline is really applied (slack_sdk ignores its own with a session)."""

import time

import pytest

from bot.local.fake_slack import FakeSlack
from bot.slack.web import SlackUnreachable, build_session, build_slack


async def test_a_call_slack_does_not_answer_fails_at_the_sessions_deadline():
    async with FakeSlack(team_id="T0ACME") as slack:
        slack.delay("chat.update", 30)
        async with build_session(timeout=0.5) as session:
            door = build_slack(slack.bot_token, slack.api_url, session)
            started = time.monotonic()
            with pytest.raises(SlackUnreachable):
                await door.update_message("C0", "1.0", "x", [])
            assert time.monotonic() - started < 2.0


async def test_the_default_session_deadline_is_seconds_not_minutes():
    async with build_session() as session:
        assert session.timeout.total is not None and session.timeout.total <= 30
