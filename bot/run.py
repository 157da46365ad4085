"""``approvals-bot run``: the bot from its environment until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping

from bot.config import ConfigError, load_settings
from bot.runtime import event_loop
from bot.runtime.logs import SecretFilter, configure_logging
from bot.wiring import Bot, Tuning, run_until_stopped


def run_bot(env: Mapping[str, str], log_format: str, tuning: Tuning | None = None) -> int:
    """Run the bot configured by ``env``, its secrets scrubbed from every log line; the exit
    status (2 with one line on stderr when the configuration is wrong)."""
    try:
        settings = load_settings(env)
        secrets = SecretFilter()
        secrets.add(*settings.secrets())
        configure_logging(log_format, secrets)
        # The routes file is read, and can be found wrong, only when the bot starts.
        return event_loop.run(
            until_signalled(lambda stop: run_until_stopped(Bot(settings, tuning), stop))
        )
    except ConfigError as error:
        for line in error.lines():
            print(f"approvals-bot: {line}", file=sys.stderr)
        return 2


async def until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``main`` until SIGTERM or SIGINT sets its stop event."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await main(stop)
    return 0
