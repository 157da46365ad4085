"""Staying inside Slack's rate limits: each call waits for its turn before Slack would refuse it.

Slack limits each Web API method per workspace by tier and ``chat.postMessage`` per channel
(/work/shared/platform-notes.md). A release train (dozens of releases blocked at once, a few
reviewers clicking through them) asks for more than that, so calls queue here, per limit
("lane"), and leave as the budget allows:

- the most urgent first: what a person waits for (private answers, modals, a new approval
  message, an outcome), then a vote's reply in its thread, last an update that only refreshes
  a tally (``Priority``); a less urgent call also leaves a token or two in the bucket, so that
  an urgent call of another replica finds one;
- updates of one message coalesce: while one waits, a newer state replaces it, and every
  caller is answered when the newest is shown;
- thread replies waiting in one thread leave as one message ("✅ bob approved · ✅ carol
  approved"), so the record stays complete with fewer posts;
- a 429 that still comes (another app, a restart, a budget guessed too high) stops the lane for
  Retry-After and the call is queued again; nothing is dropped.

The budget itself (``Budget``) is either this process's (``LocalBudget``) or shared by every
replica through NATS KV (bot/slack/shared_budget.py): Slack counts per workspace, not per
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

log = logging.getLogger(__name__)

Reply = dict[str, Any]
Send = Callable[[str, dict[str, Any]], Awaitable[Reply]]

POST_METHOD = "chat.postMessage"
# A 429 for the same call this many times in a row ends it (raised to the caller).
MAX_RATE_LIMITED_ATTEMPTS = 8
# Merged thread replies stay well inside Slack's 4,000 characters of text.
MERGED_TEXT_LIMIT = 3500
REPLY_SEPARATOR = " · "


class Priority(enum.IntEnum):
    """Who waits for a call, most urgent first."""

    PERSON = 0  # a private answer, a modal, a new approval message, an outcome
    RECORD = 1  # a vote's reply in the thread
    REFRESH = 2  # an update that only refreshes a tally


# The share of a bucket a call leaves for more urgent calls (of any replica): a tally's refresh
# takes from the top half only, so an outcome that comes in a train finds tokens waiting.
RESERVE: Mapping[Priority, float] = {
    Priority.PERSON: 0.0,
    Priority.RECORD: 0.25,
    Priority.REFRESH: 0.5,
}


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_second``."""

    per_second: float
    burst: float

    @classmethod
    def per_minute(cls, calls: float, burst: float) -> Limit:
        return cls(calls / 60.0, burst)

    def scaled(self, factor: float) -> Limit:
        return Limit(self.per_second * factor, self.burst * factor)


# What the bot assumes of Slack: the documented rates, with bursts a little smaller than Slack
# allows (bot/local/fake_slack_limits.py models those), so that jitter in when calls arrive
# never tips one over.
TIER_3 = Limit.per_minute(50, burst=8)
TIER_4 = Limit.per_minute(100, burst=16)
CHANNEL_POSTS = Limit(1.0, burst=4)
METHOD_LIMITS: Mapping[str, Limit] = {
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "reactions.add": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.open": TIER_3,
    "users.lookupByEmail": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
    "users.info": TIER_4,
}


@dataclass(frozen=True)
class Limits:
    methods: Mapping[str, Limit] = field(default_factory=lambda: dict(METHOD_LIMITS))
    channel_posts: Limit = CHANNEL_POSTS

    def scaled(self, factor: float) -> Limits:
        """Every limit ``factor`` times as generous (benchmarks that are not about limits)."""
        return Limits(
            {m: limit.scaled(factor) for m, limit in self.methods.items()},
            self.channel_posts.scaled(factor),
        )

    def lane_of(self, method: str, channel: str | None) -> tuple[str, Limit] | None:
        """The bucket a call draws from (its key and limit); None for an unlimited method."""
        if method == POST_METHOD:
            return f"{POST_METHOD}.{channel or '-'}", self.channel_posts
        limit = self.methods.get(method)
        return None if limit is None else (method, limit)


@dataclass(frozen=True)
class BucketState:
    """A bucket's level at a moment, and until when Slack told us to wait (Retry-After)."""

    level: float
    at: float
    blocked_until: float = 0.0

    @classmethod
    def full(cls, limit: Limit, now: float) -> BucketState:
        return cls(limit.burst, now)

    def take(self, limit: Limit, now: float, reserve: float) -> tuple[float, BucketState]:
        """Take one token unless that leaves fewer than ``reserve``: (0, the new state), or
        (the seconds until it could, the state unchanged)."""
        if now < self.blocked_until:
            return self.blocked_until - now, self
        level = min(limit.burst, self.level + max(0.0, now - self.at) * limit.per_second)
        needed = 1.0 + min(reserve, max(0.0, limit.burst - 1.0))
        if level >= needed:
            return 0.0, BucketState(level - 1.0, now, self.blocked_until)
        return (needed - level) / limit.per_second, self

    def held_off(self, limit: Limit, now: float, seconds: float) -> BucketState:
        """Slack refused a call and asked for ``seconds``: empty, and closed until then."""
        until = max(self.blocked_until, now + seconds)
        return BucketState(0.0, until, until)


class Budget(Protocol):
    async def take(self, key: str, limit: Limit, reserve: float) -> float:
        """Take one call's token from ``key``'s bucket, leaving at least ``reserve``: 0 when
        taken, else the seconds to wait before asking again."""
        ...

    async def hold_off(self, key: str, limit: Limit, seconds: float) -> None:
        """Slack answered 429 with Retry-After ``seconds``: nobody takes from ``key`` until then."""
        ...


class LocalBudget:
    """This process's own buckets (one replica, or tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, BucketState] = {}

    async def take(self, key: str, limit: Limit, reserve: float) -> float:
        return self.take_now(key, limit, reserve)

    def take_now(self, key: str, limit: Limit, reserve: float) -> float:
        now = self._clock()
        state = self._buckets.get(key) or BucketState.full(limit, now)
        wait, self._buckets[key] = state.take(limit, now, reserve)
        return wait

    async def hold_off(self, key: str, limit: Limit, seconds: float) -> None:
        now = self._clock()
        state = self._buckets.get(key) or BucketState.full(limit, now)
        self._buckets[key] = state.held_off(limit, now, seconds)


class RateLimited(Exception):
    """Slack answered 429; the sender raises this for the pacer to wait and try again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after


class NotSent(Exception):
    """The pacer stopped before the call could be made."""


@dataclass(frozen=True)
class Call:
    """One Web API call, and how it may be paced."""

    method: str
    args: dict[str, Any]
    priority: Priority = Priority.PERSON
    # chat.update: only the newest state of the message is sent.
    coalesce: bool = False
    # A thread reply: may leave merged with the other replies waiting in its thread.
    merge: bool = False
    # Asked just before the call leaves: False drops it (answered {"ok": True, "skipped":
    # True}), for an update that another replica may have overtaken while it waited.
    still_wanted: Callable[[], Awaitable[bool]] | None = field(default=None, compare=False)

    @property
    def channel(self) -> str | None:
        channel = self.args.get("channel")
        return str(channel) if channel else None

    @property
    def serial(self) -> Hashable | None:
        """Calls with the same serial leave one at a time, in order: updates of one message,
        replies in one thread."""
        if self.coalesce:
            return ("message", self.channel, self.args.get("ts"))
        if self.merge:
            return ("thread", self.channel, self.args.get("thread_ts"))
        return None


@dataclass(eq=False)
class _Job:
    call: Call
    seq: int
    waiters: list[asyncio.Future[Reply]]
    attempts: int = 0

    @property
    def priority(self) -> Priority:
        return self.call.priority

    def resolve(self, reply: Reply) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(reply)

    def fail(self, error: BaseException) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(error)
                # A caller that stopped waiting must not leave "exception never retrieved".
                waiter.exception()


@dataclass(eq=False)
class _Lane:
    key: str
    limit: Limit
    pending: list[_Job] = field(default_factory=list)
    busy: set[Hashable] = field(default_factory=set)
    # Calls had to wait for the budget since the lane was last empty: replies merge then.
    pressed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None

    def next_job(self) -> tuple[_Job, Priority] | None:
        """The call to make next and the priority it goes with. Calls of one message or thread
        leave in the order they came, with the priority of the most urgent among them."""
        heads: dict[Hashable, tuple[_Job, Priority]] = {}
        candidates: list[tuple[_Job, Priority]] = []
        for job in self.pending:
            serial = job.call.serial
            if serial is None:
                candidates.append((job, job.priority))
            elif serial not in self.busy:
                head = heads.get(serial)
                if head is None:
                    heads[serial] = (job, job.priority)
                else:
                    first = head[0] if head[0].seq < job.seq else job
                    heads[serial] = (first, min(head[1], job.priority))
        candidates.extend(heads.values())
        return min(candidates, key=lambda c: (c[1], c[0].seq), default=None)

    def waiting_update(self, serial: Hashable) -> _Job | None:
        return next((j for j in self.pending if j.call.coalesce and j.call.serial == serial), None)

    @property
    def idle(self) -> bool:
        return not self.pending and not self.busy


class Pacer:
    """Sends calls through ``send`` no faster than ``limits`` and ``budget`` allow."""

    def __init__(
        self,
        send: Send,
        budget: Budget,
        limits: Limits | None = None,
    ) -> None:
        self._send = send
        self._budget = budget
        self._limits = limits or Limits()
        self._lanes: dict[str, _Lane] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._seq = itertools.count()
        self._closed = False  # no new calls
        self._stopped = False  # no more sending
        # What it saw, for metrics and the benchmark.
        self.rate_limited = 0
        self.coalesced = 0
        self.merged = 0

    async def call(self, call: Call) -> Reply:
        """Make the call when its turn comes; Slack's answer (or error) is the caller's."""
        if self._closed:
            raise NotSent(call.method)
        lane_of = self._limits.lane_of(call.method, call.channel)
        if lane_of is None:
            return await self._send(call.method, call.args)
        lane = self._lane(*lane_of)
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        waiting = lane.waiting_update(call.serial) if call.coalesce else None
        if waiting is not None:
            # Only the newest state of a message is worth sending; it answers both callers.
            self.coalesced += 1
            waiting.call = replace(call, priority=min(call.priority, waiting.priority))
            waiting.waiters.append(waiter)
        else:
            lane.pending.append(_Job(call, next(self._seq), [waiter]))
        self._poke(lane)
        return await waiter

    def waiting(self) -> int:
        """Calls queued, not yet sent."""
        return sum(len(lane.pending) for lane in self._lanes.values())

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued call has been made (True), or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while not all(lane.idle for lane in self._lanes.values()):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Make what is queued (for at most ``timeout``), then stop; the rest fail NotSent."""
        self._closed = True
        await self.drain(timeout)
        self._stopped = True
        for lane in self._lanes.values():
            if lane.pump is not None:
                lane.pump.cancel()
            for job in lane.pending:
                job.fail(NotSent(job.call.method))
            lane.pending.clear()
        for task in list(self._sending):
            task.cancel()
        pumps = [lane.pump for lane in self._lanes.values() if lane.pump is not None]
        await asyncio.gather(*pumps, *self._sending, return_exceptions=True)

    # Inside

    def _lane(self, key: str, limit: Limit) -> _Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key, limit)
        return lane

    def _poke(self, lane: _Lane) -> None:
        lane.changed.set()
        if lane.pump is None or lane.pump.done():
            lane.pump = asyncio.create_task(self._pump(lane), name=f"pace {lane.key}")

    async def _pump(self, lane: _Lane) -> None:
        while lane.pending:
            lane.changed.clear()
            chosen = lane.next_job()
            if chosen is None:
                await lane.changed.wait()  # each waiting call's message or thread is busy
                continue
            job, priority = chosen
            try:
                reserve = RESERVE[priority] * lane.limit.burst
                wait = await self._budget.take(lane.key, lane.limit, reserve)
            except Exception:
                log.exception("the Slack budget could not be read; waiting a moment")
                wait = 1.0 / lane.limit.per_second
            if wait > 0:
                lane.pressed = True
                # A more urgent call arriving, or a busy message freed, may change the choice.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.changed.wait(), wait)
                continue
            lane.pending.remove(job)
            if job.call.merge and lane.pressed:
                job = self._merge(lane, job)
            if job.call.serial is not None:
                lane.busy.add(job.call.serial)
            task = asyncio.create_task(self._dispatch(lane, job))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        lane.pressed = False

    def _merge(self, lane: _Lane, first: _Job) -> _Job:
        """``first`` (the oldest reply waiting in its thread) and the replies after it, as one."""
        thread = first.call.serial
        others = sorted(
            (j for j in lane.pending if j.call.merge and j.call.serial == thread),
            key=lambda j: j.seq,
        )
        group = [first]
        length = len(str(first.call.args.get("text") or ""))
        for job in others:
            extra = len(str(job.call.args.get("text") or "")) + len(REPLY_SEPARATOR)
            if length + extra > MERGED_TEXT_LIMIT:
                break
            group.append(job)
            length += extra
        if len(group) == 1:
            return first
        for job in group[1:]:
            lane.pending.remove(job)
        group.sort(key=lambda j: j.seq)
        self.merged += len(group) - 1
        text = merge_replies([str(j.call.args.get("text") or "") for j in group])
        merged = replace(
            group[0].call,
            args={**group[0].call.args, "text": text},
            priority=min(j.priority for j in group),
        )
        return _Job(merged, group[0].seq, [w for j in group for w in j.waiters])

    async def _dispatch(self, lane: _Lane, job: _Job) -> None:
        try:
            wanted = job.call.still_wanted
            if wanted is not None and not await wanted():
                job.resolve({"ok": True, "skipped": True})
                return
            reply = await self._send(job.call.method, job.call.args)
        except RateLimited as limited:
            self.rate_limited += 1
            await self._rate_limited(lane, job, limited)
        except asyncio.CancelledError:
            job.fail(NotSent(job.call.method))
            raise
        except Exception as error:
            job.fail(error)
        else:
            job.resolve(reply)
        finally:
            if job.call.serial is not None:
                lane.busy.discard(job.call.serial)
            if not self._stopped:
                self._poke(lane)

    async def _rate_limited(self, lane: _Lane, job: _Job, limited: RateLimited) -> None:
        log.warning(
            "Slack answered 429 for %s; waiting %.1fs", job.call.method, limited.retry_after
        )
        with contextlib.suppress(Exception):
            await self._budget.hold_off(lane.key, lane.limit, limited.retry_after)
        job.attempts += 1
        if job.attempts >= MAX_RATE_LIMITED_ATTEMPTS:
            job.fail(limited)
            return
        newer = lane.waiting_update(job.call.serial) if job.call.coalesce else None
        if newer is not None:
            # A newer state waits already: it answers this call's callers too, in its place.
            newer.waiters.extend(job.waiters)
            newer.seq = min(newer.seq, job.seq)
            return
        lane.pending.append(job)


def merge_replies(texts: list[str]) -> str:
    """Thread replies as one message: one line of "a · b · c", a reply of several lines on
    lines of its own."""
    if any("\n" in text for text in texts):
        return "\n".join(texts)
    return REPLY_SEPARATOR.join(texts)
