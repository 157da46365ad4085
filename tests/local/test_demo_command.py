"""`approvals-bot demo`, the README's first command, as a process: it starts everything, posts
the first blocked release, answers on its page and its bot port, and stops on Ctrl-C."""

import asyncio
import os
import signal

import aiohttp
from tests_support import approvals_bot

from bot.local.demo.command import readable
from bot.local.nats_server import free_port

START_TIMEOUT = 60.0


async def read_until(stream: asyncio.StreamReader, wanted: str, seen: list[str]) -> None:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"the demo ended before {wanted!r}:\n" + "".join(seen))
        seen.append(line)
        if wanted in line:
            return


async def test_the_demo_command_posts_the_first_release_and_stops_on_ctrl_c():
    bot_port, page_port = free_port(), free_port()
    process = await approvals_bot(
        "demo",
        "--port",
        str(bot_port),
        "--ui-port",
        str(page_port),
        merge_stderr=True,
        own_group=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        await asyncio.wait_for(
            read_until(process.stdout, "The demo is running", seen), START_TIMEOUT
        )
        # The first release's message reached the fake Slack: event, forest read and post.
        await asyncio.wait_for(read_until(process.stdout, "slack shows:", seen), START_TIMEOUT)
        assert "payments-api" in seen[-1]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{bot_port}/readyz") as ready:
                assert ready.status == 200
            async with session.get(f"http://127.0.0.1:{page_port}/") as page:
                assert page.status == 200
                assert "<html" in (await page.text()).lower()
        # Ctrl-C in a terminal signals the whole foreground group, the demo's children too;
        # stopping is quiet: nothing is said to be lost or failing on the way out.
        os.killpg(process.pid, signal.SIGINT)
        said = (await asyncio.wait_for(process.stdout.read(), 20.0)).decode()
        assert await asyncio.wait_for(process.wait(), 20.0) == 0
        assert "approvals bot stopped" in said
        assert not [line for line in said.splitlines() if "WARNING" in line or "ERROR" in line]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_what_slack_shows_is_told_in_words_not_markup():
    names = {"U0BOB": "bob"}
    assert readable("✅ <@U0BOB> approved", names) == "✅ @bob approved"
    assert readable(
        "<!date^1764657000^{time}|06:41 UTC> · <https://f/r|View in forage>", names
    ) == ("06:41 UTC · View in forage")
    assert readable("<@U0NOBODY> left", names) == "@U0NOBODY left"
