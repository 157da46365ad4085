"""Small helpers the tests share: reading what a person sees, and waiting for it."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bot.local.local_stack import WAIT_SECONDS


async def approvals_bot(
    *args: str,
    env: dict[str, str] | None = None,
    merge_stderr: bool = False,
    own_group: bool = False,
) -> asyncio.subprocess.Process:
    """``approvals-bot --log-format text <args>`` as a process, its output piped.

    ``own_group``: in a process group (and session) of its own, as a shell runs a command in
    a terminal, so a test can signal the group the way Ctrl-C does."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--log-format",
        "text",
        *args,
        env={"PATH": os.environ["PATH"], **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        start_new_session=own_group,
    )


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


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
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
