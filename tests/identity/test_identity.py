"""Who acts in forest is the Slack user of the verified request, with their own token, and
nobody else's; tokens are sealed at rest and never written to a log line."""

import asyncio
import io
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import grpc
import nats.js.errors
from tests_support import all_text, buttons, wait_until

from bot.config import load_settings
from bot.local.fake_forest import IssuedTokens
from bot.local.local_stack import CHANNEL, ORGANISATION, LocalStack
from bot.local.slack_signing import event_callback_body, form_payload, slash_command_payload
from bot.runtime.logs import SecretFilter, configure_logging
from bot.wiring import LINKS_BUCKET

VOTES = ("ExternalApproveRelease", "ExternalRejectRelease", "ListMyOrganisations")


def record_issued_tokens(stack: LocalStack) -> dict[str, list[IssuedTokens]]:
    """Every access and refresh token forest hands out from now on, by username."""
    issued: dict[str, list[IssuedTokens]] = defaultdict(list)
    credentials = stack.forest.credentials
    issue = credentials.issue_user_tokens

    def recording(username: str) -> IssuedTokens:
        tokens = issue(username)
        issued[username].append(tokens)
        return tokens

    credentials.issue_user_tokens = recording  # type: ignore[method-assign]
    return issued


def tokens_of(issued: dict[str, list[IssuedTokens]], username: str) -> set[str]:
    return {t.access_token for t in issued[username]} | {t.refresh_token for t in issued[username]}


async def bob_and_mallory(stack: LocalStack) -> tuple[dict[str, list[IssuedTokens]], str, str]:
    """Bob and Mallory both linked (Mallory made a member, so her votes count); an approval."""
    issued = record_issued_tokens(stack)
    stack.forest.add_member(ORGANISATION, "mallory")
    await stack.start_bot()
    await stack.link("bob")
    await stack.link("mallory")
    assert tokens_of(issued, "bob")
    intent, ts = await stack.open_approval()
    return issued, intent, ts


def assert_acted_as_mallory_only(stack: LocalStack, issued, intent: str, method: str) -> None:
    [call] = stack.forest.calls_to(method)
    assert call.actor == "mallory" and call.actor_kind == "user"
    assert call.token in tokens_of(issued, "mallory")
    bobs = tokens_of(issued, "bob")
    assert not any(c.token in bobs for c in stack.forest.calls)
    decisions = stack.forest.approval_state(intent, "production").decisions
    assert [d.username for d in decisions] == ["mallory"]


async def test_a_click_acts_as_the_clicker_whatever_else_the_payload_names(stack: LocalStack):
    issued, intent, ts = await bob_and_mallory(stack)
    click = stack.slack.click_payload(CHANNEL, ts, "U0MALLORY", "approval_approve")
    click["user"].update(username="bob", name="bob")
    click["message"] = {**click["message"], "user": "U0BOB", "username": "bob"}
    click["team"]["domain"] = "bob"
    click["container"]["user_id"] = "U0BOB"
    click["actions"][0]["value"] = buttons(stack.slack.message(CHANNEL, ts))["approval_approve"][
        "value"
    ]
    await stack.post(form_payload(click))

    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
    assert_acted_as_mallory_only(stack, issued, intent, "ExternalApproveRelease")
    await wait_until(lambda: stack.slack.thread(CHANNEL, ts))
    assert stack.slack.thread(CHANNEL, ts)[0].text.startswith("✅ <@U0MALLORY> approved")


async def test_a_button_made_for_bob_acts_for_whoever_clicks_it(stack: LocalStack):
    issued = record_issued_tokens(stack)
    stack.forest.add_member(ORGANISATION, "mallory")
    await stack.start_bot()
    await stack.link("mallory")
    intent, ts = await stack.open_approval()
    # Bob is not linked: the bot answers him privately with buttons that carry his vote.
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.slack.ephemerals(CHANNEL, "U0BOB"))
    bobs_vote = buttons(stack.slack.ephemerals(CHANNEL, "U0BOB")[-1])["link_start"]["value"]

    # Mallory replays Bob's "finish your vote" value, and clicks his link button.
    for action_id in ("vote_resume", "link_start"):
        payload = stack.slack.click_payload(CHANNEL, ts, "U0MALLORY", "approval_approve")
        payload["actions"][0].update(action_id=action_id, value=bobs_vote)
        payload["response_url"] = stack.slack.new_response_url(CHANNEL, "U0MALLORY")
        await stack.post(form_payload(payload))
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
    assert_acted_as_mallory_only(stack, issued, intent, "ExternalApproveRelease")

    # The device login started from Bob's button is Mallory's; Bob stays unlinked.
    grant = await stack.pending_login("mallory")
    assert "U0MALLORY" in grant.client_name and "U0BOB" not in grant.client_name
    assert "bob" not in grant.client_name
    await stack.command("bob", "whoami")
    assert "You're not linked to forest" in stack.last_command_reply


async def test_a_reason_submitted_by_someone_else_counts_as_theirs(stack: LocalStack):
    issued, intent, ts = await bob_and_mallory(stack)
    await stack.click("bob", ts, "approval_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    bobs_modal = stack.slack.views[0]
    submission = stack.slack.submission_payload(
        bobs_modal.id, "U0MALLORY", {"reason": {"reason_input": "not ready"}}
    )
    place = json.loads(submission["view"]["private_metadata"])
    submission["view"]["private_metadata"] = json.dumps({**place, "user": "U0BOB"})
    submission["user"].update(username="bob", name="bob")
    await stack.post(form_payload(submission))

    await wait_until(lambda: stack.forest.calls_to("ExternalRejectRelease"))
    assert_acted_as_mallory_only(stack, issued, intent, "ExternalRejectRelease")
    [call] = stack.forest.calls_to("ExternalRejectRelease")
    assert call.request.comment == "not ready"


async def test_a_thread_reply_votes_as_its_author(stack: LocalStack):
    issued, intent, ts = await bob_and_mallory(stack)
    reply = stack.slack.add_message(CHANNEL, "approve", "U0MALLORY", thread_ts=ts)
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "U0MALLORY",
        "text": "approve <@U0BOB> says so",
        "ts": reply.ts,
        "thread_ts": ts,
        "parent_user_id": "U0BOB",
        "username": "bob",
        "user_profile": {"name": "bob", "display_name": "bob", "team": "T0ACME"},
        "team": stack.slack.identity.team_id,
        "channel_type": "channel",
        "event_ts": reply.ts,
    }
    body = event_callback_body(
        stack.slack.identity.team_id, event, bot_user_id=stack.slack.identity.bot_user_id
    )
    assert (await stack.post(body)).status == 200

    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply.ts) == ["white_check_mark"])
    assert_acted_as_mallory_only(stack, issued, intent, "ExternalApproveRelease")


async def test_a_command_acts_for_its_sender_whatever_name_it_carries(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    payload = slash_command_payload(
        stack.slack.identity.team_id,
        "U0MALLORY",
        "/forest",
        "logout",
        stack.slack.new_response_url(CHANNEL, "U0MALLORY"),
        user_name="bob",
    )
    delivery = await stack.post(urlencode(payload).encode())
    assert "You weren't linked to forest" in delivery.body
    await stack.command("bob", "whoami")
    assert "You're linked to forest as *bob*" in stack.last_command_reply


# Tokens at rest


async def raw_link_values(stack: LocalStack) -> dict[str, bytes]:
    """Everything the links bucket's stream holds, read with nats-py as any client could."""
    js = stack.nc.jetstream()
    stream = f"KV_{LINKS_BUCKET}"
    state = (await js.stream_info(stream)).state
    values: dict[str, bytes] = {}
    for seq in range(state.first_seq, state.last_seq + 1):
        try:
            message = await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:  # deleted or rolled up
            continue
        values[f"{message.subject}#{seq}"] = message.data or b""
    return values


async def test_forest_tokens_are_sealed_at_rest(stack: LocalStack):
    issued = record_issued_tokens(stack)
    stack.forest.credentials.access_token_lifetime = 60  # the first vote refreshes the token
    await stack.start_bot()
    await stack.link("bob")
    stack.forest.credentials.access_token_lifetime = 3600
    _intent, ts = await stack.open_approval()
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"))

    assert len(issued["bob"]) == 2  # the device login's tokens, then the refreshed ones
    [vote] = stack.forest.calls_to("ExternalApproveRelease")
    assert vote.token == issued["bob"][1].access_token
    values = await raw_link_values(stack)
    assert any("link.T0ACME.U0BOB" in key for key in values)
    for key, value in values.items():
        for token in tokens_of(issued, "bob"):
            assert token.encode() not in value, key
        if ".link." in key:
            assert b"forest_username" not in value and b"access_token" not in value


async def test_a_link_copied_under_another_person_does_not_open(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    kv = await stack.nc.jetstream().key_value(LINKS_BUCKET)
    bobs = (await kv.get("link.T0ACME.U0BOB")).value
    await kv.put("link.T0ACME.U0MALLORY", bobs)

    await stack.click("mallory", ts, "approval_approve")
    await wait_until(
        lambda: any(
            "You're not linked to forest yet" in all_text(e)
            for e in stack.slack.ephemerals(CHANNEL, "U0MALLORY")
        )
    )
    await stack.command("mallory", "whoami")
    assert "You're not linked to forest" in stack.last_command_reply
    await asyncio.sleep(0.3)
    assert stack.forest.calls_to("ExternalApproveRelease") == []

    # The value itself is fine where it belongs: Bob's vote goes through.
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"))
    assert [c.actor for c in stack.forest.calls_to("ExternalApproveRelease")] == ["bob"]

    # A value changed by one byte opens for nobody.
    tampered = bytearray(bobs)
    tampered[-1] ^= 1
    await kv.put("link.T0ACME.U0BOB", bytes(tampered))
    await stack.command("bob", "whoami")
    assert "You're not linked to forest" in stack.last_command_reply


async def test_a_new_bot_secret_key_listed_first_unlinks_nobody(stack: LocalStack):
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    bot = await stack.start_bot(BOT_SECRET_KEY=old)
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    await stack.stop_bot(bot)

    # A rolling deploy: the new key seals, the old one still opens.
    bot = await stack.start_bot(BOT_SECRET_KEY=f"{new},{old}")
    await stack.command("bob", "whoami")
    assert "You're linked to forest as *bob*" in stack.last_command_reply
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
    assert [c.actor for c in stack.forest.calls_to("ExternalApproveRelease")] == ["bob"]
    await stack.stop_bot(bot)

    # Reading the link sealed it again with the new key, so the old one can go.
    await stack.start_bot(BOT_SECRET_KEY=new)
    await stack.command("bob", "whoami")
    assert "You're linked to forest as *bob*" in stack.last_command_reply


# Logs


@contextmanager
def captured_logs(secret_filter: SecretFilter) -> Iterator[io.StringIO]:
    """The bot's own logging set up as `approvals-bot run` does, with every library at DEBUG."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    libraries = ("slack_bolt", "slack_sdk", "nats", "aiohttp", "aiohttp.access", "grpc", "asyncio")
    saved_levels = {name: logging.getLogger(name).level for name in libraries}
    buffer = io.StringIO()
    try:
        configure_logging("json", secret_filter, level=logging.DEBUG)
        for name in libraries:
            logging.getLogger(name).setLevel(logging.DEBUG)
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_no_token_or_secret_reaches_a_log_line(stack: LocalStack):
    issued = record_issued_tokens(stack)
    stack.slack.bot_token = "xoxb-" + secrets.token_hex(20)
    stack.slack.app_token = "xapp-1-A0APP-" + secrets.token_hex(20)
    stack.slack.signing_secret = secrets.token_hex(16)
    forest_app_token = stack.forest.issue_app_token(ORGANISATION)
    secret_key = secrets.token_hex(32)
    env = {"FOREST_APP_TOKEN": forest_app_token, "BOT_SECRET_KEY": secret_key}
    socket_env = {**env, "SLACK_APP_TOKEN": stack.slack.app_token}
    secret_filter = SecretFilter()
    for settings in (stack.env(**env), stack.env(**socket_env)):
        secret_filter.add(*load_settings(settings, allow_any_port=True).secrets())

    with captured_logs(secret_filter) as output:
        http_bot = await stack.start_bot(**env)
        for person in ("bob", "carol", "dave", "mallory"):
            if person == "carol":
                stack.forest.credentials.access_token_lifetime = 60  # refreshed before her vote
            await stack.link(person)
            stack.forest.credentials.access_token_lifetime = 3600
        _intent, ts = await stack.open_approval()

        await stack.click("bob", ts, "approval_approve")  # approve
        await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
        await stack.click("carol", ts, "approval_reject")  # reject with a comment, refreshed
        await wait_until(lambda: len(stack.slack.views) == 1)
        await stack.submit("carol", stack.slack.views[0].id, "needs a rollback plan")
        await wait_until(lambda: stack.forest.calls_to("ExternalRejectRelease"))
        await stack.click("mallory", ts, "approval_approve")  # forest refuses a non-member
        await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 2)
        stack.forest.fail_next("ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "reset")
        await stack.click("carol", ts, "approval_approve")  # forest does not answer
        await wait_until(
            lambda: any("NOT" in all_text(e) for e in stack.slack.ephemerals(CHANNEL, "U0CAROL"))
        )

        _dave_intent, dave_ts = await stack.open_approval(author="dave")
        await stack.click("dave", dave_ts, "approval_bypass")  # bypass
        await wait_until(lambda: len(stack.slack.views) == 2)
        await stack.submit("dave", stack.slack.views[1].id, "hotfix for the outage")
        await wait_until(
            lambda: any("(bypass)" in r.text for r in stack.slack.thread(CHANNEL, dave_ts))
        )

        # The same over Socket Mode, where the app token is in use.
        await stack.stop_bot(http_bot)
        await stack.start_bot(**socket_env)
        await stack.slack.wait_socket_connected()
        await stack.command("bob", "whoami")
        stack.forest.revoke_access_tokens("bob")  # forest refuses his token: refreshed, sent again
        await stack.slack.click(CHANNEL, dave_ts, "U0BOB", "approval_approve")
        await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) >= 5)
        await asyncio.sleep(0.3)
        # A careless line anywhere would still be scrubbed of what the settings hold.
        try:
            raise RuntimeError(f"Slack refused {stack.slack.bot_token}")
        except RuntimeError:
            logging.getLogger("slack_sdk.web").exception("with %s", stack.slack.signing_secret)
        logging.getLogger("bot").warning("key", extra={"key": secret_key})
        for handler in logging.getLogger().handlers:
            handler.flush()
        written = output.getvalue()

    assert len(stack.forest.calls_to("RefreshToken")) == 2
    assert any(c.request.force_bypass for c in stack.forest.calls_to("ExternalApproveRelease"))
    lines = written.splitlines()
    assert len(lines) > 100
    assert all(json.loads(line) for line in lines)
    loggers = {json.loads(line)["logger"].split(".")[0] for line in lines}
    assert {"bot", "slack_sdk", "slack_bolt", "grpc", "aiohttp"} <= loggers, loggers

    device_codes = {c.request.device_code for c in stack.forest.calls_to("PollDeviceLogin")}
    never_written = {
        "the bot token": stack.slack.bot_token,
        "the app token": stack.slack.app_token,
        "the signing secret": stack.slack.signing_secret,
        "the forest app token": forest_app_token,
        "BOT_SECRET_KEY": secret_key,
        **{
            f"{kind} forest issued {name} ({index})": getattr(tokens, kind)
            for name in issued
            for index, tokens in enumerate(issued[name])
            for kind in ("access_token", "refresh_token")
        },
        **{f"device code {code[:8]}…": code for code in device_codes},
    }
    assert len(never_written) == 5 + 2 * 6 + 4  # 4 people linked, tokens refreshed twice
    assert written.count("[redacted]") >= 3
    for what, value in never_written.items():
        assert value not in written, f"{what} is in the logs"
