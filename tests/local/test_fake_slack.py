"""The fake Slack answers slack_sdk and Bolt the way Slack does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.local.fake_slack import FakeSlack
from bot.local.slack_signing import (
    block_action_body,
    event_callback_body,
    post_signed,
    sign,
    slash_command_body,
    slash_command_payload,
    view_submission_body,
)

CHANNEL = "C0RELEASES"


def vote_blocks(text: str = "payments-api → production needs 2 approvals") -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": text}},
        {
            "type": "actions",
            "block_id": "vote",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "action_id": "approve",
                    "value": "intent-1",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "action_id": "reject",
                    "value": "intent-1",
                },
            ],
        },
    ]


REJECT_MODAL = {
    "type": "modal",
    "callback_id": "reject",
    "private_metadata": "intent-1",
    "title": {"type": "plain_text", "text": "Reject release"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "blocks": [
        {
            "type": "input",
            "block_id": "why",
            "label": {"type": "plain_text", "text": "Why?"},
            "element": {"type": "plain_text_input", "action_id": "why", "multiline": True},
        }
    ],
}


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as running:
        yield running


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def button_with_text(text: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": "a"}


async def error_of(call: Any) -> str:
    return (await slack_error(call)).response["error"]


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_post_update_and_reply_are_what_people_see(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "approval_requested", "event_payload": {"intent": "intent-1"}}
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="needs approval", blocks=vote_blocks(), metadata=metadata
    )
    ts = posted["ts"]
    await client.chat_update(
        channel=CHANNEL, ts=ts, text="approved", blocks=vote_blocks("approved")[:1]
    )
    reply = await client.chat_postMessage(channel=CHANNEL, thread_ts=ts, text="✅ <@U1> approved")

    assert [m.ts for m in fake.messages(CHANNEL)] == [ts]
    shown = fake.message(CHANNEL, ts)
    assert shown.text == "approved"
    assert shown.blocks == vote_blocks("approved")[:1]
    assert shown.metadata == metadata
    assert shown.edits == 1
    assert [m.text for m in fake.thread(CHANNEL, ts)] == ["✅ <@U1> approved"]
    assert reply["ts"] > ts
    assert fake.calls_to("chat.update")[0].token == fake.bot_token


async def test_update_with_text_only_drops_the_blocks(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=vote_blocks())

    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="only text")

    assert fake.message(CHANNEL, posted["ts"]).blocks is None


async def test_update_of_an_unknown_message_is_refused(client: AsyncWebClient) -> None:
    error = await error_of(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))

    assert error == "message_not_found"


async def test_history_is_newest_first_with_metadata_on_request(client: AsyncWebClient) -> None:
    metadata = {"event_type": "approval_requested", "event_payload": {"intent": "intent-1"}}
    first = await client.chat_postMessage(channel=CHANNEL, text="one", metadata=metadata)
    second = await client.chat_postMessage(channel=CHANNEL, text="two")
    await client.chat_postMessage(channel=CHANNEL, thread_ts=first["ts"], text="reply")

    with_metadata = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    without = await client.conversations_history(channel=CHANNEL, oldest=first["ts"])
    replies = await client.conversations_replies(channel=CHANNEL, ts=first["ts"])

    assert [m["ts"] for m in with_metadata["messages"]] == [second["ts"], first["ts"]]
    assert with_metadata["messages"][1]["metadata"] == metadata
    assert with_metadata["messages"][1]["reply_count"] == 1
    assert [m["text"] for m in without["messages"]] == ["two"]
    assert "metadata" not in without["messages"][0]
    assert [m["text"] for m in replies["messages"]] == ["one", "reply"]


async def test_form_encoded_arguments_are_decoded(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.api_call(
        "chat.postMessage",
        data={"channel": CHANNEL, "text": "form", "blocks": json.dumps(vote_blocks())},
    )

    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == vote_blocks()
    assert fake.messages(CHANNEL)[0].blocks == vote_blocks()


async def test_ephemeral_reaches_only_its_person(fake: FakeSlack, client: AsyncWebClient) -> None:
    sent = await client.chat_postEphemeral(
        channel=CHANNEL, user="U1", text="You can't approve your own release."
    )

    assert sent["message_ts"]
    assert [e.text for e in fake.ephemerals(user="U1")] == ["You can't approve your own release."]
    assert fake.ephemerals(user="U2") == []
    assert fake.messages(CHANNEL) == []


async def test_people_are_found_by_email(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U1", "alice@example.com", "alice", tz="Europe/Berlin")

    found = await client.users_lookupByEmail(email="alice@example.com")
    info = await client.users_info(user="U1")
    missing = await error_of(client.users_lookupByEmail(email="bob@example.com"))

    assert found["user"]["id"] == "U1"
    assert found["user"]["profile"]["email"] == "alice@example.com"
    assert info["user"]["tz"] == "Europe/Berlin"
    assert missing == "users_not_found"


async def test_a_reaction_is_added_once(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="t")

    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="rocket")
    again = await error_of(
        client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="rocket")
    )

    assert fake.reactions(CHANNEL, posted["ts"]) == ["rocket"]
    assert again == "already_reacted"


async def test_direct_messages_go_to_the_dm_channel(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_user("U1", "alice@example.com", "alice")

    opened = await client.conversations_open(users="U1")
    posted = await client.chat_postMessage(channel="U1", text="Link your forest account")

    dm = opened["channel"]["id"]
    assert dm.startswith("D")
    assert fake.dms == {"U1": dm}
    assert posted["channel"] == dm
    assert [m.text for m in fake.dm_messages("U1")] == ["Link your forest account"]


async def test_rate_limit_retry_after_is_honoured(fake: FakeSlack) -> None:
    client = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.fail_next("chat.postMessage", status=429, retry_after=1)

    posted = await client.chat_postMessage(channel=CHANNEL, text="t")

    first, second = fake.calls_to("chat.postMessage")
    assert (first.status, first.error) == (429, "ratelimited")
    assert second.ok
    assert second.at - first.at >= 1.0
    assert [m.ts for m in fake.messages(CHANNEL)] == [posted["ts"]]


async def test_server_errors_fail_then_recover(fake: FakeSlack) -> None:
    plain = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    retrying = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)],
    )
    fake.fail_next("chat.update", status=503)
    fake.fail_next("chat.postMessage", status=500)

    error = await slack_error(plain.chat_update(channel=CHANNEL, ts="1.1", text="x"))
    posted = await retrying.chat_postMessage(channel=CHANNEL, text="t")

    assert error.response.status_code == 503
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [500, 200]
    assert fake.messages(CHANNEL)[0].ts == posted["ts"]


async def test_a_delay_keeps_the_call_pending(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.delay("chat.postMessage", 0.3)
    started = time.monotonic()

    await client.chat_postMessage(channel=CHANNEL, text="slow")

    assert time.monotonic() - started >= 0.3
    assert len(fake.messages(CHANNEL)) == 1


@pytest.mark.parametrize(
    ("blocks", "text", "error"),
    [
        ([{**vote_blocks()[1], "elements": [button_with_text("x" * 76)]}], "t", "invalid_blocks"),
        ([{"type": "divider"}] * 51, "t", "invalid_blocks"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "acessory": {}}],
            "t",
            "invalid_blocks",
        ),
        ([{"type": "bogus"}], "t", "invalid_blocks"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "t", "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "t", "invalid_blocks"),
        ([{"type": "section", "fields": [mrkdwn("x" * 2001)]}], "t", "invalid_blocks"),
        ([{"type": "context", "elements": [mrkdwn("x" * 3001)]}], "t", "invalid_blocks"),
        (
            [{"type": "actions", "elements": [{**button_with_text("x"), "text": mrkdwn("x")}]}],
            "t",
            "invalid_blocks",
        ),
        ([{"type": "section", "block_id": "b" * 256, "text": mrkdwn("x")}], "t", "invalid_blocks"),
        ([{"type": "section", "text": mrkdwn("x" * 2500)}] * 5, "t", "msg_blocks_too_long"),
        (None, "x" * 4001, "msg_too_long"),
        (None, "", "no_text"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
async def test_what_slack_refuses_is_refused(
    fake: FakeSlack,
    client: AsyncWebClient,
    blocks: list[dict[str, Any]] | None,
    text: str,
    error: str,
) -> None:
    refused = await error_of(client.chat_postMessage(channel=CHANNEL, text=text, blocks=blocks))

    assert refused == error
    assert fake.messages(CHANNEL) == []


async def test_blocks_within_every_limit_and_the_total_are_accepted(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    # Four sections of 2,900 characters: each within its 3,000, all within about 12,000.
    blocks = [{"type": "section", "text": {**mrkdwn("x" * 2900), "verbatim": True}}] * 4
    await client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)
    posted = fake.messages(CHANNEL)[0]

    refused = await error_of(
        client.chat_update(channel=CHANNEL, ts=posted.ts, text="t", blocks=blocks * 2)
    )

    assert refused == "msg_blocks_too_long"
    assert fake.message(CHANNEL, posted.ts).blocks == blocks


async def test_typed_text_arrives_in_slacks_wire_encoding(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE", "alice@example.com", "alice")
    fake.add_channel("C0OPS", "ops")
    root = fake.add_message(CHANNEL, "release notes", "U0ALICE")
    typed = (
        "reject perf & load <p99>, see https://ci.example/run/1."
        " [logs](https://ci.example/l?a=1&b=2) cc @alice #ops @here @nobody"
    )

    message, event = fake.person_writes(CHANNEL, "U0BOB", typed, root.ts)

    wire = (
        "reject perf &amp; load &lt;p99&gt;, see <https://ci.example/run/1>."
        " <https://ci.example/l?a=1&amp;b=2|logs> cc <@U0ALICE> <#C0OPS|ops> <!here> @nobody"
    )
    assert event["text"] == message.text == wire
    assert (event["type"], event["user"], event["ts"]) == ("message", "U0BOB", message.ts)
    assert (event["thread_ts"], event["parent_user_id"]) == (root.ts, "U0ALICE")
    assert "subtype" not in event
    [rich] = event["blocks"]
    elements = rich["elements"][0]["elements"]
    assert rich["type"] == "rich_text"
    assert {"type": "user", "user_id": "U0ALICE"} in elements
    assert {"type": "link", "url": "https://ci.example/l?a=1&b=2", "text": "logs"} in elements
    assert elements[0] == {"type": "text", "text": "reject perf & load <p99>, see "}
    assert fake.thread(CHANNEL, root.ts) == [message]


async def test_a_slash_commands_text_arrives_as_slack_sends_it(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE", "alice@example.com", "alice")
    fake.add_channel("C0OPS", "ops")
    typed = "reject perf & load <p99>, see https://ci.example/run/1 cc @alice #ops @here"

    # The command's "Escape channels, users, and links sent to your app" off (the manifest's).
    assert fake.command_text(typed) == (
        "reject perf &amp; load &lt;p99&gt;, see https://ci.example/run/1 cc @alice #ops @here"
    )
    fake.escape_commands = True
    assert fake.command_text(typed) == (
        "reject perf &amp; load &lt;p99&gt;, see <https://ci.example/run/1>"
        " cc <@U0ALICE|alice> <#C0OPS|ops> <!here>"
    )


async def test_broadcast_and_file_replies_are_shaped_like_slacks(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE", "alice@example.com", "alice")
    root = fake.add_message(CHANNEL, "release notes", "U0ALICE")

    _, broadcast = fake.person_writes(CHANNEL, "U0BOB", "approve ship it", root.ts, broadcast=True)
    _, with_file = fake.person_writes(CHANNEL, "U0BOB", "approve", root.ts, files=["p99.png"])

    assert broadcast["subtype"] == "thread_broadcast"
    assert broadcast["thread_ts"] == root.ts
    assert broadcast["root"]["ts"] == root.ts
    assert broadcast["root"]["reply_count"] == 1
    assert with_file["subtype"] == "file_share"
    assert with_file["thread_ts"] == root.ts
    [shared] = with_file["files"]
    assert (shared["name"], shared["mimetype"], shared["user"]) == ("p99.png", "image/png", "U0BOB")
    assert with_file["upload"] is False
    with pytest.raises(ValueError, match="thread reply"):
        fake.person_writes(CHANNEL, "U0BOB", "approve", broadcast=True)


async def test_people_read_mrkdwn_as_slack_renders_it(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE", "alice@example.com", "alice")
    posted = (
        "❌ <@U0ALICE> rejected: perf &amp; load &lt;p99&gt; <https://x.example/1|run 1> <!here>"
    )

    assert fake.as_seen(posted) == "❌ @alice rejected: perf & load <p99> run 1 @here"
    assert fake.as_seen("double &amp;amp; escaped") == "double &amp; escaped"
    # A literal "<reason>" is read as a link by Slack: the brackets are gone.
    assert fake.as_seen("reply `reject <reason>`") == "reply `reject reason`"
    assert fake.as_seen("reply `reject &lt;reason&gt;`") == "reply `reject <reason>`"


async def test_tokens_and_channels_are_checked(fake: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    none = AsyncWebClient(base_url=fake.api_url)
    app_level = AsyncWebClient(token=fake.app_token, base_url=fake.api_url)
    good = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    fake.set_channel_error("C0PRIVATE", "not_in_channel")

    errors = [
        await error_of(wrong.auth_test()),
        await error_of(none.auth_test()),
        await error_of(app_level.chat_postMessage(channel=CHANNEL, text="t")),
        await error_of(good.chat_postMessage(channel="C0PRIVATE", text="t")),
        await error_of(good.apps_connections_open(app_token=fake.bot_token)),
        await error_of(good.conversations_history(channel=CHANNEL, limit="many")),
    ]
    me = await good.auth_test()

    assert errors == [
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "not_in_channel",
        "not_allowed_token_type",
        "invalid_arguments",
    ]
    assert (me["team_id"], me["user_id"], me["bot_id"]) == ("T0001", "U0BOT", "B0BOT")


async def test_a_trigger_opens_one_modal(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger_id = fake.new_trigger_id("U1")

    opened = await client.views_open(trigger_id=trigger_id, view=REJECT_MODAL)
    again = await error_of(client.views_open(trigger_id=trigger_id, view=REJECT_MODAL))
    updated_view = {**REJECT_MODAL, "title": {"type": "plain_text", "text": "Rejected"}}
    await client.views_update(view_id=opened["view"]["id"], view=updated_view)
    await client.views_publish(user_id="U1", view={"type": "home", "blocks": vote_blocks()[:1]})

    assert again == "exchanged_trigger_id"
    (view,) = fake.views
    assert (view.user, view.view["title"]["text"], view.updates) == ("U1", "Rejected", 1)
    assert fake.home_view("U1") == {"type": "home", "blocks": vote_blocks()[:1]}


async def test_an_invalid_modal_is_refused(fake: FakeSlack, client: AsyncWebClient) -> None:
    long_title = {**REJECT_MODAL, "title": {"type": "plain_text", "text": "x" * 25}}

    refused = await error_of(client.views_open(trigger_id=fake.new_trigger_id(), view=long_title))

    assert refused == "invalid_arguments"
    assert fake.views == []


async def test_response_url_behaves_like_slacks(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=vote_blocks())
    url = fake.new_response_url(CHANNEL, "U1", posted["ts"])
    webhook = AsyncWebhookClient(url)

    private = await webhook.send(text="Only org admins can bypass.")
    replaced = await webhook.send(
        text="approved", blocks=vote_blocks("approved")[:1], replace_original=True
    )
    public = await webhook.send(text="for everyone", response_type="in_channel")
    await webhook.send(text="4")
    await webhook.send(text="5")
    sixth = await webhook.send(text="6")

    assert [private.status_code, replaced.status_code, public.status_code] == [200, 200, 200]
    assert sixth.status_code == 404
    assert fake.ephemerals(CHANNEL, "U1")[0].text == "Only org admins can bypass."
    assert fake.message(CHANNEL, posted["ts"]).text == "approved"
    assert [m.text for m in fake.messages(CHANNEL)] == ["approved", "for everyone"]
    assert len(fake.responses(url)) == 6


async def test_wait_for_names_the_calls_it_saw(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="t")

    with pytest.raises(AssertionError, match=r"chat\.postMessage .*-> ok"):
        await fake.wait_for("chat.update", timeout=0.2)


async def test_wait_for_returns_when_the_call_is_answered(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.delay("chat.postMessage", 0.2)
    posting = asyncio.ensure_future(client.chat_postMessage(channel=CHANNEL, text="late"))

    calls = await fake.wait_for("chat.postMessage", ok=True)

    await posting
    assert calls[0].response is not None
    assert fake.messages(CHANNEL)[0].text == "late"


# Socket Mode with a real Bolt app


@pytest_asyncio.fixture
async def bolt_socket(fake: FakeSlack) -> AsyncIterator[AsyncApp]:
    app = AsyncApp(
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        signing_secret=fake.signing_secret,
    )
    handler = AsyncSocketModeHandler(
        app, fake.app_token, web_client=AsyncWebClient(base_url=fake.api_url)
    )
    await handler.connect_async()
    await fake.wait_socket_connected()
    yield app
    await handler.close_async()


async def test_bolt_over_socket_mode_handles_a_click(
    fake: FakeSlack, client: AsyncWebClient, bolt_socket: AsyncApp
) -> None:
    @bolt_socket.action("approve")
    async def approve(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(
            channel=body["channel"]["id"],
            thread_ts=body["container"]["message_ts"],
            text=f"✅ <@{body['user']['id']}> approved ({body['actions'][0]['value']})",
        )

    posted = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=vote_blocks())

    ack = await fake.click(CHANNEL, posted["ts"], "U1", "approve")
    await fake.wait_for(lambda c: c.args.get("thread_ts") == posted["ts"])

    assert ack is None
    assert [m.text for m in fake.thread(CHANNEL, posted["ts"])] == ["✅ <@U1> approved (intent-1)"]
    assert fake.socket_acks[-1] == {"envelope_id": fake.socket_envelopes[-1]["envelope_id"]}
    assert fake.socket_connections == 1


async def test_a_button_not_on_the_message_cannot_be_clicked(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="done")

    with pytest.raises(AssertionError, match="no button 'approve'"):
        fake.click_payload(CHANNEL, posted["ts"], "U1", "approve")


async def test_bolt_over_socket_mode_opens_and_submits_a_modal(
    fake: FakeSlack, client: AsyncWebClient, bolt_socket: AsyncApp
) -> None:
    reasons: list[str] = []

    @bolt_socket.action("reject")
    async def reject(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=REJECT_MODAL)

    @bolt_socket.view("reject")
    async def submitted(ack: Any, view: dict[str, Any]) -> None:
        reason = view["state"]["values"]["why"]["why"]["value"]
        if len(reason) < 5:
            await ack(response_action="errors", errors={"why": "Say a bit more."})
            return
        reasons.append(reason)
        await ack()

    posted = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=vote_blocks())
    await fake.click(CHANNEL, posted["ts"], "U1", "reject")
    await fake.wait_for("views.open", ok=True)
    view_id = fake.views[0].id

    too_short = await fake.submit_view(view_id, "U1", {"why": {"why": "no"}})
    accepted = await fake.submit_view(view_id, "U1", {"why": {"why": "needs load testing"}})

    assert fake.views[0].user == "U1"
    assert too_short == {"response_action": "errors", "errors": {"why": "Say a bit more."}}
    assert accepted is None
    assert reasons == ["needs load testing"]


async def test_a_slash_command_ack_carries_the_answer(
    fake: FakeSlack, bolt_socket: AsyncApp
) -> None:
    @bolt_socket.command("/approvals")
    async def approvals(ack: Any, command: dict[str, str]) -> None:
        await ack(f"Nothing waiting for <@{command['user_id']}>.")

    payload = slash_command_payload(
        "T0001", "U1", "/approvals", "", fake.new_response_url(CHANNEL, "U1"), None, CHANNEL
    )
    ack = await fake.socket_send("slash_commands", payload, accepts_response_payload=True)

    assert ack == {"text": "Nothing waiting for <@U1>."}


async def test_an_envelope_nobody_handles_is_never_acked(
    fake: FakeSlack, client: AsyncWebClient, bolt_socket: AsyncApp
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=vote_blocks())
    payload = fake.click_payload(CHANNEL, posted["ts"], "U1", "approve")

    with pytest.raises(AssertionError, match="no ack for interactive envelope"):
        await fake.socket_send("interactive", payload, timeout=0.5)


async def test_socket_mode_client_reconnects_on_disconnect(
    fake: FakeSlack, bolt_socket: AsyncApp
) -> None:
    await fake.socket_disconnect()

    await fake.wait_for("apps.connections.open", count=2)
    await fake.wait_socket_connected(connects=2)

    assert fake.socket_connects == 2


# Signed HTTP requests


def test_sign_verifies_with_slack_sdk() -> None:
    body = b"payload=%7B%7D"
    now = int(time.time())

    headers = sign("secret", body, now)

    verifier = SignatureVerifier("secret")
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert headers["X-Slack-Request-Timestamp"] == str(now)


@pytest_asyncio.fixture
async def bolt_http(fake: FakeSlack) -> AsyncIterator[tuple[AsyncApp, str]]:
    app = AsyncApp(
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        signing_secret=fake.signing_secret,
    )
    server = TestServer(app.web_app(), host="127.0.0.1")
    await server.start_server()
    yield app, str(server.make_url("/slack/events"))
    await server.close()


async def test_bolt_in_http_mode_accepts_the_built_bodies(
    fake: FakeSlack, bolt_http: tuple[AsyncApp, str]
) -> None:
    app, url = bolt_http
    seen: list[str] = []
    all_seen = asyncio.Event()

    def note(what: str) -> None:
        seen.append(what)
        if len(seen) == 5:
            all_seen.set()

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], context: Any) -> None:
        note(f"click {context.user_id} {context.channel_id} {body['actions'][0]['value']}")
        await ack()

    @app.view("reject")
    async def submitted(ack: Any, view: dict[str, Any]) -> None:
        note(f"reason {view['state']['values']['why']['why']['value']}")
        await ack()

    @app.command("/approvals")
    async def approvals(ack: Any, command: dict[str, str]) -> None:
        note(f"command {command['text']}")
        await ack()

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any]) -> None:
        note(f"mention {event['text']}")

    secret, response_url = fake.signing_secret, fake.new_response_url(CHANNEL, "U1")
    bodies = [
        block_action_body("T0001", "U1", CHANNEL, "1700000000.000100", "approve", "intent-1"),
        view_submission_body("T0001", "U1", REJECT_MODAL, {"why": {"why": "flaky"}}),
        slash_command_body("T0001", "U1", "/approvals", "list", response_url, None, CHANNEL),
        event_callback_body(
            "T0001",
            {
                "type": "app_mention",
                "user": "U1",
                "text": "hi",
                "channel": CHANNEL,
                "ts": "1700000000.000200",
                "event_ts": "1700000000.000200",
            },
        ),
    ]
    statuses = [(await post_signed(None, url, body, secret)).status for body in bodies]
    tampered = await post_signed(None, url, bodies[0], "wrong-secret")
    retried = await post_signed(None, url, bodies[3], secret, retry_num=1)
    await asyncio.wait_for(all_seen.wait(), 5)

    assert statuses == [200, 200, 200, 200]
    assert tampered.status == 401
    assert retried.status == 200
    assert sorted(seen) == sorted(
        [f"click U1 {CHANNEL} intent-1", "reason flaky", "command list", "mention hi", "mention hi"]
    )


async def test_edits_and_deletions_wrap_the_message_as_slack_does(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE", "alice@example.com", "alice")
    root = fake.add_message(CHANNEL, "release notes", "U0ALICE")
    reply, _ = fake.person_writes(CHANNEL, "U0BOB", "looks good", root.ts)

    changed = fake.person_edits(CHANNEL, reply.ts, "approve looks good & ready")
    deleted = fake.person_deletes(CHANNEL, reply.ts)

    assert (changed["subtype"], changed["hidden"]) == ("message_changed", True)
    assert changed["message"]["ts"] == reply.ts
    assert changed["message"]["text"] == "approve looks good &amp; ready"
    assert changed["message"]["thread_ts"] == root.ts
    assert changed["message"]["edited"]["user"] == "U0BOB"
    assert changed["previous_message"]["text"] == "looks good"
    assert changed["ts"] != reply.ts
    assert (deleted["subtype"], deleted["deleted_ts"]) == ("message_deleted", reply.ts)
    assert deleted["previous_message"]["text"] == "approve looks good &amp; ready"
    assert fake.thread(CHANNEL, root.ts) == []
