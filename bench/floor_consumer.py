"""The floor for event-to-message: a bare nats-py pull consumer that posts each event to Slack.

Per message it does only what no approval bot can skip: fetch from JetStream, POST one
``chat.postMessage`` to the fake Slack, ack. The message it posts has the same text, blocks and
metadata as the bot's (rendered once at start), so the fake Slack does the same work for both.

    NATS_URL=... SLACK_API_URL=... SLACK_BOT_TOKEN=... APPROVALS_CHANNEL=... \
        python -m bench.floor_consumer
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from typing import Any

import aiohttp
import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from blocks.approval_message import approval_message
from bot.approval import ApprovalView
from bot.events.approval_required import parse_approval_required
from bot.local.local_stack import approval_event

STREAM = "BENCH_FLOOR"
SUBJECT = "bench.floor.>"
DURABLE = "floor"
BATCH = 32  # as the bot's consumer fetches: one event while idle, up to a batch of a backlog
DRAIN_SECONDS = 0.02


def sample_message() -> dict[str, Any]:
    """The text and blocks of a typical approval message, as the bot renders one."""
    event = approval_event(
        "acme",
        "payments-api",
        "00000000-0000-4000-8000-000000000000",
        "production",
        2,
        {"user_id": "u", "username": "alice", "email": "alice@acme.io"},
    )
    request = parse_approval_required(json.dumps(event).encode())
    message = approval_message(
        ApprovalView(request=request, state=None, web_url="http://forage.local/r")
    )
    return {"text": message.text, "blocks": message.blocks}


async def run() -> None:
    channel = os.environ["APPROVALS_CHANNEL"]
    post_url = os.environ["SLACK_API_URL"].rstrip("/") + "/chat.postMessage"
    headers = {"Authorization": f"Bearer {os.environ['SLACK_BOT_TOKEN']}"}
    shown = sample_message()

    nc = await nats.connect(os.environ["NATS_URL"])
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.BadRequestError):
        await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    with contextlib.suppress(nats.js.errors.BadRequestError):
        await js.add_consumer(
            STREAM,
            ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
        )
    subscription = await js.pull_subscribe_bind(durable=DURABLE, stream=STREAM)
    session = aiohttp.ClientSession()

    async def handle(msg: Msg) -> None:
        event = json.loads(msg.data)
        body = {
            "channel": channel,
            **shown,
            "metadata": {
                "event_type": "forest_approval",
                "event_payload": {
                    "release_intent_id": event["release_intent_id"],
                    "target_environment": event["target_environment"],
                },
            },
        }
        async with session.post(post_url, json=body, headers=headers) as reply:
            await reply.read()
        await msg.ack()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    backlog = False
    try:
        while not stop.is_set():
            size, timeout = (BATCH, DRAIN_SECONDS) if backlog else (1, 0.5)
            try:
                messages = await subscription.fetch(size, timeout=timeout)
            except TimeoutError:
                messages = []
            backlog = bool(messages)
            await asyncio.gather(*(handle(msg) for msg in messages))
    finally:
        await subscription.unsubscribe()
        await session.close()
        await nc.close()


if __name__ == "__main__":
    asyncio.run(run())
