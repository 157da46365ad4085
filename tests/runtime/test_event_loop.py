"""The bot's processes run on uvloop, a dependency of the bot on every platform it is built for."""

import asyncio

from bot.runtime import event_loop


def test_the_bot_runs_on_uvloop():
    async def running_loop() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(running_loop()).startswith("uvloop")
