"""What the fake Slack remembers: calls, channels, messages, ephemerals, views, users.

Plain data and the few rules that keep it consistent (thread roots, timestamps, DM ids), so that
tests can assert what people would see in Slack rather than which calls were made.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


class SlackApiFailure(Exception):
    """A Web API method answering `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def to_body(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass(frozen=True)
class SlackIdentity:
    """Who the bot is in the fake workspace, as auth.test reports it."""

    team_id: str = "T0001"
    team_name: str = "acme"
    team_domain: str = "acme"
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    bot_name: str = "approvals"
    app_id: str = "A0APP"


@dataclass
class SlackCall:
    """One Web API request as it arrived, and what the fake answered."""

    method: str
    args: JsonDict
    token: str | None
    at: float
    status: int | None = None
    response: JsonDict | None = None
    # The caller went away while the call hung: it was never carried out, nor answered.
    abandoned: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


@dataclass
class SlackUser:
    id: str
    email: str
    name: str
    real_name: str = ""
    tz: str = "UTC"
    is_bot: bool = False
    deleted: bool = False

    def to_api(self, team_id: str) -> JsonDict:
        real_name = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": real_name,
            "tz": self.tz,
            "is_bot": self.is_bot,
            "is_admin": False,
            "profile": {
                "email": self.email,
                "real_name": real_name,
                "display_name": self.name,
                "team": team_id,
            },
        }


@dataclass
class SlackMessage:
    """A channel message in its current version."""

    channel: str
    ts: str
    text: str
    user: str
    blocks: list[JsonDict] | None = None
    attachments: list[JsonDict] | None = None
    metadata: JsonDict | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    subtype: str | None = None
    files: list[JsonDict] | None = None
    edits: int = 0
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, with_metadata: bool = True) -> JsonDict:
        body: JsonDict = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id:
            body["bot_id"] = self.bot_id
        if self.subtype:
            body["subtype"] = self.subtype
        if self.files is not None:
            body["files"] = copy.deepcopy(self.files)
        if self.blocks is not None:
            body["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments is not None:
            body["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts is not None:
            body["thread_ts"] = self.thread_ts
        if self.edits:
            body["edited"] = {"user": self.user, "ts": self.ts}
        if with_metadata and self.metadata is not None:
            body["metadata"] = copy.deepcopy(self.metadata)
        return body


@dataclass
class SlackEphemeral:
    """A message only `user` sees; it cannot be updated or fetched later."""

    channel: str
    user: str
    text: str
    blocks: list[JsonDict] | None
    message_ts: str
    thread_ts: str | None = None
    via: str = "chat.postEphemeral"
    # Replaced or deleted through the response_url of a click on it, as Slack allows.
    edits: int = 0
    deleted: bool = False


@dataclass
class SlackView:
    """A modal opened with views.open, in its current version."""

    id: str
    view: JsonDict
    trigger_id: str
    hash: str
    user: str | None = None
    updates: int = 0

    def to_api(self, identity: SlackIdentity) -> JsonDict:
        return {
            "id": self.id,
            "team_id": identity.team_id,
            "app_id": identity.app_id,
            "bot_id": identity.bot_id,
            "app_installed_team_id": identity.team_id,
            "root_view_id": self.id,
            "previous_view_id": None,
            "hash": self.hash,
            "callback_id": "",
            "external_id": "",
            "private_metadata": "",
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "state": {"values": {}},
            **copy.deepcopy(self.view),
        }


@dataclass
class ResponseUrlPost:
    """A POST the bot made to a response_url."""

    url_id: str
    body: JsonDict
    at: float
    status: int


@dataclass
class ResponseUrl:
    """Where a response_url points: the person, the channel and the message it came from."""

    id: str
    channel: str | None
    user: str | None
    message_ts: str | None
    created_at: float
    posts: list[ResponseUrlPost] = field(default_factory=list)


def ts_key(ts: str) -> tuple[int, int]:
    """Orders Slack timestamps exactly; floats would merge close ones."""
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int((micros or "0").ljust(6, "0")[:6])


class Clock:
    """Issues unique, increasing message timestamps from the wall clock, as Slack does (a
    message's ts is when it was posted), and ids."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._last_micros = 0
        self._ids: Iterator[int] = itertools.count(1)

    def next_ts(self) -> str:
        micros = max(int(self._now() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"


class SlackWorkspace:
    """Channels, messages and people; the rules that are about state, not about requests."""

    def __init__(self, identity: SlackIdentity, clock: Clock) -> None:
        self.identity = identity
        self.clock = clock
        self.users: dict[str, SlackUser] = {}
        self.dms: dict[str, str] = {}
        self.channel_errors: dict[str, str] = {}
        self.ephemerals: list[SlackEphemeral] = []
        self.views: dict[str, SlackView] = {}
        self.home_views: dict[str, JsonDict] = {}
        self.used_triggers: set[str] = set()
        self.issued_triggers: dict[str, float] = {}
        self.trigger_users: dict[str, str] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.group_dms: dict[frozenset[str], str] = {}
        self.channel_names: dict[str, str] = {}
        self._channels: dict[str, list[SlackMessage]] = {}
        self._reactions: dict[tuple[str, str], list[str]] = {}

    def resolve_channel(self, channel: str | None) -> str:
        """The channel a write goes to; a user id means the app's DM with that person."""
        if not channel:
            raise SlackApiFailure("channel_not_found")
        if channel in self.channel_errors:
            raise SlackApiFailure(self.channel_errors[channel])
        if channel[0] in "UW":
            if channel not in self.users:
                raise SlackApiFailure("channel_not_found")
            return self.open_dm(channel)
        return channel

    def open_dm(self, user_id: str) -> str:
        if user_id not in self.users:
            raise SlackApiFailure("user_not_found")
        if user_id not in self.dms:
            self.dms[user_id] = "D" + self.clock.next_id("")
        return self.dms[user_id]

    def user(self, user_id: str | None) -> SlackUser:
        if not user_id or user_id not in self.users:
            raise SlackApiFailure("user_not_found")
        return self.users[user_id]

    def add_message(self, message: SlackMessage) -> SlackMessage:
        if message.thread_ts is not None:
            message.thread_ts = self.thread_root(message.channel, message.thread_ts).ts
        self._channels.setdefault(message.channel, []).append(message)
        return message

    def add_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[JsonDict] | None,
        thread_ts: str | None,
        via: str,
    ) -> SlackEphemeral:
        """A message only ``user`` sees, shown now."""
        ephemeral = SlackEphemeral(
            channel, user, text, blocks, self.clock.next_ts(), thread_ts or None, via
        )
        self.ephemerals.append(ephemeral)
        return ephemeral

    def find(self, channel: str, ts: str | None) -> SlackMessage:
        for message in self._channels.get(channel, []):
            if message.ts == ts and not message.deleted:
                return message
        raise SlackApiFailure("message_not_found")

    def thread_root(self, channel: str, ts: str) -> SlackMessage:
        """The top of the thread `ts` belongs to: a reply's thread_ts points at it."""
        try:
            message = self.find(channel, ts)
        except SlackApiFailure:
            raise SlackApiFailure("thread_not_found") from None
        if message.is_reply and message.thread_ts is not None:
            return self.find(channel, message.thread_ts)
        return message

    def top_level(self, channel: str) -> list[SlackMessage]:
        return [m for m in self._channels.get(channel, []) if not m.deleted and not m.is_reply]

    def replies(self, channel: str, ts: str) -> list[SlackMessage]:
        return [
            m
            for m in self._channels.get(channel, [])
            if not m.deleted and m.is_reply and m.thread_ts == ts
        ]

    def render(self, message: SlackMessage, *, with_metadata: bool = True) -> JsonDict:
        """The message as Slack's read methods return it, with its thread summary."""
        body = message.to_api(with_metadata=with_metadata)
        replies = [] if message.is_reply else self.replies(message.channel, message.ts)
        if replies:
            body["thread_ts"] = message.ts
            body["reply_count"] = len(replies)
            body["reply_users"] = sorted({r.user for r in replies})
            body["latest_reply"] = replies[-1].ts
        names = self._reactions.get((message.channel, message.ts), [])
        if names:
            bot = self.identity.bot_user_id
            body["reactions"] = [{"name": n, "users": [bot], "count": 1} for n in names]
        return body

    def react(self, channel: str, ts: str, name: str) -> None:
        self.find(channel, ts)
        names = self._reactions.setdefault((channel, ts), [])
        if name in names:
            raise SlackApiFailure("already_reacted")
        names.append(name)

    def reactions(self, channel: str, ts: str) -> list[str]:
        return list(self._reactions.get((channel, ts), []))

    def channels(self) -> list[str]:
        return list(self._channels)
