"""Small helpers the tests share: reading what a person sees, and waiting for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def buttons(message: Any) -> dict[str, dict]:
    return {
        element["action_id"]: element
        for block in message.blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
    }


def all_text(message: Any) -> str:
    """Every piece of text a person can read in a message."""
    parts = [message.text or ""]
    for block in message.blocks or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for field in block.get("fields", []):
            parts.append(field["text"])
        for element in block.get("elements", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif isinstance(element, dict) and isinstance(element.get("text"), dict):
                parts.append(element["text"]["text"])
    return "\n".join(parts)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (LookupError, ValueError, AttributeError, TypeError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {condition}")
        await asyncio.sleep(0.02)
