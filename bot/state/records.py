"""Records of posted Slack messages in a key-value bucket, shared by every replica.

- ``<prefix><token>``: one record. Created with create-if-absent, so exactly one process ever
  owns the right to post its message; every later write is compare-and-swap on the revision, so
  replicas never overwrite each other's newer state.
- ``<message prefix><channel>.<ts>``: which record a Slack message shows (for clicks and threads).

The approval store and the plan store are this with their own prefixes and encodings. Every
read and write JetStream does not answer raises ``StoreUnavailable`` (bot/state/errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Generic, TypeVar

import nats.js.errors
from nats.js.kv import KeyValue

from bot.state.errors import store_call

log = logging.getLogger(__name__)

Record = TypeVar("Record")
# After a watch ended, the next one starts this much later.
WATCH_RETRY_SECONDS = 1.0

# A key the bucket cannot hold (a token with characters NATS refuses) is a record nobody has.
_ABSENT = (nats.js.errors.KeyNotFoundError, nats.js.errors.InvalidKeyError)


class Phase(enum.StrEnum):
    CLAIMED = "claimed"  # a process took the right to post, and may not have posted yet
    POSTED = "posted"  # the Slack message exists at (channel, ts)


@dataclass(frozen=True)
class Stored(Generic[Record]):
    """A record with the revision it was read at, for compare-and-swap."""

    record: Record
    revision: int


class StaleRevision(Exception):
    """Someone else wrote the record since it was read: read it again."""


@dataclass(frozen=True)
class Entry:
    """One record as the watch sees it: its token, and its bytes (None once deleted)."""

    token: str
    value: bytes | None


class MessageRecords(Generic[Record]):
    def __init__(
        self,
        kv: KeyValue,
        prefix: str,
        message_prefix: str,
        token_of: Callable[[Record], str],
        encode: Callable[[Record], bytes],
        decode: Callable[[bytes], Record],
    ) -> None:
        self._kv = kv
        self._prefix = prefix
        self._message_prefix = message_prefix
        self._token_of = token_of
        self._encode = encode
        self._decode = decode

    async def claim(self, record: Record) -> Stored[Record] | None:
        """Create the record if no process has; None when it already exists."""
        with store_call("claim a record"):
            try:
                revision = await self._kv.create(
                    self._key(self._token_of(record)), self._encode(record)
                )
            except nats.js.errors.KeyWrongLastSequenceError:
                return None
        return Stored(record, revision)

    async def get(self, token: str) -> Stored[Record] | None:
        with store_call("read a record"):
            try:
                entry = await self._kv.get(self._key(token))
            except _ABSENT:
                return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(self._decode(entry.value), entry.revision)

    async def replace(self, stored: Stored[Record], record: Record) -> Stored[Record]:
        """Write ``record`` only if nobody wrote since ``stored`` was read."""
        token = self._token_of(record)
        with store_call("update a record"):
            try:
                revision = await self._kv.update(
                    self._key(token), self._encode(record), last=stored.revision
                )
            except nats.js.errors.KeyWrongLastSequenceError:
                raise StaleRevision(token) from None
        return Stored(record, revision)

    async def remember_message(self, channel: str, ts: str, token: str) -> None:
        with store_call("remember a message"):
            await self._kv.put(self._message_key(channel, ts), token.encode())

    async def token_of_message(self, channel: str, ts: str) -> str | None:
        """The token of the record the message at (channel, ts) shows; None for another one."""
        with store_call("find a message's record"):
            try:
                entry = await self._kv.get(self._message_key(channel, ts))
            except _ABSENT:
                return None
        if not entry.value:
            return None
        try:
            return entry.value.decode()
        except UnicodeDecodeError:
            return None

    async def watch(self) -> AsyncIterator[Entry | None]:
        """Every record now, then every change, across all replicas; ``None`` once, after the
        records that existed when the watch began."""
        watcher = await self._kv.watch(f"{self._prefix}>")
        try:
            async for entry in watcher:
                if entry is None:
                    yield None
                    continue
                deleted = entry.operation is not None or not entry.value
                yield Entry(entry.key.removeprefix(self._prefix), None if deleted else entry.value)
        finally:
            # After a lost connection the watch may be gone already.
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _key(self, token: str) -> str:
        return self._prefix + token

    def _message_key(self, channel: str, ts: str) -> str:
        return f"{self._message_prefix}{channel}.{ts.replace('.', '_')}"


async def keep_watching(
    mirror: Callable[[], Coroutine[object, object, None]], again: asyncio.Event, what: str
) -> None:
    """Run ``mirror`` (a watch that builds an index from a snapshot, then follows changes) until
    cancelled: afresh when it ends, and when ``again`` is set. A watch does not survive every
    NATS outage, so a reconnect sets ``again`` and a new snapshot rebuilds the index."""
    while True:
        again.clear()
        mirroring = asyncio.create_task(mirror())
        asked = asyncio.create_task(again.wait())
        try:
            await asyncio.wait({mirroring, asked}, return_when=asyncio.FIRST_COMPLETED)
            ended = mirroring.done()
        finally:
            # Also when this loop is cancelled (at shutdown): no watch outlives it.
            for task in (mirroring, asked):
                task.cancel()
            await asyncio.gather(mirroring, asked, return_exceptions=True)
        if ended:
            error = mirroring.exception()
            log.warning(
                "the %s watch ended (%s); watching again",
                what,
                type(error).__name__ if error else "closed",
            )
            await asyncio.sleep(WATCH_RETRY_SECONDS)
