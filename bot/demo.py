"""``approvals-bot demo``: the real bot against local stand-ins, on a machine with nothing else.

It starts an embedded nats-server, the fake forest (seeded with an org, a project, a policy that
needs two approvals and a few people) and the fake Slack, runs the bot against them, and
publishes a blocked release, so the whole production path runs end to end.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from bot.fakes.local_stack import CHANNEL, LocalStack, local_stack
from bot.wiring import Tuning

log = logging.getLogger(__name__)


async def run_demo(port: int, stop: asyncio.Event) -> None:
    with tempfile.TemporaryDirectory(prefix="approvals-demo-") as store:
        async with local_stack(Path(store)) as stack:
            await stack.start_bot(Tuning(), HOST="127.0.0.1", PORT=str(port))
            intent = stack.new_release(author="alice")
            await stack.announce(intent, author="alice")
            log.info(
                "demo running",
                extra={
                    "bot": stack.bot_url(),
                    "fake_slack": stack.slack.base_url,
                    "fake_forest": stack.forest.url,
                    "nats": stack.nats_server.url,
                    "release_intent_id": intent,
                },
            )
            await _show_slack(stack, stop)


async def _show_slack(stack: LocalStack, stop: asyncio.Event) -> None:
    """Log what the approval channel shows whenever it changes, until stopped."""
    shown: list[str] = []
    while not stop.is_set():
        current = [message.text or "" for message in stack.slack.messages(CHANNEL)]
        for message in stack.slack.messages(CHANNEL):
            current += [reply.text or "" for reply in stack.slack.thread(CHANNEL, message.ts)]
        if current != shown:
            for line in current:
                if line not in shown:
                    log.info("slack shows: %s", line)
            shown = current
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        except TimeoutError:
            continue
