"""The Block Kit and metadata rules Slack enforces, so that a bot rendering invalid blocks fails
its tests instead of failing in front of people.

slack_sdk's block models check most limits; what they silently accept (unknown element types,
misspelt fields, duplicate ids, the block-count cap, empty texts, a header or button in mrkdwn,
fields and confirm dialogs past their lengths) is checked here. So is the total text of a
message's blocks: Slack refuses a message past about 12,000 characters of text in all
(``msg_blocks_too_long``), though every block is within its own limit. That figure is not
documented; people report 12,000 to 13,300 depending on the blocks, so the fake takes the low end.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JsonDict = dict[str, Any]

MESSAGE_BLOCK_LIMIT = 50
SURFACE_BLOCK_LIMIT = 100
# Slack asks for a top-level `text` of at most 4,000 characters. chat.update refuses a longer one
# (msg_too_long); chat.postMessage is documented to truncate only past 40,000. The fake refuses
# past 4,000 on every method, so that nothing the bot sends depends on truncation.
MESSAGE_TEXT_LIMIT = 4000
MESSAGE_BLOCKS_TEXT_LIMIT = 12_000
TEXT_OBJECT_CHARS = 3000
FIELD_CHARS = 2000
CONFIRM_TITLE_CHARS = 100
CONFIRM_TEXT_CHARS = 300
CONFIRM_BUTTON_CHARS = 30
# Where Block Kit takes only plain_text: in these blocks and elements, and under these keys.
_PLAIN_ONLY = frozenset({"header", "button", "title", "label", "placeholder", "confirm", "deny"})
_PLAIN_KEYS = frozenset({"title", "label", "placeholder"})


def block_problems(blocks: Any, limit: int = MESSAGE_BLOCK_LIMIT) -> list[str]:
    """Everything wrong with `blocks`; empty when Slack would accept them."""
    if not isinstance(blocks, list):
        return ["blocks must be a JSON array of objects"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks; at most {limit} are allowed")
    for index, raw in enumerate(blocks):
        problems.extend(f"blocks[{index}]: {p}" for p in _one_block_problems(raw))
    problems.extend(_duplicate_ids(blocks))
    return problems


def _one_block_problems(raw: Any) -> list[str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return ["a block must be an object with a type"]
    # The models turn a bare string into mrkdwn; Slack refuses it.
    if raw["type"] in ("section", "header") and "text" in raw and not isinstance(raw["text"], dict):
        return ["text must be a text object, not a string"]
    if raw["type"] == "actions" and not raw.get("elements"):
        return ["an actions block needs at least one element"]
    problems = _text_object_problems(raw, raw["type"], "")
    if problems:
        return problems
    try:
        parsed = Block.parse(raw)
        if parsed is None:
            return [f"unknown block type {raw['type']!r}"]
        rendered = parsed.to_dict()
    except SlackObjectFormationError as error:
        return [str(error)]
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        return [f"malformed block: {error}"]
    return _lost_in_parsing(raw, rendered, "")


def _text_object_problems(node: Any, owner: str, path: str) -> list[str]:
    """Text objects Slack refuses though the models take them: empty, too long, or mrkdwn where
    only plain_text goes; section fields and confirm dialogs past their own limits."""
    problems: list[str] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            problems.extend(_text_object_problems(item, owner, f"{path}{index}."))
        return problems
    if not isinstance(node, dict):
        return problems
    kind = node.get("type")
    if kind in ("mrkdwn", "plain_text") and "text" in node:
        text = node["text"]
        where = path.rstrip(".") or "text"
        if not isinstance(text, str) or not text:
            problems.append(f"{where} must be a non-empty string")
        elif len(text) > TEXT_OBJECT_CHARS:
            problems.append(f"{where} is longer than {TEXT_OBJECT_CHARS} characters")
        if kind == "mrkdwn" and owner in _PLAIN_ONLY:
            problems.append(f"{where} must be plain_text in a {owner}")
        return problems
    for key, value in node.items():
        if key == "confirm" and isinstance(value, dict) and "title" in value:
            problems.extend(_confirm_problems(value, f"{path}confirm."))
            child = "dialog"
        elif key in _PLAIN_KEYS or (owner == "dialog" and key in ("confirm", "deny")):
            child = key
        else:
            child = str(node.get("type") or owner)
        if key == "fields" and isinstance(value, list):
            for index, field in enumerate(value):
                text = field.get("text") if isinstance(field, dict) else None
                if isinstance(text, str) and len(text) > FIELD_CHARS:
                    problems.append(f"{path}fields.{index} is longer than {FIELD_CHARS} characters")
        problems.extend(_text_object_problems(value, child, f"{path}{key}."))
    return problems


def _confirm_problems(confirm: JsonDict, path: str) -> list[str]:
    limits = {
        "title": CONFIRM_TITLE_CHARS,
        "text": CONFIRM_TEXT_CHARS,
        "confirm": CONFIRM_BUTTON_CHARS,
        "deny": CONFIRM_BUTTON_CHARS,
    }
    problems = []
    for part, limit in limits.items():
        text = confirm.get(part, {}).get("text") if isinstance(confirm.get(part), dict) else None
        if isinstance(text, str) and len(text) > limit:
            problems.append(f"{path}{part} is longer than {limit} characters")
    return problems


def blocks_text_size(blocks: Any) -> int:
    """The characters of text in all of a message's blocks, as Slack's total is counted."""
    if isinstance(blocks, dict):
        kind = blocks.get("type")
        if kind in ("mrkdwn", "plain_text") and isinstance(blocks.get("text"), str):
            return len(blocks["text"])
        return sum(blocks_text_size(value) for value in blocks.values())
    if isinstance(blocks, list):
        return sum(blocks_text_size(item) for item in blocks)
    return 0


def _lost_in_parsing(raw: Any, rendered: Any, path: str) -> list[str]:
    """Fields the models dropped: unknown element types or properties Slack would refuse."""
    if isinstance(raw, dict) and isinstance(rendered, dict):
        problems = []
        for key, value in raw.items():
            if value is None:
                continue
            if key not in rendered:
                problems.append(f"unsupported field {path}{key}")
            else:
                problems.extend(_lost_in_parsing(value, rendered[key], f"{path}{key}."))
        return problems
    if isinstance(raw, list) and isinstance(rendered, list):
        problems = []
        for index, (raw_item, item) in enumerate(zip(raw, rendered, strict=False)):
            if item is None and raw_item is not None:
                kind = raw_item.get("type") if isinstance(raw_item, dict) else raw_item
                problems.append(f"unsupported element {path}{index} of type {kind!r}")
            else:
                problems.extend(_lost_in_parsing(raw_item, item, f"{path}{index}."))
        return problems
    return []


def _duplicate_ids(blocks: list[Any]) -> list[str]:
    problems = []
    block_ids = [b["block_id"] for b in blocks if isinstance(b, dict) and "block_id" in b]
    problems.extend(f"duplicate block_id {i!r}" for i in _repeated(block_ids))
    for block in blocks:
        if not isinstance(block, dict):
            continue
        elements = block.get("elements") if block.get("type") == "actions" else None
        action_ids = [e["action_id"] for e in elements or [] if "action_id" in e]
        problems.extend(f"duplicate action_id {i!r} in one block" for i in _repeated(action_ids))
    return problems


def _repeated(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    return sorted({v for v in values if v in seen or seen.add(v)}, key=str)


def view_problems(view: Any, kind: str = "modal") -> list[str]:
    """What Slack would refuse in a modal or App Home view."""
    if not isinstance(view, dict):
        return ["view must be a JSON object"]
    if view.get("type") != kind:
        return [f"view type must be {kind!r}"]
    problems = block_problems(view.get("blocks"), SURFACE_BLOCK_LIMIT)
    if kind == "modal":
        if not isinstance(view.get("title"), dict):
            problems.append("a modal needs a plain_text title")
        has_inputs = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_inputs and not view.get("submit"):
            problems.append("a modal with input blocks needs a submit button")
    try:
        View(**view).to_dict()
    except SlackObjectFormationError as error:
        problems.append(str(error))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        problems.append(f"malformed view: {error}")
    return problems


def metadata_problem(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        return "metadata needs a string event_type"
    if not isinstance(metadata.get("event_payload"), dict):
        return "metadata needs an object event_payload"
    return None
