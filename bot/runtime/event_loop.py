"""The event loop every process of the bot runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop where it is installed, else on asyncio's own loop.

    uvloop (libuv's loop) spends less CPU per request than asyncio's selector loop. That is
    head-room the bot needs on a small machine, where acknowledging Slack competes with votes
    for one core.
    """
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not built for every platform (Windows); asyncio's loop serves
        return None
    return uvloop.new_event_loop
