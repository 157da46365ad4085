"""Reading Slack's verified payloads into typed values, or refusing them with a clear reason.

The acting person is always the payload's ``user`` of the verified request; nothing else in a
payload is trusted to say who acts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.approval import ApprovalKey, valid_text
from bot.approvals.voting import VoteKind
from bot.slack.wire_text import decode

_VOTE_WORDS = {"approve": VoteKind.APPROVE, "reject": VoteKind.REJECT, "bypass": VoteKind.BYPASS}
# Message subtypes that carry what a person wrote in a thread (a tuple: a hostile subtype
# need not be hashable).
_PERSONS_WORDS = (None, "thread_broadcast", "file_share")
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
_THREAD_VOTE = re.compile(
    r"^\s*(approve|reject|bypass)\b[\s:,.!-]*(.*)\Z", re.IGNORECASE | re.DOTALL
)


class PayloadError(ValueError):
    """The payload lacks what this kind of request must carry."""


@dataclass(frozen=True)
class Actor:
    team_id: str
    user_id: str
    user_name: str = ""
    team_name: str = ""


@dataclass(frozen=True)
class ButtonClick:
    actor: Actor
    action_id: str
    value: str
    channel_id: str
    message_ts: str
    trigger_id: str
    response_url: str


@dataclass(frozen=True)
class PendingVote:
    """A vote someone started and could not finish yet (not linked, forest down)."""

    kind: VoteKind
    key: ApprovalKey
    channel_id: str
    message_ts: str

    def encode(self) -> str:
        return "|".join((self.kind.value, self.key.token, self.channel_id, self.message_ts))


@dataclass(frozen=True)
class ModalPlace:
    """Where a modal was opened from, carried in its private_metadata."""

    channel_id: str
    message_ts: str
    # The approval key token, which may be too long for the modal's block ids.
    key_token: str = ""

    def encode(self) -> str:
        place = {"channel": self.channel_id, "ts": self.message_ts}
        if self.key_token:
            place["key"] = self.key_token
        return json.dumps(place)


@dataclass(frozen=True)
class ThreadVote:
    actor: Actor
    kind: VoteKind
    comment: str
    channel_id: str
    thread_ts: str
    message_ts: str


def _text(source: Any, *path: str) -> str:
    node = source
    for part in path:
        if not isinstance(node, dict):
            raise PayloadError(f"missing {'.'.join(path)}")
        node = node.get(part)
    if not isinstance(node, str) or not node:
        raise PayloadError(f"missing {'.'.join(path)}")
    return valid_text(node)


def _optional(source: Any, *path: str) -> str:
    try:
        return _text(source, *path)
    except PayloadError:
        return ""


def actor_of(body: dict[str, Any]) -> Actor:
    """The verified request's person: ``user.id`` and the team it belongs to."""
    # The workspace the request came from: links are kept per workspace.
    team = _optional(body, "team", "id") or _optional(body, "user", "team_id")
    if not team:
        raise PayloadError("missing team.id")
    named = {
        _optional(body, "team", "id"),
        _optional(body, "user", "team_id"),
        _optional(body, "view", "team_id"),
        _optional(body, "view", "app_installed_team_id"),
    } - {""}
    if len(named) > 1:
        # Who acts, and where they are linked, would depend on which one we believed.
        raise PayloadError("the payload names more than one workspace")
    return Actor(
        team_id=team,
        user_id=_text(body, "user", "id"),
        user_name=_optional(body, "user", "username") or _optional(body, "user", "name"),
        team_name=_optional(body, "team", "domain"),
    )


def command_actor(command: dict[str, Any]) -> Actor:
    """The person who ran a slash command (its fields are flat: ``team_id``, ``user_id``)."""
    return Actor(
        team_id=_text(command, "team_id"),
        user_id=_text(command, "user_id"),
        user_name=_optional(command, "user_name"),
        team_name=_optional(command, "team_domain"),
    )


@dataclass(frozen=True)
class CommandText:
    """What a person typed after a slash command, as they typed it: its first word (lower
    case) and the rest."""

    subcommand: str
    argument: str


def command_text(command: dict[str, Any]) -> CommandText:
    """The text of a slash command, decoded once from Slack's wire encoding: ``&amp;``,
    ``&lt;``, ``&gt;`` always, and ``<@U…|name>``, ``<#C…|name>``, ``<https://…>`` when the
    command escapes people, channels and links. Slack names the person in an escaped mention,
    so no lookup is needed before the acknowledgement."""
    text = command.get("text")
    typed = decode(valid_text(text)).strip() if isinstance(text, str) else ""
    first, _, rest = typed.partition(" ")
    return CommandText(first.lower(), rest.strip())


def button_click(body: dict[str, Any]) -> ButtonClick:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise PayloadError("missing actions")
    action = actions[0]
    return ButtonClick(
        actor=actor_of(body),
        action_id=_text(action, "action_id"),
        value=_optional(action, "value"),
        channel_id=_optional(body, "channel", "id") or _optional(body, "container", "channel_id"),
        message_ts=_optional(body, "container", "message_ts") or _optional(body, "message", "ts"),
        trigger_id=_optional(body, "trigger_id"),
        response_url=_optional(body, "response_url"),
    )


def approval_key(token: str) -> ApprovalKey:
    try:
        return ApprovalKey.from_token(token)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("not an approval button") from None


def pending_vote(value: str) -> PendingVote:
    parts = value.split("|")
    if len(parts) != 4 or parts[0] not in _VOTE_WORDS:
        raise PayloadError("not a pending vote")
    return PendingVote(_VOTE_WORDS[parts[0]], approval_key(parts[1]), parts[2], parts[3])


def modal_place(private_metadata: str) -> ModalPlace:
    try:
        document = json.loads(private_metadata)
    except (TypeError, ValueError, RecursionError):
        raise PayloadError("modal without its place") from None
    return ModalPlace(_text(document, "channel"), _text(document, "ts"), _optional(document, "key"))


def thread_vote(event: dict[str, Any], body: dict[str, Any]) -> ThreadVote | None:
    """A vote typed in a thread, or None for conversation (and for anything not a reply).

    A reply also sent to the channel (``thread_broadcast``) or sent with a file (``file_share``)
    is the person's words like any other; edits, deletions and the rest are not votes. The
    comment is left in Slack's wire encoding (see ``bot.slack.wire_text``).
    """
    subtype = event.get("subtype")
    if not isinstance(subtype, str | None) or subtype not in _PERSONS_WORDS or event.get("bot_id"):
        return None
    thread_ts, ts, text = event.get("thread_ts"), event.get("ts"), event.get("text")
    if not all(isinstance(v, str) and v for v in (thread_ts, ts, text)) or thread_ts == ts:
        return None
    match = _THREAD_VOTE.match(_LEADING_MENTION.sub("", valid_text(str(text)), count=1))
    if match is None:
        return None
    team = _optional(body, "team_id") or _optional(event, "team")
    actor = Actor(team_id=team, user_id=_text(event, "user"))
    if not actor.team_id:
        raise PayloadError("missing team")
    return ThreadVote(
        actor=actor,
        kind=_VOTE_WORDS[match.group(1).lower()],
        comment=match.group(2).strip(),
        channel_id=_text(event, "channel"),
        thread_ts=str(thread_ts),
        message_ts=str(ts),
    )


def replay_mark(body: dict[str, Any]) -> str | None:
    """A key naming this one delivery of an interaction, so that a captured request replayed
    inside Slack's five minutes is recognised; None for what is not an interaction.

    Slack gives every click, submission and command its own ``trigger_id``; a click also has
    its ``action_ts``, a submission its view's id and ``hash``. A replay repeats them all.
    """
    kind = body.get("type")
    trigger = _optional(body, "trigger_id")
    if kind == "block_actions":
        actions = body.get("actions")
        first = actions[0] if isinstance(actions, list) and actions else {}
        parts = ["click", trigger, _optional(first, "action_ts")]
    elif kind == "view_submission":
        parts = ["view", _optional(body, "view", "id"), _optional(body, "view", "hash"), trigger]
    elif "command" in body:
        parts = ["command", trigger]
    else:
        return None
    if not any(parts[1:]):
        return None
    # Hashed: the parts are Slack's strings, the key must be a plain NATS key.
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return f"interaction.{parts[0]}.{digest}"
