"""Slack's wire encoding of message text, both ways, as the fake Slack needs it.

What a person types reaches an app encoded: ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;`` and
``&gt;``; links as ``<https://…>`` or ``<https://…|label>``; people as ``<@U…>``; channels as
``<#C…|name>``; ``@here`` as ``<!here>``. :func:`encode_typed` does what Slack's composer does to
typed text, and :func:`typed_blocks` gives the ``rich_text`` blocks Slack sends beside it;
:func:`encode_command` does it for the text after a slash command.

:func:`as_seen` goes the other way for what an app posts: the text a person reads once Slack has
rendered the mrkdwn (entities decoded, mentions shown as names, links as their labels). Tests
compare that with what the person should read, so double escaping (``&amp;amp;``) or a raw
``<https://…>`` fails them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]

# A labelled link as typed with the composer's link tool; written [label](url) in tests.
_LABELLED = r"\[(?P<label>[^\]\n]+)\]\((?P<target>https?://[^\s)]+)\)"
_URL = r"(?P<url>https?://[^\s<>]+)"
_PERSON = r"(?<![\w@])@(?P<person>[\w.-]+)"
_CHANNEL = r"(?<![\w#&])#(?P<channel>[\w-]+)"
_TYPED = re.compile("|".join((_LABELLED, _URL, _PERSON, _CHANNEL)))
# Slack leaves trailing punctuation out of an auto-detected link.
_TRAILING = ".,;:!?)'\""
BROADCASTS = ("here", "channel", "everyone")

_TOKEN = re.compile(r"<([^<>]*)>")


def escape(text: str) -> str:
    """Slack's three entities, the only ones it uses."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class _Piece:
    """One run of typed text: plain words, or a link, person, channel or broadcast."""

    kind: str  # "text", "link", "user", "channel", "broadcast"
    text: str
    target: str = ""


def _pieces(typed: str, people: Mapping[str, str], channels: Mapping[str, str]) -> list[_Piece]:
    pieces: list[_Piece] = []
    at = 0
    for match in _TYPED.finditer(typed):
        piece, end = _piece(match, people, channels)
        if piece is None:
            continue
        if match.start() > at:
            pieces.append(_Piece("text", typed[at : match.start()]))
        pieces.append(piece)
        at = end
    if at < len(typed):
        pieces.append(_Piece("text", typed[at:]))
    return pieces


def _piece(
    match: re.Match[str], people: Mapping[str, str], channels: Mapping[str, str]
) -> tuple[_Piece | None, int]:
    if match.group("label"):
        return _Piece("link", match.group("label"), match.group("target")), match.end()
    if match.group("url"):
        url = match.group("url").rstrip(_TRAILING)
        return _Piece("link", url, url), match.start() + len(url)
    if match.group("person"):
        name = match.group("person").rstrip(_TRAILING)
        end = match.start() + 1 + len(name)
        if name in BROADCASTS:
            return _Piece("broadcast", name, name), end
        user_id = people.get(name)
        return (_Piece("user", name, user_id), end) if user_id else (None, 0)
    name = match.group("channel")
    channel_id = channels.get(name)
    return (_Piece("channel", name, channel_id), match.end()) if channel_id else (None, 0)


def encode_typed(
    typed: str, people: Mapping[str, str], channels: Mapping[str, str] | None = None
) -> str:
    """``typed`` as Slack delivers it; ``people`` and ``channels`` map names to ids."""
    out: list[str] = []
    for piece in _pieces(typed, people, channels or {}):
        if piece.kind == "text":
            out.append(escape(piece.text))
        elif piece.kind == "link":
            label = "" if piece.text == piece.target else "|" + escape(piece.text)
            out.append(f"<{escape(piece.target)}{label}>")
        elif piece.kind == "user":
            out.append(f"<@{piece.target}>")
        elif piece.kind == "channel":
            out.append(f"<#{piece.target}|{piece.text}>")
        else:
            out.append(f"<!{piece.target}>")
    return "".join(out)


def encode_command(
    typed: str,
    people: Mapping[str, str],
    channels: Mapping[str, str] | None = None,
    *,
    escaped: bool = False,
) -> str:
    """``typed`` after a slash command, as Slack sends it in the command's ``text``.

    ``&``, ``<`` and ``>`` always arrive as entities. People, channels and links arrive as typed
    unless the command has "Escape channels, users, and links sent to your app" on
    (``should_escape`` in the manifest, ``escaped`` here): then people come as ``<@U…|name>``,
    channels as ``<#C…|name>``, links as ``<https://…>`` and ``@here`` as ``<!here>``."""
    if not escaped:
        return escape(typed)
    out: list[str] = []
    for piece in _pieces(typed, people, channels or {}):
        if piece.kind == "text":
            out.append(escape(piece.text))
        elif piece.kind == "link":
            label = "" if piece.text == piece.target else "|" + escape(piece.text)
            out.append(f"<{escape(piece.target)}{label}>")
        elif piece.kind == "user":
            out.append(f"<@{piece.target}|{piece.text}>")
        elif piece.kind == "channel":
            out.append(f"<#{piece.target}|{piece.text}>")
        else:
            out.append(f"<!{piece.target}>")
    return "".join(out)


def typed_blocks(
    typed: str,
    people: Mapping[str, str],
    channels: Mapping[str, str] | None = None,
    block_id: str = "wire",
) -> list[JsonDict]:
    """The ``rich_text`` block Slack sends with a typed message (its elements are not escaped)."""
    elements: list[JsonDict] = []
    for piece in _pieces(typed, people, channels or {}):
        if piece.kind == "text":
            elements.append({"type": "text", "text": piece.text})
        elif piece.kind == "link":
            link: JsonDict = {"type": "link", "url": piece.target}
            if piece.text != piece.target:
                link["text"] = piece.text
            elements.append(link)
        elif piece.kind == "user":
            elements.append({"type": "user", "user_id": piece.target})
        elif piece.kind == "channel":
            elements.append({"type": "channel", "channel_id": piece.target})
        else:
            elements.append({"type": "broadcast", "range": piece.target})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": block_id, "elements": [section]}]


def as_seen(mrkdwn: str, names: Mapping[str, str]) -> str:
    """What a person reads where an app posted ``mrkdwn``; ``names`` maps user ids to names.

    A ``<…>`` that is no mention, channel, broadcast, date or link still loses its brackets, as in
    Slack, where it becomes a broken link: escaped text is the only way to show a literal ``<``.
    """

    def shown(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            return "@" + (label or names.get(user_id, user_id))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            if special in BROADCASTS:
                return "@" + special
            return label or special
        return label or target

    return unescape(_TOKEN.sub(shown, mrkdwn))


def block_texts(blocks: list[JsonDict] | None, names: Mapping[str, str]) -> list[str]:
    """Every text a message's blocks show, in order, as a person reads it: mrkdwn rendered by
    :func:`as_seen`, plain_text exactly as sent."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind, text = node.get("type"), node.get("text")
            if kind in ("mrkdwn", "plain_text") and isinstance(text, str):
                found.append(as_seen(text, names) if kind == "mrkdwn" else text)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks or [])
    return found
