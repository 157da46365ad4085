"""Only Slack's own, fresh, signed requests from our workspace reach a listener; anything else is
refused before a handler runs, and then forest hears nothing and Slack shows nothing."""

import asyncio
import hashlib
import hmac
import time
from urllib.parse import urlencode

from tests_support import wait_until

from bot.local.local_stack import CHANNEL, LocalStack
from bot.local.slack_signing import (
    Delivery,
    event_callback_body,
    form_payload,
    slash_command_body,
)

OTHER_TEAM = "T0OTHER"
VOTES = ("ExternalApproveRelease", "ExternalRejectRelease")


async def open_approval(stack: LocalStack) -> str:
    """Bob is linked, so any request that got through would cast his vote; returns the ts."""
    await stack.start_bot()
    await stack.link("bob")
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    return stack.slack.messages(CHANNEL)[0].ts


def signed(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signature over the raw bytes (also bytes that are not UTF-8)."""
    when = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + when.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": when, "X-Slack-Signature": "v0=" + digest.hexdigest()}


async def deliver(
    stack: LocalStack, body: bytes, headers: dict[str, str], content_type: str | None = None
) -> Delivery:
    headers = {
        **headers,
        "Content-Type": content_type
        or ("application/json" if body.startswith(b"{") else "application/x-www-form-urlencoded"),
    }
    async with stack.session.post(
        f"{stack.bot_url()}/slack/events", data=body, headers=headers
    ) as response:
        return Delivery(response.status, await response.text(), dict(response.headers))


class Quiet:
    """What forest and Slack had received when the hostile requests started."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.forest_calls = len(stack.forest.calls)
        self.slack_calls = len(stack.slack.calls)
        self.responses = self.response_posts()
        self.ephemerals = len(stack.slack.ephemerals())

    def response_posts(self) -> int:
        return sum(len(url.posts) for url in self.stack.slack.workspace.response_urls.values())

    async def assert_nothing_happened(self) -> None:
        await asyncio.sleep(0.5)  # a listener that ran would have acted by now
        since = self.stack.forest.calls[self.forest_calls :]
        assert [call.method for call in since] == []
        assert [call.method for call in self.stack.slack.calls[self.slack_calls :]] == []
        assert self.response_posts() == self.responses
        assert all(call.method not in VOTES for call in self.stack.forest.calls)
        assert len(self.stack.slack.ephemerals()) == self.ephemerals


def click_body(stack: LocalStack, ts: str, username: str = "bob") -> bytes:
    user = stack.person(username).slack_user_id
    return form_payload(stack.slack.click_payload(CHANNEL, ts, user, "approval_approve"))


async def the_genuine_click_still_votes(stack: LocalStack, body: bytes) -> None:
    """The same body, properly signed now, is accepted: the refusals were about the signature."""
    delivery = await deliver(stack, body, signed(stack.slack.signing_secret, body))
    assert delivery.status == 200
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 1)
    assert stack.forest.calls_to("ExternalApproveRelease")[0].actor == "bob"


async def test_forged_signatures_are_refused(stack: LocalStack):
    ts = await open_approval(stack)
    quiet = Quiet(stack)
    body = click_body(stack, ts)
    good = signed(stack.slack.signing_secret, body)
    flipped = good["X-Slack-Signature"][:-1] + (
        "0" if good["X-Slack-Signature"][-1] != "0" else "1"
    )
    attempts = {
        "no signature at all": {},
        "a timestamp but no signature": {
            "X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]
        },
        "one hex digit changed": {**good, "X-Slack-Signature": flipped},
        "another scheme": {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]},
        "a wrong signing secret": signed("not-the-signing-secret-0123456789", body),
        "the secret's prefix": signed(stack.slack.signing_secret[:-1], body),
        "a signature of another body": signed(stack.slack.signing_secret, body + b"&x=1"),
    }
    for attempt, headers in attempts.items():
        delivery = await deliver(stack, body, headers)
        assert delivery.status == 401, attempt
    # A body changed after signing: the signature no longer covers it.
    tampered = body.replace(b"U0BOB", b"U0CAROL")
    assert (await deliver(stack, tampered, good)).status == 401
    await quiet.assert_nothing_happened()

    await the_genuine_click_still_votes(stack, body)


async def test_requests_older_than_five_minutes_are_refused(stack: LocalStack):
    ts = await open_approval(stack)
    quiet = Quiet(stack)
    body = click_body(stack, ts)
    now = int(time.time())
    # Slack's rule is |bot's clock - timestamp| > 300 s: a future timestamp must clear it by
    # more than the seconds that pass while these requests go, or it comes within five minutes.
    for when in (now - 301, now - 3600, now - 86400 * 365, now + 330, 0):
        delivery = await deliver(stack, body, signed(stack.slack.signing_secret, body, when))
        assert delivery.status == 401, when
    not_a_number = {**signed(stack.slack.signing_secret, body), "X-Slack-Request-Timestamp": "x"}
    assert (await deliver(stack, body, not_a_number)).status == 401
    await quiet.assert_nothing_happened()

    # A request four minutes old is still Slack's.
    delivery = await deliver(stack, body, signed(stack.slack.signing_secret, body, now - 240))
    assert delivery.status == 200
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 1)


async def test_requests_from_another_workspace_are_refused(stack: LocalStack):
    ts = await open_approval(stack)
    quiet = Quiet(stack)
    secret = stack.slack.signing_secret

    click = stack.slack.click_payload(CHANNEL, ts, "U0BOB", "approval_approve")
    click["team"] = {"id": OTHER_TEAM, "domain": "other"}
    click["user"]["team_id"] = OTHER_TEAM
    body = form_payload(click)
    assert (await deliver(stack, body, signed(secret, body))).status == 403

    logout = slash_command_body(
        OTHER_TEAM, "U0BOB", "/forest", "logout", stack.slack.new_response_url(CHANNEL, "U0BOB")
    )
    assert (await deliver(stack, logout, signed(secret, logout))).status == 403

    reply = stack.slack.add_message(CHANNEL, "approve", "U0BOB", thread_ts=ts)
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "U0BOB",
        "text": "approve",
        "ts": reply.ts,
        "thread_ts": ts,
        "team": OTHER_TEAM,
        "channel_type": "channel",
        "event_ts": reply.ts,
    }
    message = event_callback_body(OTHER_TEAM, event)
    assert (await deliver(stack, message, signed(secret, message))).status == 403
    await quiet.assert_nothing_happened()

    await stack.command("bob", "whoami")
    assert "linked to forest as *bob*" in stack.last_command_reply


async def test_a_modal_submitted_from_another_workspace_votes_nothing(stack: LocalStack):
    ts = await open_approval(stack)
    await stack.click("bob", ts, "approval_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    quiet = Quiet(stack)
    submission = stack.slack.submission_payload(
        stack.slack.views[0].id, "U0BOB", {"reason": {"reason_input": "from elsewhere"}}
    )
    # Slack names the modal's workspace as the installing one; the person is elsewhere.
    submission["team"] = {"id": OTHER_TEAM, "domain": "other"}
    submission["user"]["team_id"] = OTHER_TEAM
    body = form_payload(submission)
    delivery = await deliver(stack, body, signed(stack.slack.signing_secret, body))
    assert delivery.status == 403
    await quiet.assert_nothing_happened()


async def test_bodies_missing_what_slack_always_sends_do_nothing(stack: LocalStack):
    ts = await open_approval(stack)
    quiet = Quiet(stack)
    secret = stack.slack.signing_secret
    click = stack.slack.click_payload(CHANNEL, ts, "U0BOB", "approval_approve")

    def without(*keys: str) -> dict:
        return {key: value for key, value in click.items() if key not in keys}

    no_team_anywhere = without("team")
    no_team_anywhere["user"] = {k: v for k, v in click["user"].items() if k != "team_id"}
    # status: 400 what cannot say who acts or what Bolt cannot read, 404 what no listener takes.
    cases: dict[str, tuple[bytes, int]] = {
        "no user": (form_payload(without("user")), 400),
        "a user without an id": (form_payload({**click, "user": {"name": "bob"}}), 400),
        "a user that is a number": (form_payload({**click, "user": 5}), 400),
        "no team anywhere": (form_payload(no_team_anywhere), 400),
        "no actions": (form_payload(without("actions")), 404),
        "empty actions": (form_payload({**click, "actions": []}), 400),
        "no type": (form_payload(without("type")), 404),
        "a garbage form body": (b"a=b&c&&=%%zz", 404),
        "an empty body": (b"", 404),
        "actions that are not objects": (form_payload({**click, "actions": ["x"]}), 400),
        "a view that is not an object": (form_payload({**click, "view": "x"}), 400),
        "a payload that is not JSON": (urlencode({"payload": "{not json"}).encode(), 400),
        "a payload that is a JSON list": (urlencode({"payload": "[1, 2]"}).encode(), 400),
        "a payload that is a number": (urlencode({"payload": "12"}).encode(), 400),
        "a deeply nested payload": (urlencode({"payload": "[" * 50_000}).encode(), 400),
        "bytes that are not UTF-8": (b"payload=\xff\xfe\x00", 400),
        "a JSON body that is not JSON": (b"{nope", 400),
    }
    for case, (body, status) in cases.items():
        delivery = await deliver(stack, body, signed(secret, body))
        assert delivery.status == status, (case, delivery)

    command = slash_command_body(
        stack.slack.identity.team_id, "", "/forest", "logout", "https://hooks.invalid/x"
    )
    delivery = await deliver(stack, command, signed(secret, command))
    assert delivery.status == 400

    event = {"type": "message", "channel": CHANNEL, "text": "approve", "ts": "2.0", "thread_ts": ts}
    message = event_callback_body(stack.slack.identity.team_id, event)
    assert (await deliver(stack, message, signed(secret, message))).status == 200
    await quiet.assert_nothing_happened()

    # Bob is still linked, and nothing was voted on his behalf.
    await stack.command("bob", "whoami")
    assert "linked to forest as *bob*" in stack.last_command_reply


async def test_unsigned_bodies_are_refused_before_anything_parses_them(stack: LocalStack):
    ts = await open_approval(stack)
    quiet = Quiet(stack)
    now = str(int(time.time()))
    unsigned = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64}
    megabyte_of_json = b'{"type": "block_actions", "padding": "' + b"x" * 1_000_000 + b'"}'
    bodies = {
        # Signed, each of these is a 400 (tests above): unsigned, it is never decoded at all.
        "a megabyte of JSON": megabyte_of_json,
        "a deeply nested payload": urlencode({"payload": "[" * 50_000}).encode(),
        "bytes that are not UTF-8": b"payload=\xff\xfe\x00",
        "a JSON body that is not JSON": b"{nope",
        "a click": click_body(stack, ts),
    }
    for case, body in bodies.items():
        for headers in (unsigned, {"X-Slack-Request-Timestamp": now}, {}):
            delivery = await deliver(stack, body, headers)
            assert delivery.status == 401, (case, headers, delivery)
    await quiet.assert_nothing_happened()


async def test_a_command_from_a_channel_named_payload_is_answered(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    for field in ("channel_name", "team_domain", "user_name"):
        options = {field: "payload-team"}
        command = slash_command_body(
            stack.slack.identity.team_id,
            "U0BOB",
            "/forest",
            "whoami",
            stack.slack.new_response_url(CHANNEL, "U0BOB"),
            **options,
        )
        delivery = await deliver(stack, command, signed(stack.slack.signing_secret, command))
        assert delivery.status == 200, (field, delivery)
        assert "You're linked to forest as *bob*" in delivery.body, field


async def test_a_replayed_click_or_submission_changes_nothing_on_any_replica(stack: LocalStack):
    ts = await open_approval(stack)
    [intent] = [
        c.request.release_intent_id for c in stack.forest.calls_to("GetExternalApprovalState")
    ][:1]
    other_replica = await stack.start_bot()
    secret = stack.slack.signing_secret

    async def send(bot, body: bytes, headers: dict[str, str]) -> int:
        content = {"Content-Type": "application/x-www-form-urlencoded"}
        url = f"{stack.bot_url(bot)}/slack/events"
        async with stack.session.post(url, data=body, headers={**headers, **content}) as reply:
            return reply.status

    # Bob approves; someone captures the signed request.
    approve = click_body(stack, ts)
    approve_headers = signed(secret, approve)
    assert await send(stack.bots[0], approve, approve_headers) == 200
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 1)
    await wait_until(lambda: len(stack.slack.thread(CHANNEL, ts)) == 1)

    # Then he changes his mind and rejects; that submission is captured too.
    await stack.click("bob", ts, "approval_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    submission = form_payload(
        stack.slack.submission_payload(
            stack.slack.views[0].id, "U0BOB", {"reason": {"reason_input": "wrong build"}}
        )
    )
    submission_headers = signed(secret, submission)
    assert await send(stack.bots[0], submission, submission_headers) == 200
    await wait_until(lambda: len(stack.forest.calls_to("ExternalRejectRelease")) == 1)

    # Replayed, byte for byte and within five minutes, to either replica: nothing happens.
    for bot in (stack.bots[0], other_replica):
        assert await send(bot, approve, approve_headers) == 200
        assert await send(bot, submission, submission_headers) == 200
    await asyncio.sleep(0.8)
    assert len(stack.forest.calls_to("ExternalApproveRelease")) == 1
    assert len(stack.forest.calls_to("ExternalRejectRelease")) == 1
    [decision] = stack.forest.approval_state(intent, "production").decisions
    assert (decision.username, decision.decision) == ("bob", "rejected")
