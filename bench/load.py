"""What the load generator sends: signed clicks at a fixed rate, and forest's NATS messages."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from nats.aio.client import Client as NATS

from bench.stack_control import StackInfo
from bot.local.local_stack import approval_event as sample_event
from bot.local.slack_signing import FORM, sign

APPROVAL_SUBJECT = "forest.approval.required.{organisation}.{project}"
EVALUATE_SUBJECT = "forest.intent.evaluate"
STATUS_SUBJECT = "forest.release.status.{intent}"


@dataclass(frozen=True)
class Click:
    """One person's click on the Approve button of one approval message."""

    body: bytes
    intent: str
    ts: str
    username: str
    slack_user_id: str


@dataclass(frozen=True)
class Sent:
    click: Click
    sent_at: float  # monotonic, the clock the stack process stamps arrivals with
    ack_seconds: float
    status: int
    late_seconds: float  # how far behind its schedule the request left


async def send_clicks(
    urls: Sequence[str], signing_secret: str, clicks: Sequence[Click], rate: float
) -> list[Sent]:
    """POST each click at its slot of an open-loop schedule (a slow answer delays no later click),
    timing each until its HTTP answer is read. Clicks take turns over ``urls``, as a load
    balancer would spread them over replicas."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic() + 0.05
        pending: list[asyncio.Task[Sent]] = []
        for index, click in enumerate(clicks):
            due = start + index / rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            url = urls[index % len(urls)]
            pending.append(asyncio.create_task(_send(session, url, signing_secret, click, due)))
        return list(await asyncio.gather(*pending))


async def _send(
    session: aiohttp.ClientSession, url: str, signing_secret: str, click: Click, due: float
) -> Sent:
    headers = sign(signing_secret, click.body)
    headers["Content-Type"] = FORM
    sent_at = time.monotonic()
    async with session.post(url, data=click.body, headers=headers) as reply:
        await reply.read()
        status = reply.status
    return Sent(click, sent_at, time.monotonic() - sent_at, status, sent_at - due)


def approval_event(
    info: StackInfo, intent: str, environment: str, required_approvals: int
) -> dict[str, Any]:
    """Forest's approval-required event, as LocalStack.announce builds it."""
    return sample_event(
        info.organisation, info.project, intent, environment, required_approvals, info.author
    )


async def publish_events(
    nc: NATS, subject: str, events: Sequence[dict[str, Any]], gap: float = 0.0
) -> dict[str, float]:
    """Publish each event (``gap`` seconds apart, or all at once); returns when each left, by
    release intent."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for index, event in enumerate(events):
        if gap:
            wait = start + index * gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        sent[event["release_intent_id"]] = time.monotonic()
        await nc.publish(
            subject, json.dumps(event).encode(), headers={"Nats-Msg-Id": event["event_id"]}
        )
        if gap:
            await nc.flush()
    await nc.flush()
    return sent


async def publish_nudges(
    nc: NATS, intents: Sequence[str], total: int, seconds: float, batches: int = 100
) -> tuple[float, float]:
    """``total`` forest.intent.evaluate nudges, round-robin over ``intents``, spread evenly over
    ``seconds``; returns (first sent, last sent)."""
    per_batch = total // batches
    start = time.monotonic()
    sent = 0
    for batch in range(batches):
        wait = start + batch * seconds / batches - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        for _ in range(per_batch):
            await nc.publish(EVALUATE_SUBJECT, intents[sent % len(intents)].encode())
            sent += 1
        await nc.flush()
    return start, time.monotonic()


async def publish_outcomes(nc: NATS, intents: Sequence[str]) -> float:
    """Forest's pipeline-complete status for each intent: every release deployed."""
    payload = json.dumps(
        {"pipeline_update": True, "pipeline_complete": True, "intent_status": "SUCCEEDED"}
    ).encode()
    started = time.monotonic()
    for index, intent in enumerate(intents):
        await nc.publish(STATUS_SUBJECT.format(intent=intent), payload)
        if index % 500 == 499:
            await nc.flush()
    await nc.flush()
    return started
