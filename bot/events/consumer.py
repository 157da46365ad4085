"""The durable JetStream consumer of forest's approval-required events.

Explicit acks. A transient failure is redelivered later with a growing delay; a message that can
never succeed (poison, or a channel Slack refuses) is copied to the dead-letter subject with the
reason, terminated, counted, and the consumer goes on with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from bot.approvals.announcer import Announcer
from bot.approvals.one_message import Announced
from bot.events.approval_required import PoisonEvent, parse_approval_required, subject_matches
from bot.runtime.metrics import Metrics
from bot.slack.web import SlackRefusedForGood

log = logging.getLogger(__name__)

STREAM = "FOREST_APPROVALS"
STREAM_SUBJECTS = ["forest.approval.>"]
SUBJECT = "forest.approval.required.*.*"
DEADLETTER_SUBJECT = "forest.approval.deadletter"
DURABLE = "approvals-bot"
ACK_WAIT_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0
MAX_REDELIVERY_DELAY = 60.0
BUSY_DELAY_SECONDS = 5.0
# After a fetch that found events, the next one only takes what is already waiting: this is
# how long it may wait for an answer (and for late arrivals) before the consumer goes back to
# waiting for one event.
DRAIN_SECONDS = 0.02


def redelivery_delay(num_delivered: int) -> float:
    return min(2.0 ** max(num_delivered - 1, 0), MAX_REDELIVERY_DELAY)


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the stream when it is missing; an existing one is the operator's to configure."""
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(
            StreamConfig(name=STREAM, subjects=STREAM_SUBJECTS, duplicate_window=120.0)
        )


class ApprovalConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        announcer: Announcer,
        metrics: Metrics,
        batch: int = 32,
        fetch_timeout: float = 1.0,
        ack_wait: float = ACK_WAIT_SECONDS,
    ) -> None:
        self._ack_wait = ack_wait
        # Well inside the ack wait, so that one late heartbeat does not cause a redelivery.
        self._heartbeat_seconds = min(HEARTBEAT_SECONDS, ack_wait / 3)
        self._js = js
        self._announcer = announcer
        self._metrics = metrics
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._subscription: JetStreamContext.PullSubscription | None = None
        # Events being handled (by id: a Msg is not hashable), which the heartbeat keeps
        # from being redelivered.
        self._in_hand: dict[int, Msg] = {}
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()

    async def open(self) -> None:
        await ensure_stream(self._js)
        config = ConsumerConfig(
            durable_name=DURABLE,
            filter_subject=SUBJECT,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            max_ack_pending=1000,
        )
        # An existing consumer with another config is an operator's tuning: bind to it as it is.
        with contextlib.suppress(nats.js.errors.BadRequestError):
            await self._js.add_consumer(STREAM, config)
        self._subscription = await self._js.pull_subscribe_bind(durable=DURABLE, stream=STREAM)

    async def run(self) -> None:
        """Fetch and handle batches until ``stop``; the batch in hand is always finished."""
        assert self._subscription is not None, "open() first"
        backlog = False
        heartbeat = asyncio.create_task(_keep_alive(self._in_hand, self._heartbeat_seconds))
        try:
            while not self._stopping.is_set():
                messages = await self._fetch(backlog)
                backlog = bool(messages)
                await asyncio.gather(*(self._handle(msg) for msg in messages))
        finally:
            heartbeat.cancel()
            self._stopped.set()

    async def _fetch(self, backlog: bool) -> list[Msg]:
        """The next events; empty when none arrived or the fetch failed (it is logged).

        Idle, the consumer waits for ONE event: nats-py returns that at once, whereas a batch
        fetch that catches its first event while waiting goes on waiting for more (a lone event
        was held about 100 ms that way). With a backlog it takes up to a batch of what is
        already there.
        """
        assert self._subscription is not None
        size, timeout = (self._batch, DRAIN_SECONDS) if backlog else (1, self._fetch_timeout)
        try:
            return await self._subscription.fetch(size, timeout=timeout)
        except TimeoutError:
            # Nothing arrived. nats-py raises its own TimeoutError, but also the plain one
            # when the server's "request timeout" answer uses up the deadline; letting that
            # escape would end this loop and the bot's consumption.
            return []
        except (
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.NoRespondersError,
            nats.js.errors.APIError,
        ) as error:
            log.warning("fetch failed, retrying: %s", type(error).__name__)
        except Exception:
            # Whatever else a fetch throws must not end consumption for good.
            log.exception("fetch failed unexpectedly, retrying")
        await asyncio.sleep(1.0)
        return []

    async def stop(self) -> None:
        """Stop fetching, let the batch in hand finish, release the subscription."""
        self._stopping.set()
        await self._stopped.wait()
        if self._subscription is not None:
            # Unsubscribing first keeps a later drain from waiting out its whole timeout.
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _handle(self, msg: Msg) -> None:
        try:
            request = parse_approval_required(msg.data)
            subject_matches(msg.subject, request.organisation, request.project)
        except PoisonEvent as error:
            await self._set_aside(msg, "poison", str(error))
            return
        fields = {**request.key.log_fields, "event_id": request.event_id}
        self._in_hand[id(msg)] = msg
        try:
            result = await self._announcer.announce(request)
        except SlackRefusedForGood as error:
            await self._set_aside(msg, "slack_refused", str(error))
            return
        except Exception as error:
            delay = redelivery_delay(msg.metadata.num_delivered)
            log.warning(
                "announcing failed, redelivering in %.0fs: %s",
                delay,
                _describe(error),
                extra=fields,
            )
            self._metrics.events.labels(result="retried").inc()
            await msg.nak(delay=delay)
            return
        finally:
            self._in_hand.pop(id(msg), None)
        if result == Announced.BUSY:
            self._metrics.events.labels(result="busy").inc()
            await msg.nak(delay=BUSY_DELAY_SECONDS)
            return
        await msg.ack()
        self._metrics.events.labels(result=result.value).inc()
        if result == Announced.POSTED:
            self._metrics.messages_posted.inc()
        log.info("approval %s", result.value, extra={**fields, "outcome": result.value})

    async def _set_aside(self, msg: Msg, reason: str, detail: str) -> None:
        headers = {
            "Forest-Original-Subject": msg.subject,
            "Forest-Set-Aside-Reason": reason,
            "Forest-Set-Aside-Detail": detail[:1024],
        }
        try:
            await self._js.publish(DEADLETTER_SUBJECT, msg.data, headers=headers)
        except Exception as error:
            # Not copied aside, so not dropped either: it comes back later.
            log.error("could not set an event aside, redelivering: %s", _describe(error))
            await msg.nak(delay=redelivery_delay(msg.metadata.num_delivered))
            return
        await msg.term()
        self._metrics.set_aside.labels(reason=reason).inc()
        log.error(
            "event set aside (%s): %s",
            reason,
            detail,
            extra={"subject": msg.subject, "outcome": "set_aside"},
        )


async def _keep_alive(in_hand: dict[int, Msg], every: float) -> None:
    """Tell JetStream we are still working on the events in hand, so that a slow Slack does
    not cause a redelivery. One task serves them all, rather than one started per event."""
    while True:
        await asyncio.sleep(every)
        for msg in list(in_hand.values()):
            with contextlib.suppress(Exception):
                await msg.in_progress()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
