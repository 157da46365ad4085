"""Socket Mode carries the same listeners as HTTP."""

from tests_support import all_text, wait_until

from bot.local.local_stack import CHANNEL, LocalStack


async def test_the_approve_flow_works_over_socket_mode(stack: LocalStack):
    bot = await stack.start_bot(SLACK_APP_TOKEN=stack.slack.app_token, SLACK_SIGNING_SECRET="")
    await stack.slack.wait_socket_connected()
    await stack.link("bob")
    # Linking happened over HTTP in the helper; Socket Mode bots still serve health on HTTP
    # but take Slack's requests only from the socket.
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    ts = stack.slack.messages(CHANNEL)[0].ts

    ack = await stack.slack.click(CHANNEL, ts, "U0BOB", "approval_approve")
    assert ack is None or ack == {}
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert call.actor == "bob"
    ready = await stack.session.get(f"{stack.bot_url(bot)}/readyz")
    assert (await ready.json())["checks"]["slack_socket_mode"] == "ok"
