"""The Block Kit pieces every builder uses, each kept within Slack's limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .text import fit, truncate

MAX_TEXT = 4000
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_TEXT = 3000
MAX_HEADER_TEXT = 150
ACTION_ID_CHARS = 255
BUTTON_VALUE_CHARS = 2000


@dataclass(frozen=True)
class SlackMessage:
    """A message as Slack takes it: ``text`` for notifications and ``blocks`` for the layout."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        """Both parts, always together: an update with ``text`` alone would drop the blocks."""
        return {"text": self.text, "blocks": self.blocks}


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(mrkdwn, MAX_SECTION_TEXT)}}


def header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True},
    }


def context(mrkdwn: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": fit(mrkdwn, MAX_CONTEXT_TEXT)}],
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
