"""The Block Kit and metadata rules Slack enforces, so that a bot rendering invalid blocks fails
its tests instead of failing in front of people.

slack_sdk's block models check most limits; what they silently accept (unknown element types,
misspelt fields, duplicate ids, the block-count cap) is checked here.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCK_LIMIT = 50
SURFACE_BLOCK_LIMIT = 100
MESSAGE_TEXT_LIMIT = 4000


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
