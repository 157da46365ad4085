"""The replies a message's thread is owed: posted when Slack's limits allow, and never lost.

Approvals and plans both use it, each with an outbox of its own (bot/wiring.py): its store of
records, the index that watches them, and the locks its keeper writes those records under.

A change a keeper records (an approval's decision, the approval, an outcome; a plan's decision,
its end) and the replies that report it are written in one compare-and-swap: the record carries
them in ``owed`` (bot/state/owed.py). The process whose swap won posts them, in order, through
the door (paced, they wait their turn inside Slack's limits and leave merged when several wait
in one thread), and removes each from the record once Slack took it. While they wait it renews
its hold on them, so no other replica takes them from a live process.

A process that dies (SIGKILL, an OOM kill, a lost machine) leaves its replies in the record,
held by nobody alive. Every replica looks for replies held longer ago than the grace period
(the index of the records' watch: bot/approvals/open_approvals.py, bot/plans/open_plans.py),
takes them over with a compare-and-swap, so that one replica wins, and posts them. A reply
Slack did not take (no answer, a refusal that may pass) is left the same way and tried again
after the grace period.

So a reply is never lost, and rarely posted twice: a process that dies after Slack took a reply
and before removing it, or a post Slack carried out but whose answer never came, leaves a reply
that is posted again. Slack refusing a reply for good (the channel is gone) drops it, logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.tasks import TaskSet
from bot.slack.pacing import Priority
from bot.slack.web import STOPPING, SlackError, SlackRefusedForGood, SlackWeb
from bot.state.errors import StoreUnavailable
from bot.state.owed import OwedReply, OwingIndex, OwingKey, OwingRecord, OwingStore
from bot.state.records import StaleRevision, Stored

log = logging.getLogger(__name__)

# A reply held longer ago than this belongs to a process that died (or gave up on it). Its
# holder renews it every third of this while it waits for Slack, even when the keeper holds
# the record for a slow update meanwhile.
REPLY_GRACE_SECONDS = 60.0
# A reply taken this many times without Slack taking it is given up (logged).
MAX_REPLY_ATTEMPTS = 5
MAX_SWAP_ATTEMPTS = 8
# Settling waits at most this share of the grace for the keeper's lock: renewed every third of
# the grace, a hold is then never older than half of it.
LOCK_WAIT_SHARE = 6
STORE_RETRY_SECONDS = 1.0

Reply = tuple[str, bool]  # its text, and whether people wait for it (see OwedReply.urgent)

K = TypeVar("K", bound=OwingKey)
R = TypeVar("R", bound=OwingRecord[Any])


@dataclass(eq=False)
class _Thread(Generic[K]):
    """This process's replies in one message's thread: posting, or taken by Slack and still
    to be removed from the record."""

    key: K
    channel: str
    ts: str
    held_at: float
    sending: dict[str, OwedReply] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Outbox(Generic[K, R]):
    """The thread replies of one kind of record (approvals, or plans)."""

    def __init__(
        self,
        store: OwingStore[K, R],
        web: SlackWeb,
        owner: str,
        index: OwingIndex[K],
        locks: KeyedLocks,
        tasks: TaskSet,
        clock: Callable[[], float] = time.time,
        grace: float = REPLY_GRACE_SECONDS,
    ) -> None:
        self._store = store
        self._web = web
        self._owner = owner
        self._index = index
        # The keeper's locks: in this process, one write of a record at a time, so removing a
        # posted reply does not make a vote's compare-and-swap fail (waited for briefly: _write).
        self._locks = locks
        self._tasks = tasks
        self._clock = clock
        self._grace = grace
        self._threads: dict[K, _Thread[K]] = {}
        self._taking: set[K] = set()

    def owe(self, replies: Sequence[Reply]) -> tuple[OwedReply, ...]:
        """``replies`` as this process holds them, for the compare-and-swap that records the
        change they report."""
        now = self._clock()
        return tuple(
            OwedReply(uuid.uuid4().hex, text, urgent, self._owner, now) for text, urgent in replies
        )

    async def send(self, record: R, replies: Sequence[OwedReply]) -> None:
        """Post ``replies``, which the written ``record`` owes, in order. Paced, they wait their
        turn in the door and this returns at once; otherwise they are posted here one by one."""
        if not replies:
            return
        thread = self._thread(record)
        for reply in replies:
            thread.sending[reply.id] = reply
        if self._web.paced:
            # Spawned in order, they reach the door in order, and leave in it.
            for reply in replies:
                self._tasks.spawn(self._post(thread, reply), name="thread reply")
            return
        for reply in replies:
            await self._post(thread, reply)

    async def run(self) -> None:
        """Until cancelled: take over the replies that no live process holds, and post them."""
        while True:
            await self._index.loaded.wait()
            for key in self._index.owed_held_before(self._clock() - self._grace):
                if key not in self._taking:
                    self._taking.add(key)
                    self._tasks.spawn(self._take_over(key), name=f"owed replies {key.token}")
            await asyncio.sleep(self._grace / 4)

    # Posting

    def _thread(self, record: R) -> _Thread[K]:
        thread = self._threads.get(record.key)
        if thread is None:
            thread = _Thread(record.key, record.channel, record.ts, held_at=self._clock())
            self._threads[record.key] = thread
            self._tasks.spawn(self._settle(thread), name=f"settle replies {record.key.token}")
        return thread

    async def _post(self, thread: _Thread[K], reply: OwedReply) -> None:
        try:
            await self._web.post_message(
                thread.channel,
                reply.text,
                thread_ts=thread.ts,
                priority=Priority.PERSON if reply.urgent else Priority.RECORD,
            )
        except SlackRefusedForGood as error:
            log.error("could not post a thread reply: %s", error.code, extra=thread.key.log_fields)
            thread.done.add(reply.id)  # no retry changes Slack's mind
        except SlackError as error:
            # Left in the record, no longer renewed: tried again after the grace period (by
            # another process, when this one is stopping).
            log.log(
                logging.INFO if error.code == STOPPING else logging.WARNING,
                "could not post a thread reply yet: %s; it is tried again later",
                error.code,
                extra=thread.key.log_fields,
            )
        else:
            thread.done.add(reply.id)
        finally:
            thread.sending.pop(reply.id, None)
            thread.changed.set()

    async def _settle(self, thread: _Thread[K]) -> None:
        """Remove what Slack took from the record, and renew the hold on what still waits, until
        this process has nothing in the thread."""
        renew_every = self._grace / 3
        while True:
            thread.changed.clear()
            due = thread.sending and self._clock() - thread.held_at >= renew_every
            if thread.done or due:
                try:
                    written = await self._write(thread)
                except StoreUnavailable as error:
                    log.warning("could not settle thread replies yet: %s", error)
                    written = False
                if not written:
                    await asyncio.sleep(STORE_RETRY_SECONDS)
                continue
            if not thread.sending:
                del self._threads[thread.key]
                return
            wait = max(0.0, thread.held_at + renew_every - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(thread.changed.wait(), wait)

    async def _write(self, thread: _Thread[K]) -> bool:
        """One compare-and-swap: what Slack took leaves the record, what waits is held anew.
        False when concurrent writes kept winning.

        The keeper's lock is waited for only briefly: the keeper holds it while an update of
        the message waits its turn inside Slack's limits, which can take longer than the grace,
        and a hold not renewed by then lets another replica post these replies a second time.
        Without the lock the compare-and-swap still decides, and the keeper writes its change
        again on top of this one (write_over_settled, bot/state/owed.py)."""
        async with self._locks.hold_within(thread.key, self._grace / LOCK_WAIT_SHARE):
            for _ in range(MAX_SWAP_ATTEMPTS):
                stored = await self._store.get(thread.key)
                done, now = set(thread.done), self._clock()
                if stored is not None:
                    owed = tuple(self._settled(stored.record.owed, thread, done, now))
                    try:
                        await self._store.replace(stored, replace(stored.record, owed=owed))
                    except StaleRevision:
                        continue
                thread.done -= done
                thread.held_at = now
                return True
        return False

    def _settled(
        self, owed: Sequence[OwedReply], thread: _Thread[K], done: set[str], now: float
    ) -> list[OwedReply]:
        kept = []
        for reply in owed:
            if reply.id in done:
                continue
            if reply.id in thread.sending and reply.holder == self._owner:
                reply = replace(reply, held_at=now)
            kept.append(reply)
        return kept

    # Taking over

    async def _take_over(self, key: K) -> None:
        try:
            taken = await self._take(key)
            if taken is not None:
                stored, replies = taken
                log.warning(
                    "posting thread replies that no live process holds",
                    extra={**key.log_fields, "replies": len(replies)},
                )
                await self.send(stored.record, replies)
        except StoreUnavailable as error:
            log.warning("could not take over thread replies yet: %s", error)
        finally:
            self._taking.discard(key)

    async def _take(self, key: K) -> tuple[Stored[R], list[OwedReply]] | None:
        """Hold the replies of ``key`` that nobody alive holds (one compare-and-swap, which one
        replica wins); None when there are none."""
        async with self._locks.hold(key):
            for _ in range(MAX_SWAP_ATTEMPTS):
                stored = await self._store.get(key)
                if stored is None:
                    return None
                now = self._clock()
                thread = self._threads.get(key)
                mine = set(thread.sending) if thread is not None else set()
                stale = {
                    reply.id
                    for reply in stored.record.owed
                    if reply.held_at <= now - self._grace and reply.id not in mine
                }
                if not stale:
                    return None
                owed: list[OwedReply] = []
                taken: list[OwedReply] = []
                for reply in stored.record.owed:
                    if reply.id not in stale:
                        owed.append(reply)
                    elif reply.attempts >= MAX_REPLY_ATTEMPTS:
                        log.error(
                            "gave up a thread reply Slack did not take %d times",
                            reply.attempts,
                            extra=key.log_fields,
                        )
                    else:
                        held = replace(
                            reply, holder=self._owner, held_at=now, attempts=reply.attempts + 1
                        )
                        owed.append(held)
                        taken.append(held)
                try:
                    written = await self._store.replace(
                        stored, replace(stored.record, owed=tuple(owed))
                    )
                except StaleRevision:
                    continue  # another replica took them, or the record moved on: look again
                return (written, taken) if taken else None
        return None
