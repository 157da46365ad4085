"""A fake Slack on 127.0.0.1: the Web API, response_urls and Socket Mode, over real HTTP.

Point `AsyncWebClient(token=..., base_url=fake.api_url)` at it. It records every call, keeps
what people would see (messages, threads, ephemerals, modals, reactions), refuses what Slack
refuses (bad tokens, invalid blocks, unknown messages), and can fail on purpose. With
``rate_limits=True`` (or ``fake.rate_limits.enabled = True``) it also answers 429 past Slack's
rate limits (bot/local/fake_slack_limits.py).

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0].text == "hi"
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.local.fake_slack_api import APP_TOKEN_METHODS, FakeWebApi
from bot.local.fake_slack_limits import SlackRateLimits
from bot.local.fake_slack_model import (
    Clock,
    JsonDict,
    ResponseUrl,
    ResponseUrlPost,
    SlackApiFailure,
    SlackCall,
    SlackEphemeral,
    SlackIdentity,
    SlackMessage,
    SlackUser,
    SlackView,
    SlackWorkspace,
)
from bot.local.fake_slack_people import (
    click_payload,
    ephemeral_click_payload,
    submission_payload,
)
from bot.local.fake_slack_socket import ACK_TIMEOUT_SECONDS, SocketModeHub, short_json
from bot.local.fake_slack_wire import (
    as_seen,
    block_texts,
    encode_command,
    encode_typed,
    typed_blocks,
)
from bot.local.slack_signing import message_event, shared_file

__all__ = [
    "FakeSlack",
    "ResponseUrlPost",
    "SlackCall",
    "SlackEphemeral",
    "SlackMessage",
    "SlackUser",
    "SlackView",
]

# Form-encoded calls carry these as JSON strings; tests want to inspect them as objects.
JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
CallMatch = str | Callable[[SlackCall], bool]


@dataclass(frozen=True)
class _Fault:
    status: int
    error: str
    retry_after: int | None


def _default_error(status: int) -> str:
    return "ratelimited" if status == 429 else "internal_error"


class FakeSlack:
    """One fake workspace with one installed app, served on a free local port."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T0001",
        signing_secret: str = "fake-signing-secret",
        *,
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        rate_limits: bool = False,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.identity = SlackIdentity(
            team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id
        )
        self.workspace = SlackWorkspace(self.identity, Clock())
        self.calls: list[SlackCall] = []
        # Slack's per-method and per-channel limits; off unless asked for (``rate_limits``).
        self.rate_limits = SlackRateLimits(enabled=rate_limits)
        # The slash command's "Escape channels, users, and links sent to your app"
        # (``should_escape``); off, as in the bot's manifest.
        self.escape_commands = False
        self._socket = SocketModeHub(app_id)
        self._api = FakeWebApi(self.workspace, self._issue_socket_url)
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._hanging: set[str] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # Lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{url_id}", self._handle_response_url)
        app.router.add_get("/socket-mode", self._socket.handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self._socket.close()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """For `AsyncWebClient(base_url=...)`, which needs the trailing slash."""
        return f"{self.base_url}/api/"

    # Web API

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = SlackCall(method=method, args={}, token=None, at=time.monotonic())
        self.calls.append(call)
        try:
            call.args, call.token = await _read_call(request)
        except ValueError:
            return self._finish(call, 200, {"ok": False, "error": "invalid_json"}, {})
        delay = self._delays.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        while method in self._hanging:
            if request.transport is None or request.transport.is_closing():
                # The caller gave up: the call never reached Slack's workers.
                call.abandoned = True
                self._notify()
                return web.Response(status=504)
            await asyncio.sleep(0.05)
        return self._finish(call, *self._answer(method, call.args, call.token))

    def _finish(
        self, call: SlackCall, status: int, body: JsonDict, headers: dict[str, str]
    ) -> web.Response:
        call.status, call.response = status, body
        self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, args: JsonDict, token: str | None
    ) -> tuple[int, JsonDict, dict[str, str]]:
        fault = self._take_fault(method)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return fault.status, {"ok": False, "error": fault.error}, headers
        try:
            self._authenticate(method, token)
            retry_after = self.rate_limits.admit(method, args)
            if retry_after is not None:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
            return 200, self._api.call(method, args), {}
        except SlackApiFailure as failure:
            return 200, failure.to_body(), {}
        except (TypeError, ValueError) as error:
            # Arguments of the wrong shape (a limit that is not a number, a ts that is no ts).
            return 200, {"ok": False, "error": "invalid_arguments", "detail": str(error)}, {}

    def _authenticate(self, method: str, token: str | None) -> None:
        expected = self.app_token if method in APP_TOKEN_METHODS else self.bot_token
        if not token:
            raise SlackApiFailure("not_authed")
        if token == expected:
            return
        if token in (self.app_token, self.bot_token):
            raise SlackApiFailure("not_allowed_token_type")
        raise SlackApiFailure("invalid_auth")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # Recorded calls

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def rate_limited_calls(self) -> list[SlackCall]:
        """Calls answered 429, whether by the rate limits or by ``fail_next``."""
        return [c for c in self.calls if c.status == 429]

    async def wait_for(
        self,
        match: CallMatch,
        timeout: float = 5.0,
        count: int = 1,
        *,
        ok: bool | None = None,
    ) -> list[SlackCall]:
        """Wait until `count` answered calls match (a method name or a predicate); return them.

        Only answered calls count, so the state a call changed is in place when this returns.
        """
        matches = self._matcher(match, ok)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = [c for c in self.calls if c.response is not None and matches(c)]
                    if len(found) >= count:
                        return found
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(self._wait_failure(match, timeout, count)) from None

    @staticmethod
    def _matcher(match: CallMatch, ok: bool | None) -> Callable[[SlackCall], bool]:
        def matches(call: SlackCall) -> bool:
            if ok is not None and call.ok != ok:
                return False
            return call.method == match if isinstance(match, str) else match(call)

        return matches

    def _wait_failure(self, match: CallMatch, timeout: float, count: int) -> str:
        wanted = match if isinstance(match, str) else getattr(match, "__name__", repr(match))
        seen = "\n".join(
            f"  {c.method} {short_json(c.args, 200)} -> {'ok' if c.ok else (c.error or 'pending')}"
            for c in self.calls
        )
        return (
            f"expected {count} call(s) matching {wanted} within {timeout}s; "
            f"calls seen ({len(self.calls)}):\n{seen or '  (none)'}"
        )

    # What people see

    def messages(self, channel: str) -> list[SlackMessage]:
        """Top-level messages in posting order, each in its current version."""
        return self.workspace.top_level(channel)

    def message(self, channel: str, ts: str) -> SlackMessage:
        try:
            return self.workspace.find(channel, ts)
        except SlackApiFailure:
            shown = [m.ts for m in self.workspace.top_level(channel)]
            raise AssertionError(f"no message {ts} in {channel}; it has {shown}") from None

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """Replies under the message `ts`, oldest first."""
        return self.workspace.replies(channel, ts)

    def ephemerals(
        self, channel: str | None = None, user: str | None = None
    ) -> list[SlackEphemeral]:
        return [
            e
            for e in self.workspace.ephemerals
            if (channel is None or e.channel == channel)
            and (user is None or e.user == user)
            and not e.deleted
        ]

    def reactions(self, channel: str, ts: str) -> list[str]:
        return self.workspace.reactions(channel, ts)

    @property
    def views(self) -> list[SlackView]:
        """Modals opened with views.open, in order, in their current version."""
        return list(self.workspace.views.values())

    def home_view(self, user_id: str) -> JsonDict | None:
        """The App Home last published for `user_id`."""
        return self.workspace.home_views.get(user_id)

    @property
    def dms(self) -> dict[str, str]:
        """Person's user id -> id of the app's DM channel with them."""
        return dict(self.workspace.dms)

    def dm_messages(self, user_id: str) -> list[SlackMessage]:
        channel = self.workspace.dms.get(user_id)
        return [] if channel is None else self.messages(channel)

    # Setting the scene

    def add_user(self, user_id: str, email: str, name: str, **profile: Any) -> SlackUser:
        """A person in the workspace; `profile` takes real_name, tz, is_bot, deleted."""
        user = SlackUser(id=user_id, email=email, name=name, **profile)
        self.workspace.users[user_id] = user
        return user

    def add_message(
        self, channel: str, text: str, user: str, thread_ts: str | None = None
    ) -> SlackMessage:
        """A message a person wrote; the bot cannot update it."""
        message = SlackMessage(
            channel=channel,
            ts=self.workspace.clock.next_ts(),
            text=text,
            user=user,
            thread_ts=thread_ts,
        )
        return self.workspace.add_message(message)

    def add_channel(self, channel: str, name: str) -> None:
        """Name a channel, so that ``#name`` typed by a person becomes ``<#C…|name>``."""
        self.workspace.channel_names[channel] = name

    def person_writes(
        self,
        channel: str,
        user: str,
        typed: str,
        thread_ts: str | None = None,
        *,
        broadcast: bool = False,
        files: list[str] | None = None,
    ) -> tuple[SlackMessage, JsonDict]:
        """``user`` types ``typed`` and sends it; returns the message as Slack keeps it and the
        ``message`` event Slack delivers for it, both in Slack's wire encoding.

        ``broadcast`` is "Also send to channel" on a thread reply (subtype thread_broadcast);
        ``files`` names files attached to it (subtype file_share).
        """
        people = {u.name: u.id for u in self.workspace.users.values() if not u.deleted}
        channels = {name: cid for cid, name in self.workspace.channel_names.items()}
        text = encode_typed(typed, people, channels)
        subtype = "thread_broadcast" if broadcast else ("file_share" if files else None)
        if broadcast and thread_ts is None:
            raise ValueError("only a thread reply can be sent to the channel too")
        ts = self.workspace.clock.next_ts()
        shared = [shared_file(name, user) for name in files or ()]
        message = SlackMessage(
            channel=channel,
            ts=ts,
            text=text,
            user=user,
            blocks=typed_blocks(typed, people, channels, block_id=ts.replace(".", "")[-5:]),
            thread_ts=thread_ts,
            subtype=subtype,
            files=shared or None,
        )
        self.workspace.add_message(message)
        root = None
        if message.thread_ts is not None:
            root = self.workspace.find(channel, message.thread_ts)
        event = message_event(
            self.identity.team_id,
            channel,
            user,
            text,
            ts,
            thread_ts=message.thread_ts,
            parent_user_id=root.user if root is not None else None,
            blocks=message.blocks,
            subtype=subtype,
            root=self.workspace.render(root) if broadcast and root is not None else None,
            files=message.files,
        )
        self._notify()
        return message, event

    def command_text(self, typed: str) -> str:
        """``typed`` after a slash command, in the ``text`` Slack sends the app: entities always,
        and ``<@U…|name>``, ``<#C…|name>``, ``<https://…>`` when ``escape_commands`` is on."""
        people = {u.name: u.id for u in self.workspace.users.values() if not u.deleted}
        channels = {name: cid for cid, name in self.workspace.channel_names.items()}
        return encode_command(typed, people, channels, escaped=self.escape_commands)

    def person_edits(self, channel: str, ts: str, typed: str) -> JsonDict:
        """The author of message ``ts`` edits it to ``typed``; returns the ``message_changed``
        event Slack delivers, which wraps the message as it is now and as it was."""
        message = self.workspace.find(channel, ts)
        before = self.workspace.render(message)
        people = {u.name: u.id for u in self.workspace.users.values() if not u.deleted}
        channels = {name: cid for cid, name in self.workspace.channel_names.items()}
        message.text = encode_typed(typed, people, channels)
        message.blocks = typed_blocks(typed, people, channels)
        message.edits += 1
        now = self.workspace.clock.next_ts()
        after = {**self.workspace.render(message), "edited": {"user": message.user, "ts": now}}
        self._notify()
        return self._hidden_event("message_changed", channel, now, message=after, previous=before)

    def person_deletes(self, channel: str, ts: str) -> JsonDict:
        """The author deletes message ``ts``; returns the ``message_deleted`` event."""
        message = self.workspace.find(channel, ts)
        before = self.workspace.render(message)
        message.deleted = True
        now = self.workspace.clock.next_ts()
        self._notify()
        return self._hidden_event("message_deleted", channel, now, deleted_ts=ts, previous=before)

    def _hidden_event(
        self, subtype: str, channel: str, ts: str, *, previous: JsonDict, **fields: Any
    ) -> JsonDict:
        event: JsonDict = {"type": "message", "subtype": subtype, "hidden": True}
        event.update(fields)
        event.update(
            channel=channel,
            previous_message=previous,
            ts=ts,
            event_ts=ts,
            channel_type="channel",
        )
        return event

    def as_seen(self, mrkdwn: str) -> str:
        """What a person reads where the app posted ``mrkdwn``: entities decoded, mentions shown
        as names, links as their labels."""
        names = {u.id: u.name for u in self.workspace.users.values()}
        return as_seen(mrkdwn, names)

    def seen_texts(self, message: SlackMessage | SlackEphemeral) -> list[str]:
        """Every text of ``message`` as a person reads it: its text, then each text its blocks
        show (plain_text is shown as it is, mrkdwn rendered)."""
        names = {u.id: u.name for u in self.workspace.users.values()}
        return [as_seen(message.text, names), *block_texts(message.blocks, names)]

    def add_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[JsonDict] | None = None,
        *,
        thread_ts: str | None = None,
        via: str = "command_response",
    ) -> SlackEphemeral:
        """A private answer that reached the person without a Web API call, such as the text
        an app puts in its acknowledgement of a slash command."""
        ephemeral = self.workspace.add_ephemeral(channel, user, text, blocks, thread_ts, via)
        self._notify()
        return ephemeral

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """Refuse calls about `channel` with `error` (e.g. "not_in_channel"); None accepts again."""
        if error is None:
            self.workspace.channel_errors.pop(channel, None)
        else:
            self.workspace.channel_errors[channel] = error

    # Faults

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls to `method` with an HTTP error (429 adds Retry-After)."""
        header = retry_after if status == 429 else None
        fault = _Fault(status=status, error=error or _default_error(status), retry_after=header)
        self._faults.setdefault(method, deque()).extend([fault] * times)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    def hang(self, method: str, hanging: bool = True) -> None:
        """Later calls to `method` get no answer until ``hang(method, False)``; a call whose
        caller gave up meanwhile is never carried out (``delay`` carries it out late)."""
        if hanging:
            self._hanging.add(method)
        else:
            self._hanging.discard(method)

    def delay(self, method: str, seconds: float) -> None:
        """Answer every later call to `method` after `seconds`; 0 removes the delay."""
        self._delays[method] = seconds

    # Interactions: trigger ids and response_urls

    def new_trigger_id(self, user: str | None = None) -> str:
        """A trigger_id that, like Slack's, opens one view within 3 seconds."""
        trigger_id = f"{self.workspace.clock.next_id('')}.{int(time.time())}.fake"
        self.workspace.issued_triggers[trigger_id] = time.monotonic()
        if user is not None:
            self.workspace.trigger_users[trigger_id] = user
        return trigger_id

    def new_response_url(
        self, channel: str | None = None, user: str | None = None, message_ts: str | None = None
    ) -> str:
        """A response_url for an interaction by `user` on message `message_ts` in `channel`."""
        url_id = self.workspace.clock.next_id("R")
        self.workspace.response_urls[url_id] = ResponseUrl(
            id=url_id,
            channel=channel,
            user=user,
            message_ts=message_ts,
            created_at=time.monotonic(),
        )
        return f"{self.base_url}/response/{url_id}"

    def responses(self, url_or_id: str) -> list[ResponseUrlPost]:
        url = self.workspace.response_urls.get(url_or_id.rsplit("/", 1)[-1])
        return [] if url is None else list(url.posts)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        url = self.workspace.response_urls.get(request.match_info["url_id"])
        if url is None:
            return web.json_response({"ok": False, "error": "invalid_url"}, status=404)
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        status, answer = self._respond(url, body)
        url.posts.append(ResponseUrlPost(url.id, body, time.monotonic(), status))
        self._notify()
        return web.json_response(answer, status=status)

    def _respond(self, url: ResponseUrl, body: JsonDict) -> tuple[int, JsonDict]:
        try:
            self._api.respond(url, body)
        except SlackApiFailure as failure:
            gone = failure.error in ("used_url", "expired_url")
            return (404 if gone else 400), failure.to_body()
        return 200, {"ok": True}

    # Socket Mode

    def _issue_socket_url(self) -> str:
        ticket = self._socket.issue_ticket()
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return f"{ws_base}/socket-mode?ticket={ticket}&app_id={self.identity.app_id}"

    async def wait_socket_connected(self, timeout: float = 5.0, *, connects: int = 1) -> None:
        """Wait for a live connection, and for `connects` connections in all (reconnects)."""
        await self._socket.wait_connected(timeout, connects)

    @property
    def socket_connections(self) -> int:
        return self._socket.connected

    @property
    def socket_connects(self) -> int:
        """How many Socket Mode connections were ever made; reconnects add one each."""
        return self._socket.connects

    @property
    def socket_envelopes(self) -> list[JsonDict]:
        """Every envelope delivered over Socket Mode, in order."""
        return list(self._socket.sent)

    @property
    def socket_acks(self) -> list[JsonDict]:
        """Every message the Socket Mode clients sent, acks included, in order."""
        return list(self._socket.received)

    async def socket_send(
        self,
        envelope_type: str,
        payload: JsonDict,
        accepts_response_payload: bool = False,
        *,
        timeout: float = ACK_TIMEOUT_SECONDS,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> JsonDict | None:
        """Deliver an envelope and wait for its ack; returns the ack's payload, if any."""
        return await self._socket.send(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            timeout=timeout,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` message: the client should reconnect."""
        await self._socket.disconnect(reason)

    async def socket_drop(self) -> None:
        """Close the websockets abruptly."""
        await self._socket.drop()

    # Acting as a person

    def click_payload(self, channel: str, ts: str, user_id: str, action_id: str) -> JsonDict:
        """The block_actions payload for `user_id` clicking a button on the message as it is."""
        message = self.message(channel, ts)
        return click_payload(
            self.identity,
            message,
            self.workspace.render(message),
            user_id,
            action_id,
            response_url=self.new_response_url(channel, user_id, ts),
            trigger_id=self.new_trigger_id(user_id),
        )

    def ephemeral_click_payload(self, message_ts: str, user_id: str, action_id: str) -> JsonDict:
        """The block_actions payload for `user_id` clicking a button on an ephemeral message
        they were shown."""
        ephemeral = next((e for e in self.workspace.ephemerals if e.message_ts == message_ts), None)
        if ephemeral is None:
            raise AssertionError(f"no ephemeral message {message_ts}")
        return ephemeral_click_payload(
            self.identity,
            ephemeral,
            user_id,
            action_id,
            response_url=self.new_response_url(ephemeral.channel, user_id, ephemeral.message_ts),
            trigger_id=self.new_trigger_id(user_id),
            user_name=person.name if (person := self.workspace.users.get(user_id)) else None,
        )

    async def click(self, channel: str, ts: str, user_id: str, action_id: str) -> JsonDict | None:
        """Click over Socket Mode; returns the ack's payload."""
        payload = self.click_payload(channel, ts, user_id, action_id)
        return await self.socket_send("interactive", payload)

    def submission_payload(
        self, view_id: str, user_id: str, values: dict[str, dict[str, Any]]
    ) -> JsonDict:
        """The view_submission payload for the open modal `view_id` filled with `values`."""
        view = self.workspace.views.get(view_id)
        if view is None:
            opened = list(self.workspace.views)
            raise AssertionError(f"no modal {view_id} was opened; opened: {opened}")
        trigger_id = self.new_trigger_id(user_id)
        return submission_payload(self.identity, view, user_id, values, trigger_id=trigger_id)

    async def submit_view(
        self, view_id: str, user_id: str, values: dict[str, dict[str, Any]]
    ) -> JsonDict | None:
        """Submit over Socket Mode; a `response_action: update` ack replaces the modal."""
        payload = self.submission_payload(view_id, user_id, values)
        ack = await self.socket_send("interactive", payload, accepts_response_payload=True)
        if ack and ack.get("response_action") == "update" and isinstance(ack.get("view"), dict):
            self.workspace.views[view_id].view = ack["view"]
        return ack


async def _read_call(request: web.Request) -> tuple[JsonDict, str | None]:
    """Arguments from the query string and a JSON or form body, and the token."""
    args: JsonDict = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    token = args.pop("token", None)
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth.removeprefix("Bearer ").strip()
    for key in JSON_FIELDS:
        if isinstance(args.get(key), str):
            args[key] = _json_or_text(args[key])
    return args, token


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
