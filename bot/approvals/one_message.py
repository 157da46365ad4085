"""Posting ONE Slack message for a record, however many replicas try: an approval's or a plan's.

The claim is a create-if-absent on the record's KV key, so across every replica only one process
posts. A process can die after claiming and before recording the message's ts; then the claim goes
stale and another process takes it over with compare-and-swap. Before posting again it looks in
the channel for a message carrying this record's metadata, which the dead process may have
posted. And a process that finds its claim taken over after posting deletes its own message, so
even a slow post that outlived its claim leaves one message. A post waiting for forest's reads
or its turn inside Slack's rate limits keeps its claim fresh meanwhile, so a live process is not
taken over.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from bot.slack.web import SlackRefused, SlackWeb
from bot.state.records import Phase, StaleRevision, Stored

log = logging.getLogger(__name__)

# A claim older than this, still without a message, belongs to a process that died.
CLAIM_TIMEOUT_SECONDS = 30.0
TAKEOVER_WAIT_STEPS = 20
TAKEOVER_WAIT_STEP_SECONDS = 0.5
# A click can arrive before the poster has recorded the message's ts: it waits this long.
POSTING_WAIT_STEPS = 40
POSTING_WAIT_STEP_SECONDS = 0.05
# A reply in the thread of a message posted this recently may come before the poster recorded
# which record the message shows.
JUST_POSTED_SECONDS = 10.0


class Announced(enum.StrEnum):
    POSTED = "posted"
    ALREADY_POSTED = "already_posted"
    BUSY = "busy"  # another process holds a fresh claim: try again later


class _Key(Protocol):
    @property
    def log_fields(self) -> dict[str, str]: ...


class Claimed(Protocol):
    """What a record of a posted message holds (frozen dataclasses: ApprovalRecord,
    PlanRecord)."""

    @property
    def key(self) -> Any: ...

    @property
    def channel(self) -> str: ...

    @property
    def phase(self) -> Phase: ...

    @property
    def owner(self) -> str: ...

    @property
    def claimed_at(self) -> float: ...

    @property
    def ts(self) -> str: ...


Record = TypeVar("Record", bound=Claimed)
Found = TypeVar("Found")


class Records(Protocol[Record]):
    """The store of such records (ApprovalStore, PlanStore)."""

    async def claim(self, record: Record) -> Stored[Record] | None: ...

    async def get(self, key: Any) -> Stored[Record] | None: ...

    async def replace(self, stored: Stored[Record], record: Record) -> Stored[Record]: ...

    async def remember_message(self, channel: str, ts: str, key: Any) -> None: ...


@dataclass(frozen=True)
class Drawn(Generic[Record]):
    """The message as it is to be posted, and the record once it is at ``ts``."""

    text: str
    blocks: list[dict[str, Any]]
    posted: Callable[[str], Record]


class OneMessage(Generic[Record]):
    def __init__(
        self,
        store: Records[Record],
        web: SlackWeb,
        owner: str,
        what: str,
        event_type: str,
        clock: Callable[[], float] = time.time,
        claim_timeout: float = CLAIM_TIMEOUT_SECONDS,
    ) -> None:
        self._store = store
        self._web = web
        self._owner = owner
        self._what = what
        self._event_type = event_type
        self._clock = clock
        self._claim_timeout = claim_timeout

    async def post_once(
        self,
        claim: Callable[[str, float], Record],
        metadata: Mapping[str, str],
        draw: Callable[[Record], Awaitable[Drawn[Record]]],
    ) -> Announced:
        """Post the message of ``claim(owner, now)`` unless some process has or is posting it.

        ``metadata`` names the record in the message's metadata, by which a taker-over finds
        a message a dead process posted; ``draw`` renders it. The caller holds the record's key
        in this process (one attempt at a time, so that our own earlier claim can be retried).
        Raises SlackRefusedForGood when Slack will never take the post; any other SlackError
        leaves the claim to be tried again later.
        """
        now = self._clock()
        fresh = claim(self._owner, now)
        stored = await self._store.claim(fresh)
        if stored is not None:
            return await self._post(stored, search_since=None, metadata=metadata, draw=draw)
        key = fresh.key
        existing = await self._store.get(key)
        if existing is None:
            return Announced.BUSY
        if existing.record.phase == Phase.POSTED:
            return Announced.ALREADY_POSTED
        ours = existing.record.owner == self._owner
        if not ours and now - existing.record.claimed_at < self._claim_timeout:
            return Announced.BUSY
        log.log(
            logging.INFO if ours else logging.WARNING,
            f"retrying our own {self._what} claim"
            if ours
            else f"taking over a stale {self._what} claim",
            extra={**key.log_fields, "previous_owner": existing.record.owner},
        )
        try:
            taken = await self._store.replace(
                existing,
                replace(existing.record, owner=self._owner, claimed_at=now),  # type: ignore[type-var]
            )
        except StaleRevision:
            return Announced.BUSY
        # The earlier post, if any, came after the claim being replaced, not after ours: a
        # retry long after (NATS away meanwhile) searched too late and posted twice.
        since = existing.record.claimed_at
        return await self._post(taken, search_since=since, metadata=metadata, draw=draw)

    async def _post(
        self,
        stored: Stored[Record],
        search_since: float | None,
        metadata: Mapping[str, str],
        draw: Callable[[Record], Awaitable[Drawn[Record]]],
    ) -> Announced:
        """Post; when ``search_since`` is given, first look for a post made since then."""
        record = stored.record
        # Held from here: the search, forest's reads for the drawing and the post itself may
        # each outlast the claim timeout (a slow forest, a post waiting its turn in Slack's
        # limits), and another process must not take a live claim over.
        async with _ClaimHolder(self._store, stored, self._claim_timeout, self._clock) as held:
            ts = (
                await self._find_posted(record, metadata, search_since)
                if search_since is not None
                else None
            )
            drawn = await draw(record)
            if ts is None:
                ts = await self._web.post_message(
                    record.channel,
                    drawn.text,
                    drawn.blocks,
                    metadata={"event_type": self._event_type, "event_payload": dict(metadata)},
                )
        stored = held.stored
        await self._store.remember_message(record.channel, ts, record.key)
        try:
            await self._store.replace(stored, drawn.posted(ts))
        except StaleRevision:
            # Our claim was taken over while we posted. The taker may have found our message
            # in the channel and kept it; if it kept another one, ours is the duplicate.
            kept = await self._wait_for_posted(record.key)
            if kept is not None and kept != ts:
                await self._withdraw(record.channel, ts)
            return Announced.ALREADY_POSTED
        return Announced.POSTED

    async def _wait_for_posted(self, key: Any) -> str | None:
        for _ in range(TAKEOVER_WAIT_STEPS):
            current = await self._store.get(key)
            if current is not None and current.record.phase == Phase.POSTED:
                return current.record.ts
            await asyncio.sleep(TAKEOVER_WAIT_STEP_SECONDS)
        return None

    async def _find_posted(
        self, record: Record, metadata: Mapping[str, str], since: float
    ) -> str | None:
        """The ts of a message a dead process posted for this record, if there is one.

        Slack refusing the search lets the post go ahead; Slack not answering (SlackUnreachable)
        is raised, and the post is tried again later."""
        try:
            messages = await self._web.history(
                record.channel,
                oldest=f"{since - self._claim_timeout * 4:.6f}",
                limit=200,
                with_metadata=True,
            )
        except SlackRefused as error:
            log.warning("cannot search the channel for an earlier post: %s", error.code)
            return None
        for message in messages:
            if self._names(message, metadata):
                return str(message["ts"])
        return None

    def _names(self, message: dict[str, Any], metadata: Mapping[str, str]) -> bool:
        found = message.get("metadata") or {}
        payload = found.get("event_payload") or {}
        return found.get("event_type") == self._event_type and all(
            payload.get(name) == value for name, value in metadata.items()
        )

    async def _withdraw(self, channel: str, ts: str) -> None:
        try:
            await self._web.delete_message(channel, ts)
        except SlackRefused as error:
            log.error("could not delete a duplicate %s message: %s", self._what, error.code)


async def posted_record(store: Records[Record], key: Any) -> Record | None:
    """Our record of ``key``'s message; waits a moment for one whose message is being posted
    (a click can arrive before the poster has recorded the message's ts)."""
    stored = None
    for _ in range(POSTING_WAIT_STEPS):
        stored = await store.get(key)
        if stored is None or stored.record.phase == Phase.POSTED:
            break
        await asyncio.sleep(POSTING_WAIT_STEP_SECONDS)
    return stored.record if stored else None


async def record_of_message(
    lookup: Callable[[], Awaitable[Found | None]],
    ts: str,
    clock: Callable[[], float] = time.time,
) -> Found | None:
    """``lookup()``: which record the message at ``ts`` shows. For a message Slack stamped in
    the last few seconds it waits a moment for one, as ``posted_record`` does for a click: a
    reply typed at once (or a Slack slow to answer the post) can arrive before the poster has
    recorded the message. Anything older is looked up once."""
    for _ in range(POSTING_WAIT_STEPS):
        found = await lookup()
        if found is not None or not _just_posted(ts, clock()):
            return found
        await asyncio.sleep(POSTING_WAIT_STEP_SECONDS)
    return None


def _just_posted(ts: str, now: float) -> bool:
    try:
        return 0 <= now - float(ts) < JUST_POSTED_SECONDS
    except ValueError:
        return False


def names_another_message(
    record: Claimed, channel: str | None, message_ts: str | None, slack_user_id: str
) -> bool:
    """Whether a click or reply naming (``channel``, ``message_ts``) names some other message
    than ``record``'s: a button copied onto another message, or a forged request."""
    if channel is None or message_ts is None:
        return False
    if channel == record.channel and message_ts == record.ts:
        return False
    log.warning(
        "refused a request naming another message",
        extra={"slack_user": slack_user_id, "channel": channel, **record.key.log_fields},
    )
    return True


class _ClaimHolder(Generic[Record]):
    """Renews a claim (its ``claimed_at``) while a post is still under way half a claim timeout
    after it began, and every third of one after that.

    A post may wait its turn in Slack's rate limits, or for forest's reads that draw it, for
    longer than the claim timeout; another process would then think this one dead and post
    again. A quick post renews nothing, so a process that dies posting is taken over as soon as
    before. ``stored`` is the claim as last written, for the compare-and-swap that records the
    message."""

    def __init__(
        self,
        store: Records[Record],
        stored: Stored[Record],
        claim_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.stored = stored
        self._store = store
        self._first = claim_timeout / 2
        self._interval = claim_timeout / 3
        self._clock = clock
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _ClaimHolder[Record]:
        self._task = asyncio.create_task(self._renew(), name="hold a claim")
        return self

    async def __aexit__(self, *_: object) -> None:
        # Not cancelled: a renewal half-way would leave the claim's revision unknown.
        self._done.set()
        if self._task is not None:
            await self._task

    async def _renew(self) -> None:
        wait = self._first
        while True:
            try:
                await asyncio.wait_for(self._done.wait(), wait)
                return
            except TimeoutError:
                wait = self._interval
            renewed = replace(self.stored.record, claimed_at=self._clock())  # type: ignore[type-var]
            try:
                self.stored = await self._store.replace(self.stored, renewed)
            except StaleRevision:
                return  # taken over after all: recording the message finds out
            except Exception:
                log.warning("could not renew a claim", exc_info=True)
