"""What people type, as Slack delivers it, made readable once on the way in.

Slack sends message text in its wire encoding: ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;`` and
``&gt;``; links as ``<https://…>`` or ``<https://…|label>``; people as ``<@U…>``; channels as
``<#C…|name>``; ``@here`` as ``<!here>``. Forest, forage and our own replies want the words the
person wrote, so :func:`decode` turns that back into plain text (``<@U0ALICE>`` becomes
``@alice``, ``<https://x|label>`` becomes ``label (https://x)``). Whatever shows it in Slack again
escapes it once (``blocks.text.escape``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_BROADCASTS = ("here", "channel", "everyone")


def unescape(text: str) -> str:
    """Slack's three entities, in one pass (``&amp;lt;`` stays the text ``&lt;``)."""
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(1)], text)


def mentioned_users(text: str) -> list[str]:
    """The user ids of the people ``text`` mentions, each once, in order."""
    return list(dict.fromkeys(_USER.findall(text)))


def decode(text: str, names: Mapping[str, str] | None = None) -> str:
    """``text`` as the person wrote it; ``names`` gives a mentioned user id's Slack name (an id
    not in it is shown as the label Slack sent, else as the id)."""
    names = names or {}
    parts: list[str] = []
    at = 0
    for match in _TOKEN.finditer(text):
        parts.append(unescape(text[at : match.start()]))
        parts.append(_readable(match.group(1), names))
        at = match.end()
    parts.append(unescape(text[at:]))
    return "".join(parts)


def _readable(token: str, names: Mapping[str, str]) -> str:
    target, _, label = token.partition("|")
    target, label = unescape(target), unescape(label)
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + (names.get(user_id) or label.lstrip("@") or user_id)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        special = target[1:].split("^", 1)[0]
        if special in _BROADCASTS:
            return "@" + special
        # A user group (<!subteam^S…|@group>) or a date (<!date^…|fallback>): its own text.
        return label or special
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    if not label or _same_link(label, target):
        return target
    return f"{label} ({target})"


def _same_link(label: str, url: str) -> bool:
    """Slack labels a pasted link with the link itself, often without its scheme."""
    bare = re.sub(r"^https?://", "", url, flags=re.IGNORECASE).rstrip("/")
    return label.rstrip("/") in (url.rstrip("/"), bare)
