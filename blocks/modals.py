"""The reject and bypass modals, and reading their submissions back.

Each modal carries two things back on submit: ``private_metadata`` exactly as the caller gave it,
and the approval key token in the block id of the release block (see :func:`key_token_of`).
"""

from __future__ import annotations

from typing import Any

from bot.approval import valid_text

from .elements import SlackMessage
from .text import clip, one_line, truncate

TITLE_CHARS = 24
PRIVATE_METADATA_CHARS = 3000
BLOCK_ID_CHARS = 255
REASON_CHARS = 2000
RELEASE_TITLE_CHARS = 300

REJECT_CALLBACK_ID = "reject_modal"
BYPASS_CALLBACK_ID = "bypass_modal"
PLAN_REJECT_CALLBACK_ID = "plan_reject_modal"
REASON_BLOCK_ID = "reason"
REASON_ACTION_ID = "reason_input"
RELEASE_BLOCK_PREFIX = "release:"
RELEASE_BLOCK_ID = "release"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _release_block(
    key_token: str, release_title: str, *, token_in_metadata: bool = False
) -> dict[str, Any]:
    """The release's title, its block id carrying the key token. A token too long for Slack's
    255 characters of block id (a long environment name) is left out when the caller carries
    it in the private_metadata (``token_in_metadata``); otherwise it is refused."""
    block_id = RELEASE_BLOCK_PREFIX + key_token
    if not key_token or len(block_id) > BLOCK_ID_CHARS:
        if not (key_token and token_in_metadata):
            longest = BLOCK_ID_CHARS - len(RELEASE_BLOCK_PREFIX)
            raise ValueError(f"key token must be 1 to {longest} characters")
        block_id = RELEASE_BLOCK_ID
    title = clip(one_line(release_title), RELEASE_TITLE_CHARS) or "_Untitled release_"
    return {
        "type": "section",
        "block_id": block_id,
        "text": {"type": "mrkdwn", "text": f"*{title}*", "verbatim": True},
    }


def _reason_input(label: str, placeholder: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": REASON_BLOCK_ID,
        "label": _plain(label),
        "element": {
            "type": "plain_text_input",
            "action_id": REASON_ACTION_ID,
            "multiline": True,
            "min_length": 1,
            "max_length": REASON_CHARS,
            "placeholder": _plain(placeholder),
        },
        "optional": False,
    }


def _modal(
    *,
    title: str,
    submit: str,
    callback_id: str,
    private_metadata: str,
    blocks: list[dict[str, Any]],
) -> dict[str, Any]:
    if len(private_metadata) > PRIVATE_METADATA_CHARS:
        raise ValueError(f"private_metadata must be at most {PRIVATE_METADATA_CHARS} characters")
    modal: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(truncate(title, TITLE_CHARS)),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }
    if private_metadata:
        modal["private_metadata"] = private_metadata
    return modal


def reject_modal(key_token: str, release_title: str, private_metadata: str) -> dict[str, Any]:
    """Asks why the release is rejected; the reason is required. A ``key_token`` too long for a
    block id must travel in ``private_metadata`` too."""
    return _modal(
        title="Reject release",
        submit="Reject",
        callback_id=REJECT_CALLBACK_ID,
        private_metadata=private_metadata,
        blocks=[
            _release_block(key_token, release_title, token_in_metadata=True),
            _reason_input("Why?", "What should change before this ships?"),
        ],
    )


def plan_reject_modal(key_token: str, release_title: str, private_metadata: str) -> dict[str, Any]:
    """Asks why the plan is rejected; the reason is required and reaches forest."""
    return _modal(
        title="Reject plan",
        submit="Reject plan",
        callback_id=PLAN_REJECT_CALLBACK_ID,
        private_metadata=private_metadata,
        blocks=[
            _release_block(key_token, release_title),
            _reason_input("Why?", "What is wrong with this plan?"),
        ],
    )


def bypass_modal(key_token: str, release_title: str, private_metadata: str) -> dict[str, Any]:
    """Warns what a bypass does and asks for the reason, which the thread will show. As for
    :func:`reject_modal`, a long ``key_token`` travels in ``private_metadata``."""
    warning = (
        ":warning: *This records your own approval of your release as an org admin override.*\n"
        "It counts as one approval. The thread shows that you bypassed the review, and why."
    )
    return _modal(
        title="Bypass approval",
        submit="Bypass",
        callback_id=BYPASS_CALLBACK_ID,
        private_metadata=private_metadata,
        blocks=[
            _release_block(key_token, release_title, token_in_metadata=True),
            {"type": "section", "text": {"type": "mrkdwn", "text": warning}},
            _reason_input("Reason", "e.g. hotfix for an outage"),
        ],
    )


def key_token_of(view: dict[str, Any]) -> str:
    """The approval key token of a submitted reject or bypass modal."""
    for block in view.get("blocks", ()):
        block_id = block.get("block_id", "")
        if block_id.startswith(RELEASE_BLOCK_PREFIX):
            return block_id[len(RELEASE_BLOCK_PREFIX) :]
    raise ValueError("not a reject or bypass modal")


def reason_of(view: dict[str, Any]) -> str:
    """The reason typed into a submitted reject or bypass modal, stripped ("" when missing)."""
    values = view.get("state", {}).get("values", {})
    value = values.get(REASON_BLOCK_ID, {}).get(REASON_ACTION_ID, {}).get("value")
    if not isinstance(value, str):
        return ""
    return valid_text(value).strip()


def notice_modal(message: SlackMessage, title: str = "Forest approvals") -> dict[str, Any]:
    """What a reject or bypass modal turns into when the person may not vote after all."""
    return {
        "type": "modal",
        "title": _plain(truncate(title, TITLE_CHARS)),
        "close": _plain("Close"),
        "blocks": message.blocks,
    }
