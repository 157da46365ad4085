"""The Web API methods of the fake Slack and the response_url behaviour.

Each method takes the parsed arguments and answers what Slack would: a body with `"ok": true`,
or a `SlackApiFailure` carrying Slack's error code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.local.fake_slack_checks import (
    MESSAGE_BLOCKS_TEXT_LIMIT,
    MESSAGE_TEXT_LIMIT,
    block_problems,
    blocks_text_size,
    metadata_problem,
    view_problems,
)
from bot.local.fake_slack_model import (
    JsonDict,
    ResponseUrl,
    SlackApiFailure,
    SlackEphemeral,
    SlackMessage,
    SlackView,
    SlackWorkspace,
    ts_key,
)

ApiMethod = Callable[[JsonDict], JsonDict]

# Slack's own limits: a trigger_id lives 3 seconds, a response_url 30 minutes and 5 uses.
TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_TTL_SECONDS = 30 * 60
RESPONSE_URL_USES = 5
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


def flag(args: JsonDict, name: str) -> bool:
    """A boolean argument, sent as JSON true or as the form strings "true" / "1"."""
    value = args.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _invalid(error: str, problems: list[str]) -> SlackApiFailure:
    messages = [f"[ERROR] {p}" for p in problems]
    return SlackApiFailure(error, errors=problems, response_metadata={"messages": messages})


def _checked_content(args: JsonDict) -> tuple[str, list[JsonDict] | None]:
    """The text and blocks of a message, refused the way Slack refuses them."""
    text, blocks = args.get("text"), args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackApiFailure("no_text")
    text = "" if text is None else str(text)
    if len(text) > MESSAGE_TEXT_LIMIT:
        raise SlackApiFailure("msg_too_long")
    if blocks is not None:
        problems = block_problems(blocks)
        if problems:
            raise _invalid("invalid_blocks", problems)
        if blocks_text_size(blocks) > MESSAGE_BLOCKS_TEXT_LIMIT:
            raise SlackApiFailure("msg_blocks_too_long")
    problem = metadata_problem(args.get("metadata"))
    if problem:
        raise _invalid("invalid_metadata_format", [problem])
    return text, blocks


def _page(items: list[Any], args: JsonDict, default_limit: int = 100) -> tuple[list[Any], JsonDict]:
    """One page of `items`; the cursor is the offset, which Slack keeps opaque anyway."""
    start = int(args.get("cursor") or 0)
    limit = int(args.get("limit") or default_limit)
    page = items[start : start + limit]
    more = start + limit < len(items)
    meta = {"next_cursor": str(start + limit) if more else ""}
    return page, {"has_more": more, "response_metadata": meta}


class FakeWebApi:
    """Slack's Web API methods over a `SlackWorkspace`."""

    def __init__(self, workspace: SlackWorkspace, socket_url: Callable[[], str]) -> None:
        self.ws = workspace
        self._socket_url = socket_url
        self.methods: dict[str, ApiMethod] = {
            "auth.test": self.auth_test,
            "apps.connections.open": self.apps_connections_open,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "users.lookupByEmail": self.users_lookup_by_email,
            "users.info": self.users_info,
            "reactions.add": self.reactions_add,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
        }

    def call(self, method: str, args: JsonDict) -> JsonDict:
        handler = self.methods.get(method)
        if handler is None:
            raise SlackApiFailure("unknown_method")
        return {"ok": True, **handler(args)}

    def auth_test(self, args: JsonDict) -> JsonDict:
        me = self.ws.identity
        return {
            "url": f"https://{me.team_domain}.slack.com/",
            "team": me.team_name,
            "user": me.bot_name,
            "team_id": me.team_id,
            "user_id": me.bot_user_id,
            "bot_id": me.bot_id,
            "app_id": me.app_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, args: JsonDict) -> JsonDict:
        return {"url": self._socket_url()}

    def _check_channel(self, channel: Any) -> str:
        if not channel or not isinstance(channel, str):
            raise SlackApiFailure("channel_not_found")
        if channel in self.ws.channel_errors:
            raise SlackApiFailure(self.ws.channel_errors[channel])
        return channel

    def chat_post_message(self, args: JsonDict) -> JsonDict:
        channel = self.ws.resolve_channel(args.get("channel"))
        text, blocks = _checked_content(args)
        me = self.ws.identity
        message = SlackMessage(
            channel=channel,
            ts=self.ws.clock.next_ts(),
            text=text,
            user=me.bot_user_id,
            bot_id=me.bot_id,
            blocks=blocks,
            attachments=args.get("attachments"),
            metadata=args.get("metadata"),
            thread_ts=args.get("thread_ts") or None,
        )
        self.ws.add_message(message)
        return {"channel": channel, "ts": message.ts, "message": self.ws.render(message)}

    def chat_update(self, args: JsonDict) -> JsonDict:
        channel = self._check_channel(args.get("channel"))
        message = self.ws.find(channel, args.get("ts"))
        if message.user != self.ws.identity.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        text, blocks = _checked_content(args)
        if "text" in args:
            message.text = text
        # Slack drops the blocks when an update carries text without them.
        if blocks is not None or "text" in args:
            message.blocks = blocks
        if "attachments" in args:
            message.attachments = args["attachments"]
        if "metadata" in args:
            message.metadata = args["metadata"]
        message.edits += 1
        rendered = self.ws.render(message)
        return {"channel": channel, "ts": message.ts, "text": message.text, "message": rendered}

    def chat_delete(self, args: JsonDict) -> JsonDict:
        channel = self._check_channel(args.get("channel"))
        message = self.ws.find(channel, args.get("ts"))
        if message.user != self.ws.identity.bot_user_id:
            raise SlackApiFailure("cant_delete_message")
        message.deleted = True
        return {"channel": channel, "ts": message.ts}

    def chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        channel = self.ws.resolve_channel(args.get("channel"))
        user = args.get("user")
        if not user:
            raise SlackApiFailure("user_not_in_channel")
        text, blocks = _checked_content(args)
        ephemeral = self.ws.add_ephemeral(
            channel, user, text, blocks, args.get("thread_ts"), via="chat.postEphemeral"
        )
        return {"message_ts": ephemeral.message_ts}

    def chat_get_permalink(self, args: JsonDict) -> JsonDict:
        channel = self._check_channel(args.get("channel"))
        message = self.ws.find(channel, args.get("message_ts"))
        domain = self.ws.identity.team_domain
        permalink = f"https://{domain}.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _exchange_trigger(self, trigger_id: Any) -> str:
        """A trigger_id opens one view, and only within 3 seconds of the click."""
        if not trigger_id or not isinstance(trigger_id, str):
            raise SlackApiFailure("invalid_arguments")
        if trigger_id in self.ws.used_triggers:
            raise SlackApiFailure("exchanged_trigger_id")
        issued_at = self.ws.issued_triggers.get(trigger_id)
        if issued_at is not None and time.monotonic() - issued_at > TRIGGER_TTL_SECONDS:
            raise SlackApiFailure("expired_trigger_id")
        self.ws.used_triggers.add(trigger_id)
        return trigger_id

    def _checked_view(self, view: Any, kind: str = "modal") -> JsonDict:
        problems = view_problems(view, kind)
        if problems:
            raise _invalid("invalid_arguments", problems)
        return view

    def views_open(self, args: JsonDict) -> JsonDict:
        view = self._checked_view(args.get("view"))
        trigger_id = self._exchange_trigger(args.get("trigger_id"))
        view_id = self.ws.clock.next_id("V")
        opened = SlackView(
            id=view_id,
            view=view,
            trigger_id=trigger_id,
            hash=self.ws.clock.next_id("h"),
            user=self.ws.trigger_users.get(trigger_id),
        )
        self.ws.views[view_id] = opened
        return {"view": opened.to_api(self.ws.identity)}

    def views_update(self, args: JsonDict) -> JsonDict:
        opened = self._find_view(args)
        if args.get("hash") and args["hash"] != opened.hash:
            raise SlackApiFailure("hash_conflict")
        opened.view = self._checked_view(args.get("view"))
        opened.hash = self.ws.clock.next_id("h")
        opened.updates += 1
        return {"view": opened.to_api(self.ws.identity)}

    def _find_view(self, args: JsonDict) -> SlackView:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        for opened in self.ws.views.values():
            if opened.id == view_id:
                return opened
            if external_id and opened.view.get("external_id") == external_id:
                return opened
        raise SlackApiFailure("not_found")

    def views_publish(self, args: JsonDict) -> JsonDict:
        user_id = args.get("user_id")
        if not user_id:
            raise SlackApiFailure("invalid_arguments")
        view = self._checked_view(args.get("view"), "home")
        self.ws.home_views[user_id] = view
        me = self.ws.identity
        return {"view": {"id": f"VHOME{user_id}", "team_id": me.team_id, **view}}

    def users_lookup_by_email(self, args: JsonDict) -> JsonDict:
        email = str(args.get("email") or "").lower()
        for user in self.ws.users.values():
            if user.email.lower() == email and not user.deleted:
                return {"user": user.to_api(self.ws.identity.team_id)}
        raise SlackApiFailure("users_not_found")

    def users_info(self, args: JsonDict) -> JsonDict:
        return {"user": self.ws.user(args.get("user")).to_api(self.ws.identity.team_id)}

    def reactions_add(self, args: JsonDict) -> JsonDict:
        channel = self._check_channel(args.get("channel"))
        name = str(args.get("name") or "").strip(":")
        if not name:
            raise SlackApiFailure("invalid_name")
        self.ws.react(channel, str(args.get("timestamp")), name)
        return {}

    def conversations_open(self, args: JsonDict) -> JsonDict:
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackApiFailure("users_list_not_supplied")
        for user_id in users:
            self.ws.user(user_id)
        if len(users) == 1:
            existed = users[0] in self.ws.dms
            channel = self.ws.open_dm(users[0])
        else:
            key = frozenset(users)
            existed = key in self.ws.group_dms
            channel = self.ws.group_dms.setdefault(key, self.ws.clock.next_id("G"))
        opened: JsonDict = {"channel": {"id": channel}}
        if existed:
            opened.update(no_op=True, already_open=True)
        return opened

    def conversations_history(self, args: JsonDict) -> JsonDict:
        channel = self._check_channel(args.get("channel"))
        messages = [m for m in self.ws.top_level(channel) if _in_window(m.ts, args)]
        with_metadata = flag(args, "include_all_metadata")
        newest_first = [self.ws.render(m, with_metadata=with_metadata) for m in reversed(messages)]
        page, paging = _page(newest_first, args)
        return {"messages": page, **paging}

    def conversations_replies(self, args: JsonDict) -> JsonDict:
        channel = self._check_channel(args.get("channel"))
        root = self.ws.thread_root(channel, str(args.get("ts")))
        thread = [root, *self.ws.replies(channel, root.ts)]
        with_metadata = flag(args, "include_all_metadata")
        rendered = [self.ws.render(m, with_metadata=with_metadata) for m in thread]
        page, paging = _page([m for m in rendered if _in_window(m["ts"], args)], args)
        return {"messages": page, **paging}

    def respond(self, url: ResponseUrl, body: JsonDict) -> None:
        """A POST to a response_url: replace or delete the original, or say something new."""
        if len(url.posts) >= RESPONSE_URL_USES:
            raise SlackApiFailure("used_url")
        if time.monotonic() - url.created_at > RESPONSE_URL_TTL_SECONDS:
            raise SlackApiFailure("expired_url")
        original = self._original(url)
        if flag(body, "delete_original"):
            if original is not None:
                original.deleted = True
            return
        text, blocks = _checked_content(body)
        if flag(body, "replace_original") and original is not None:
            original.text, original.blocks = text, blocks
            original.edits += 1
        elif body.get("response_type") == "in_channel" and url.channel:
            self.chat_post_message({**body, "channel": url.channel})
        else:
            self._respond_ephemeral(url, text, blocks, body.get("thread_ts"))

    def _original(self, url: ResponseUrl) -> SlackMessage | SlackEphemeral | None:
        """The message a click came from: in the channel, or the ephemeral only its person sees
        (which only the click's response_url can replace or delete)."""
        if url.channel is None or url.message_ts is None:
            return None
        for ephemeral in self.ws.ephemerals:
            if ephemeral.message_ts == url.message_ts and ephemeral.user == url.user:
                return None if ephemeral.deleted else ephemeral
        try:
            return self.ws.find(url.channel, url.message_ts)
        except SlackApiFailure:
            return None

    def _respond_ephemeral(
        self, url: ResponseUrl, text: str, blocks: list[JsonDict] | None, thread_ts: Any
    ) -> None:
        self.ws.add_ephemeral(
            url.channel or "", url.user or "", text, blocks, thread_ts, via="response_url"
        )


def _in_window(ts: str, args: JsonDict) -> bool:
    """Slack's oldest/latest bounds: exclusive unless `inclusive` is set."""
    key, inclusive = ts_key(ts), flag(args, "inclusive")
    oldest, latest = args.get("oldest"), args.get("latest")
    if oldest and not _after(key, ts_key(str(oldest)), inclusive):
        return False
    return not latest or _after(ts_key(str(latest)), key, inclusive)


def _after(key: tuple[int, int], bound: tuple[int, int], inclusive: bool) -> bool:
    return key > bound or (inclusive and key == bound)
