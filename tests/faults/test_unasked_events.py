"""Events Slack sends without being asked are answered 200; app_rate_limited is also counted."""

from bot.local.local_stack import CHANNEL, LocalStack
from bot.local.slack_signing import app_rate_limited_body, message_event

METRIC = "approvals_slack_app_rate_limited_total"


async def metric(stack: LocalStack, name: str) -> float:
    async with stack.session.get(f"{stack.bot_url()}/metrics") as response:
        page = await response.text()
    [line] = [line for line in page.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_app_rate_limited_is_answered_200_and_counted(stack: LocalStack):
    await stack.start_bot()
    team = stack.slack.identity.team_id
    assert await metric(stack, METRIC) == 0

    delivery = await stack.post(app_rate_limited_body(team, 1_518_467_820))

    assert delivery.status == 200
    assert await metric(stack, METRIC) == 1
    # Unsigned, it is refused like anything else.
    unsigned = await stack.post(app_rate_limited_body(team), signing_secret="not-the-secret")
    assert unsigned.status == 401
    assert await metric(stack, METRIC) == 1


async def test_events_nobody_subscribed_to_are_answered_200(stack: LocalStack):
    await stack.start_bot()
    team = stack.slack.identity.team_id
    unasked = [
        {"type": "member_joined_channel", "user": "U0BOB", "channel": CHANNEL, "team": team},
        {"type": "app_mention", "user": "U0BOB", "text": "<@U0BOT> hi", "ts": "1.000001"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT"]}},
        # A message edit: the message listener takes it and votes nothing.
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": CHANNEL,
            "message": message_event(team, CHANNEL, "U0BOB", "approve", "1.000002"),
            "ts": "1.000003",
        },
    ]
    for event in unasked:
        await stack.deliver_event({**event, "event_ts": "1.000004"})  # asserts the 200
    assert stack.forest.calls == []
