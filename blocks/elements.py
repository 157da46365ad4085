"""The Block Kit pieces every builder uses, each kept within Slack's limits."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .text import fit, truncate

MAX_TEXT = 4000
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_TEXT = 3000
MAX_HEADER_TEXT = 150
ACTION_ID_CHARS = 255
BUTTON_VALUE_CHARS = 2000
# Slack refuses a message whose blocks hold more than about 12,000 characters of text in all
# (msg_blocks_too_long; not documented, reported between 12,000 and 13,300): we stay well below.
BLOCKS_TEXT_BUDGET = 10_000


@dataclass(frozen=True)
class SlackMessage:
    """A message as Slack takes it: ``text`` for notifications and ``blocks`` for the layout."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        """Both parts, always together: an update with ``text`` alone would drop the blocks."""
        return {"text": self.text, "blocks": self.blocks}

    @property
    def digest(self) -> str:
        """A fingerprint of what people see: an unchanged digest needs no ``chat.update``."""
        shown = json.dumps([self.text, self.blocks], sort_keys=True).encode()
        return hashlib.sha256(shown).hexdigest()


def text_size(blocks: Any) -> int:
    """The characters of text in ``blocks`` (every text object), as Slack's total counts them."""
    if isinstance(blocks, dict):
        if blocks.get("type") in ("mrkdwn", "plain_text") and isinstance(blocks.get("text"), str):
            return len(blocks["text"])
        return sum(text_size(value) for value in blocks.values())
    if isinstance(blocks, list):
        return sum(text_size(item) for item in blocks)
    return 0


def mrkdwn_text(mrkdwn: str, limit: int, *, verbatim: bool = False) -> dict[str, Any]:
    """A mrkdwn text object. ``verbatim`` where it carries people's words (titles, comments):
    Slack then leaves bare URLs and ``#names`` as they are instead of turning them into links;
    the links we build (``<url|label>``) work either way."""
    text: dict[str, Any] = {"type": "mrkdwn", "text": fit(mrkdwn, limit)}
    if verbatim:
        text["verbatim"] = True
    return text


def section(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn_text(mrkdwn, MAX_SECTION_TEXT, verbatim=verbatim)}


def header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True},
    }


def context(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [mrkdwn_text(mrkdwn, MAX_CONTEXT_TEXT, verbatim=verbatim)],
    }


def button(
    text: str, action_id: str, value: str | None, style: str | None = None
) -> dict[str, Any]:
    if not action_id or len(action_id) > ACTION_ID_CHARS:
        raise ValueError(f"action_id must be 1 to {ACTION_ID_CHARS} characters")
    if value is not None and len(value) > BUTTON_VALUE_CHARS:
        raise ValueError(f"button value must be at most {BUTTON_VALUE_CHARS} characters")
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
    }
    if value is not None:
        element["value"] = value
    if style:
        element["style"] = style
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def answer(mrkdwn: str, *extra: dict[str, Any]) -> SlackMessage:
    """A short message: the text, then any further blocks (usually buttons)."""
    return SlackMessage(text=fit(mrkdwn, MAX_TEXT), blocks=[section(mrkdwn), *extra])
