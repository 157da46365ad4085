"""Slow clients cannot take the listener down: headers and bodies that trickle in are cut off,
and at the connection cap a new connection pushes out the longest-waiting idle one, so /healthz
and clicks keep working."""

import asyncio
import dataclasses
import time

import aiohttp
from tests_support import all_text, wait_until

from bot.local.local_stack import CHANNEL, FAST, LocalStack

SLOW = dataclasses.replace(
    FAST, http_header_timeout=0.5, http_body_timeout=0.5, http_max_connections=40
)


async def trickle_headers(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n")
    await writer.drain()
    return reader, writer


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing; fails when it keeps the connection open."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_trickling_headers_are_cut_off_and_the_cap_refuses_the_rest(stack: LocalStack):
    bot = await stack.start_bot(SLOW)
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    assert bot.port is not None

    slow = [await trickle_headers(bot.port) for _ in range(60)]
    # At the cap, each new connection closed the slow one that had waited longest.
    await asyncio.gather(*(closed_within(r, 0.3) for r, _w in slow[:20]))
    # A request from a new connection still gets through at once.
    fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    try:
        started = time.monotonic()
        async with fresh.get(f"{stack.bot_url(bot)}/healthz") as health:
            assert health.status == 200
        assert time.monotonic() - started < 0.3
    finally:
        await fresh.close()

    # Every other slow connection is closed once its headers are overdue, even while it sends.
    started = time.monotonic()
    for _reader, writer in slow[20:25]:
        writer.write(b"X-Slow: 1\r\n")
    await asyncio.gather(*(closed_within(r, 3.0) for r, _w in slow[20:]))
    assert time.monotonic() - started < 2.0

    health = await stack.session.get(f"{stack.bot_url(bot)}/healthz")
    assert health.status == 200
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))


async def test_a_trickling_body_is_cut_off(stack: LocalStack):
    bot = await stack.start_bot(SLOW)
    assert bot.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.port)
    writer.write(
        b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 1000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\npayload="
    )
    await writer.drain()
    answer = await closed_within(reader, 3.0)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    writer.close()
