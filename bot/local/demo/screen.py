"""What one person sees in the demo's Slack page, read from the fake Slack's state.

The page renders exactly the Block Kit the bot sent; this module only decides what is visible to
whom: everyone sees the channel and its threads, a person sees their own ephemeral messages,
direct messages and open modal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.local.fake_slack import FakeSlack, SlackEphemeral, SlackMessage
from bot.local.fake_slack_model import ts_key
from bot.local.local_stack import ORGANISATION, PEOPLE, Person

JsonDict = dict[str, Any]

BOT_NAME = "Forest Approvals"


@dataclass
class PageMemory:
    """What a Slack client remembers and the server does not: modals the person closed and
    ephemeral messages they dismissed."""

    closed_views: set[str] = field(default_factory=set)
    dismissed: set[str] = field(default_factory=set)


def screen_for(
    slack: FakeSlack, channel: str, viewer: Person, memory: PageMemory, releases_by: tuple[str, ...]
) -> JsonDict:
    """Everything the page shows to `viewer`, as JSON."""
    ephemerals = [
        e
        for e in slack.ephemerals(channel, viewer.slack_user_id)
        if e.message_ts not in memory.dismissed
    ]
    messages = slack.messages(channel)
    timeline: list[JsonDict] = [
        _message(slack, channel, m, [e for e in ephemerals if e.thread_ts == m.ts])
        for m in messages
    ]
    threads = {m.ts for m in messages}
    # An ephemeral answer to a thread whose message is gone still belongs in the channel.
    timeline += [_ephemeral(e) for e in ephemerals if e.thread_ts not in threads]
    timeline.sort(key=lambda entry: ts_key(entry["ts"]))
    return {
        "viewer": viewer.username,
        "people": [
            {
                "username": p.username,
                "user_id": p.slack_user_id,
                "role": part_in_the_story(p, releases_by),
            }
            for p in PEOPLE
        ],
        "release_authors": list(releases_by),
        "names": _names(slack),
        "bot_user_id": slack.identity.bot_user_id,
        "channel": {"id": channel, "name": "approvals"},
        "timeline": timeline,
        "direct_messages": [
            _message(slack, m.channel, m, []) for m in slack.dm_messages(viewer.slack_user_id)
        ],
        "modal": _open_modal(slack, viewer, memory),
        "home": _home(slack, viewer),
    }


def part_in_the_story(person: Person, release_authors: tuple[str, ...]) -> str:
    """What the person can do in the demo, shown beside the person switcher."""
    writes = person.username in release_authors
    if person.role is None:
        return f"not in {ORGANISATION}"
    if person.role == "admin":
        return "org admin, writes releases" if writes else "org admin"
    return "writes releases" if writes else "reviewer"


def _names(slack: FakeSlack) -> dict[str, str]:
    names = {user.id: user.name for user in slack.workspace.users.values()}
    names[slack.identity.bot_user_id] = BOT_NAME
    return names


def _message(
    slack: FakeSlack, channel: str, message: SlackMessage, ephemerals: list[SlackEphemeral]
) -> JsonDict:
    replies = [_reply(slack, channel, r) for r in slack.thread(channel, message.ts)]
    replies += [_ephemeral(e) for e in ephemerals]
    replies.sort(key=lambda entry: ts_key(entry["ts"]))
    return {**_reply(slack, channel, message), "replies": replies}


def _reply(slack: FakeSlack, channel: str, message: SlackMessage) -> JsonDict:
    return {
        "kind": "message",
        "ts": message.ts,
        "user": message.user,
        "from_app": message.bot_id is not None,
        "text": message.text,
        "blocks": message.blocks,
        "edited": message.edits > 0,
        "reactions": slack.reactions(channel, message.ts),
    }


def _ephemeral(ephemeral: SlackEphemeral) -> JsonDict:
    return {
        "kind": "ephemeral",
        "ts": ephemeral.message_ts,
        "text": ephemeral.text,
        "blocks": ephemeral.blocks,
    }


def _home(slack: FakeSlack, viewer: Person) -> JsonDict | None:
    """The Home tab the bot last published for `viewer` (None before it published one)."""
    view = slack.workspace.home_views.get(viewer.slack_user_id)
    return {"blocks": view.get("blocks") or []} if view else None


def _open_modal(slack: FakeSlack, viewer: Person, memory: PageMemory) -> JsonDict | None:
    """The newest modal the bot opened for `viewer` that is still open."""
    for view in reversed(slack.views):
        if view.user == viewer.slack_user_id and view.id not in memory.closed_views:
            return {"id": view.id, "view": view.view}
    return None
