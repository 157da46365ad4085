"""People's Slack names, looked up once for what they typed."""

import aiohttp

from bot.local.fake_slack import FakeSlack
from bot.slack.names import SlackNames
from bot.slack.web import build_slack


async def test_mentions_read_as_names_looked_up_once() -> None:
    async with FakeSlack() as fake, aiohttp.ClientSession() as session:
        fake.add_user("U0ALICE", "alice@example.com", "alice")
        names = SlackNames(build_slack(fake.bot_token, fake.api_url, session))

        first = await names.readable("cc <@U0ALICE> and <@U0GONE>, &lt;p99&gt;")
        again = await names.readable("<@U0ALICE> <@U0GONE>")

        assert first == "cc @alice and @U0GONE, <p99>"
        assert again == "@alice @U0GONE"
        assert [c.args["user"] for c in fake.calls_to("users.info")] == ["U0ALICE", "U0GONE"]


async def test_a_failed_lookup_shows_the_id_and_is_asked_again() -> None:
    async with FakeSlack() as fake, aiohttp.ClientSession() as session:
        fake.add_user("U0ALICE", "alice@example.com", "alice")
        names = SlackNames(build_slack(fake.bot_token, fake.api_url, session))
        fake.fail_next("users.info", status=200, error="internal_error")

        assert await names.readable("<@U0ALICE>") == "@U0ALICE"
        assert await names.readable("<@U0ALICE>") == "@alice"
