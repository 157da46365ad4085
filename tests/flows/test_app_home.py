"""The App Home tab shows the approvals waiting for the person's vote."""

import asyncio
import uuid

from tests_support import wait_until

from bot.local.local_stack import CHANNEL, LocalStack
from bot.local.slack_signing import event_callback_body


async def open_home(stack: LocalStack, username: str, tab: str = "home") -> None:
    """``username`` opens the app's Home tab (or its Messages tab), as Slack reports it."""
    user = stack.person(username).slack_user_id
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D0{user}",
        "tab": tab,
        "event_ts": "1764152100.000100",
    }
    body = event_callback_body(
        stack.slack.identity.team_id,
        event,
        f"Ev{uuid.uuid4().hex[:10].upper()}",
        bot_user_id=stack.slack.identity.bot_user_id,
    )
    delivery = await stack.post(body)
    assert delivery.status == 200, delivery


def home_text(stack: LocalStack, username: str) -> str:
    view = stack.slack.home_view(stack.person(username).slack_user_id)
    assert view is not None
    parts = []
    for block in view["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn")
    return "\n".join(parts)


async def test_opening_the_home_tab_shows_what_waits_for_my_vote(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    intent = stack.new_release(author="alice")
    await stack.announce(intent, author="alice", title="fix: retry card captures")
    own = stack.new_release(author="bob")
    await stack.announce(own, author="bob", title="chore: bob's own release")
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 2)
    ts = next(m.ts for m in stack.slack.messages(CHANNEL) if "retry card" in m.text)

    await open_home(stack, "bob")
    await wait_until(lambda: stack.slack.home_view("U0BOB") is not None)

    shown = home_text(stack, "bob")
    assert "Waiting for your vote" in shown
    link = f"https://acme.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    assert f"<{link}|fix: retry card captures>" in shown
    assert "bob's own release" not in shown


async def test_the_home_tab_asks_an_unlinked_person_to_link(stack: LocalStack):
    bot = await stack.start_bot()
    await open_home(stack, "carol")
    await wait_until(lambda: stack.slack.home_view("U0CAROL") is not None)
    assert "/forest login" in home_text(stack, "carol")
    # Published through the bot's own client, so operators see the call in the metrics.
    published = bot.metrics.registry.get_sample_value(
        "approvals_slack_call_seconds_count", {"method": "views.publish"}
    )
    assert published == 1.0


async def test_the_messages_tab_is_left_alone(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    await open_home(stack, "bob", tab="messages")
    await asyncio.sleep(0.5)
    assert stack.slack.calls_to("views.publish") == []
