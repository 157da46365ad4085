"""Acting as Slack toward a bot in HTTP mode: signed requests and the exact bodies Slack sends.

Interactivity (buttons, modals) arrives form-encoded as `payload=<json>`, slash commands as plain
form fields, and Events API deliveries as JSON. The `*_payload` builders give the decoded dicts,
which are also what Socket Mode envelopes carry; the `*_body` builders give the raw HTTP bodies.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

JsonDict = dict[str, Any]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
VERIFICATION_TOKEN = "fake-verification-token"


def sign(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    when = str(int(time.time()) if timestamp is None else timestamp)
    verifier = SignatureVerifier(signing_secret)
    signature = verifier.generate_signature(timestamp=when, body=body)
    if signature is None:
        raise ValueError("cannot sign without a signing secret")
    return {"X-Slack-Request-Timestamp": when, "X-Slack-Signature": signature}


def _user(team_id: str, user_id: str, user_name: str | None) -> JsonDict:
    name = user_name or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:32]}"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def block_action_payload(
    team_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str | None = None,
    *,
    block_id: str = "actions",
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0/1/fake",
    thread_ts: str | None = None,
    message: JsonDict | None = None,
    button_text: str = "Button",
    user_name: str | None = None,
    api_app_id: str = "A0APP",
    team_domain: str = "acme",
) -> JsonDict:
    """A click on a message button, as Slack's interactivity payload."""
    action: JsonDict = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": button_text, "emoji": True},
        "action_ts": _action_ts(),
    }
    if value is not None:
        action["value"] = value
    container: JsonDict = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    shown = message or {"type": "message", "ts": message_ts, "text": ""}
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
        shown = {**shown, "thread_ts": thread_ts}
    return {
        "type": "block_actions",
        "user": _user(team_id, user_id, user_name),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": shown,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def block_action_body(
    team_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str | None = None,
    **options: Any,
) -> bytes:
    """The form-encoded HTTP body of a button click. Options as for `block_action_payload`."""
    payload = block_action_payload(
        team_id, user_id, channel_id, message_ts, action_id, value, **options
    )
    return form_payload(payload)


def form_payload(payload: JsonDict) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def view_state(values: dict[str, dict[str, Any]]) -> JsonDict:
    """`{block_id: {action_id: text}}` as a submitted view's state; dict values pass through."""
    return {
        "values": {
            block_id: {
                action_id: value
                if isinstance(value, dict)
                else {"type": "plain_text_input", "value": value}
                for action_id, value in actions.items()
            }
            for block_id, actions in values.items()
        }
    }


def view_submission_payload(
    team_id: str,
    user_id: str,
    view: JsonDict,
    values: dict[str, dict[str, Any]],
    *,
    view_id: str = "V0VIEW",
    trigger_id: str | None = None,
    user_name: str | None = None,
    api_app_id: str = "A0APP",
    bot_id: str = "B0BOT",
    team_domain: str = "acme",
) -> JsonDict:
    """A modal submitted with `values` typed into its inputs."""
    submitted = {
        "id": view_id,
        "team_id": team_id,
        "app_id": api_app_id,
        "bot_id": bot_id,
        "app_installed_team_id": team_id,
        "root_view_id": view_id,
        "previous_view_id": None,
        "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "callback_id": "",
        "external_id": "",
        "private_metadata": "",
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": None,
        **view,
        "state": view_state(values),
    }
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": _user(team_id, user_id, user_name),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_submission_body(
    team_id: str,
    user_id: str,
    view: JsonDict,
    values: dict[str, dict[str, Any]],
    **options: Any,
) -> bytes:
    """The form-encoded HTTP body of a modal submission. Options as for the payload."""
    return form_payload(view_submission_payload(team_id, user_id, view, values, **options))


def slash_command_payload(
    team_id: str,
    user_id: str,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str | None = None,
    channel_id: str = "C0GENERAL",
    *,
    user_name: str | None = None,
    channel_name: str | None = None,
    api_app_id: str = "A0APP",
    team_domain: str = "acme",
) -> dict[str, str]:
    """A slash command's fields; Slack sends every value as a string. ``text`` is in Slack's
    wire encoding (``FakeSlack.command_text`` encodes what a person typed)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name or channel_id.lower(),
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }


def slash_command_body(
    team_id: str,
    user_id: str,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str | None = None,
    channel_id: str = "C0GENERAL",
    **options: Any,
) -> bytes:
    payload = slash_command_payload(
        team_id, user_id, command, text, response_url, trigger_id, channel_id, **options
    )
    return urlencode(payload).encode()


def event_callback_payload(
    team_id: str,
    event: JsonDict,
    event_id: str | None = None,
    event_time: int | None = None,
    *,
    bot_user_id: str = "U0BOT",
    api_app_id: str = "A0APP",
) -> JsonDict:
    """An Events API delivery wrapping `event`."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def event_callback_body(
    team_id: str,
    event: JsonDict,
    event_id: str | None = None,
    event_time: int | None = None,
    **options: Any,
) -> bytes:
    payload = event_callback_payload(team_id, event, event_id, event_time, **options)
    return json.dumps(payload).encode()


def app_rate_limited_body(
    team_id: str, minute_rate_limited: int | None = None, *, api_app_id: str = "A0APP"
) -> bytes:
    """What Slack posts, unasked, when it dropped events for the app: more than 30,000 in an
    hour. ``minute_rate_limited`` is the start of the minute it dropped them in."""
    minute = int(time.time()) // 60 * 60 if minute_rate_limited is None else minute_rate_limited
    payload = {
        "token": VERIFICATION_TOKEN,
        "type": "app_rate_limited",
        "team_id": team_id,
        "minute_rate_limited": minute,
        "api_app_id": api_app_id,
    }
    return json.dumps(payload).encode()


def message_event(
    team_id: str,
    channel_id: str,
    user_id: str,
    text: str,
    ts: str,
    *,
    thread_ts: str | None = None,
    parent_user_id: str | None = None,
    blocks: list[JsonDict] | None = None,
    subtype: str | None = None,
    root: JsonDict | None = None,
    files: list[JsonDict] | None = None,
) -> JsonDict:
    """A person's message as the ``message`` event carries it; ``text`` is in Slack's wire
    encoding already (see :mod:`bot.local.fake_slack_wire`).

    ``subtype`` "thread_broadcast" is a thread reply also sent to the channel (with the thread's
    ``root``); "file_share" a message with ``files`` attached.
    """
    event: JsonDict = {
        "type": "message",
        "text": text,
        "user": user_id,
        "ts": ts,
        "team": team_id,
        "client_msg_id": str(uuid.uuid4()),
    }
    if subtype is not None:
        event["subtype"] = subtype
    if blocks is not None:
        event["blocks"] = blocks
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        if parent_user_id is not None:
            event["parent_user_id"] = parent_user_id
    if root is not None:
        event["root"] = root
    if files is not None:
        event.update(files=files, upload=False, display_as_bot=False)
    event.update(channel=channel_id, event_ts=ts, channel_type="channel")
    return event


_MIMETYPES = {"txt": "text/plain", "log": "text/plain", "text": "text/plain", "png": "image/png"}


def shared_file(name: str, user_id: str, file_id: str | None = None) -> JsonDict:
    """A file as a ``file_share`` message lists it (the fields an app usually reads)."""
    file_id = file_id or f"F{uuid.uuid4().hex[:10].upper()}"
    stem, _, extension = name.rpartition(".")
    filetype = extension.lower() if stem else "text"
    return {
        "id": file_id,
        "created": int(time.time()),
        "timestamp": int(time.time()),
        "name": name,
        "title": name,
        "mimetype": _MIMETYPES.get(filetype, "application/octet-stream"),
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": user_id,
        "mode": "hosted",
        "editable": False,
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "size": 1024,
        "url_private": f"https://files.slack.com/files-pri/T0-{file_id}/{name}",
        "url_private_download": f"https://files.slack.com/files-pri/T0-{file_id}/download/{name}",
        "permalink": f"https://fake.slack.com/files/{user_id}/{file_id}/{name}",
    }


@dataclass(frozen=True)
class Delivery:
    """What the bot answered to a signed request."""

    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


async def post_signed(
    session: aiohttp.ClientSession | None,
    url: str,
    body: bytes,
    signing_secret: str,
    content_type: str | None = None,
    retry_num: int | None = None,
    *,
    retry_reason: str = "http_timeout",
    timestamp: int | None = None,
) -> Delivery:
    """POST `body` to the bot as Slack would; a None session means a one-off session."""
    headers = sign(signing_secret, body, timestamp)
    headers["Content-Type"] = content_type or (JSON if body.lstrip().startswith(b"{") else FORM)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    if session is not None:
        return await _post(session, url, body, headers)
    async with aiohttp.ClientSession() as own_session:
        return await _post(own_session, url, body, headers)


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> Delivery:
    async with session.post(url, data=body, headers=headers) as response:
        text = await response.text()
        return Delivery(response.status, text, dict(response.headers))
