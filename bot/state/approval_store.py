"""Durable state in NATS JetStream key-value buckets.

- ``approval.<key>``: the record of one approval message (its claim, channel and ts, and what it
  last showed). Created with create-if-absent, so exactly one process ever owns the right to post.
- ``message.<channel>.<ts>``: which approval a Slack message belongs to (for clicks and threads).

Writes after the claim are compare-and-swap on the revision, so replicas never overwrite each
other's newer state.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from bot.approval import ApprovalKey, ApprovalRequest, Author, Outcome, Release

APPROVALS_BUCKET = "forest_approvals"
_APPROVAL_PREFIX = "approval."
_MESSAGE_PREFIX = "message."


class Phase(enum.StrEnum):
    CLAIMED = "claimed"  # a process took the right to post, and may not have posted yet
    POSTED = "posted"  # the Slack message exists at (channel, ts)


@dataclass(frozen=True)
class ApprovalRecord:
    request: ApprovalRequest
    channel: str
    phase: Phase
    owner: str
    claimed_at: float
    ts: str = ""
    approved: bool = False
    outcome: Outcome | None = None
    outcome_at: float | None = None
    # A digest of the last rendered message, so an unchanged state costs no chat.update.
    digest: str = ""
    # Forest user ids whose decisions the thread already reported, with the decision.
    reported: dict[str, str] = field(default_factory=dict)
    # Forest user ids whose approval the bot cast as a bypass.
    bypassed: tuple[str, ...] = ()

    @property
    def key(self) -> ApprovalKey:
        return self.request.key

    @property
    def open(self) -> bool:
        return self.phase == Phase.POSTED and self.outcome is None


@dataclass(frozen=True)
class Stored:
    """A record with the revision it was read at, for compare-and-swap."""

    record: ApprovalRecord
    revision: int


class StaleRevision(Exception):
    """Someone else wrote the record since it was read: read it again."""


async def open_bucket(js: JetStreamContext, bucket: str, **config: Any) -> KeyValue:
    """Bind to a bucket, creating it the first time."""
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(bucket=bucket, **config)


class ApprovalStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def claim(self, record: ApprovalRecord) -> Stored | None:
        """Create the record if no process has; None when it already exists."""
        try:
            revision = await self._kv.create(_approval_key(record.key), _encode(record))
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
        return Stored(record, revision)

    async def get(self, key: ApprovalKey) -> Stored | None:
        try:
            entry = await self._kv.get(_approval_key(key))
        except nats.js.errors.KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(_decode(entry.value), entry.revision)

    async def replace(self, stored: Stored, record: ApprovalRecord) -> Stored:
        """Write ``record`` only if nobody wrote since ``stored`` was read."""
        try:
            revision = await self._kv.update(
                _approval_key(record.key), _encode(record), last=stored.revision
            )
        except nats.js.errors.KeyWrongLastSequenceError:
            raise StaleRevision(record.key) from None
        return Stored(record, revision)

    async def remember_message(self, channel: str, ts: str, key: ApprovalKey) -> None:
        await self._kv.put(_message_key(channel, ts), key.token.encode())

    async def approval_of_message(self, channel: str, ts: str) -> ApprovalKey | None:
        try:
            entry = await self._kv.get(_message_key(channel, ts))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.InvalidKeyError):
            return None
        if not entry.value:
            return None
        return ApprovalKey.from_token(entry.value.decode())

    async def watch(self) -> AsyncIterator[Change | None]:
        """Every approval record now, then every change, across all replicas.

        Yields ``None`` once, after the records that existed when the watch began. A change
        carries only what the index of open approvals needs: the watch sees every write of
        every record, and building whole records there was wasted work.
        """
        watcher = await self._kv.watch(f"{_APPROVAL_PREFIX}>")
        try:
            async for entry in watcher:
                if entry is None:
                    yield None
                    continue
                key = ApprovalKey.from_token(entry.key.removeprefix(_APPROVAL_PREFIX))
                if entry.operation is not None or not entry.value:
                    yield Change(key, None)
                else:
                    yield Change(key, _summary(entry.value))
        finally:
            # After a lost connection the watch may be gone already.
            with contextlib.suppress(Exception):
                await watcher.stop()


@dataclass(frozen=True)
class Summary:
    """Whether a stored record is still open (no outcome yet) and whether forest approved it."""

    open: bool
    approved: bool
    # A pipeline stage's gate, found in forest by the watch: its outcome comes from the stage.
    staged: bool = False


@dataclass(frozen=True)
class Change:
    key: ApprovalKey
    summary: Summary | None  # None: the record was deleted


def _approval_key(key: ApprovalKey) -> str:
    return _APPROVAL_PREFIX + key.token


def _message_key(channel: str, ts: str) -> str:
    return f"{_MESSAGE_PREFIX}{channel}.{ts.replace('.', '_')}"


def _encode(record: ApprovalRecord) -> bytes:
    # The request is most of a record and never changes once announced: its JSON is made once
    # per request and spliced in first, where ``request``, the first field, always stood.
    rest = {name: _plain(getattr(record, name)) for name in _field_names(ApprovalRecord)[1:]}
    return b'{"request":' + _request_json(record.request) + b"," + _json(rest)[1:]


@functools.lru_cache(maxsize=1024)
def _request_json(request: ApprovalRequest) -> bytes:
    return _json(_plain(request))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` gives for a record, without its deep copy of every value,
    which made encoding cost several times the JSON itself; the bytes written are the same."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _field_names(kind)
    if names:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind)) if is_dataclass(kind) else ()


def _summary(raw: bytes) -> Summary:
    document = json.loads(raw)
    return Summary(
        open=not document.get("outcome"),
        approved=bool(document.get("approved")),
        staged=bool((document.get("request") or {}).get("stage_id")),
    )


def _decode(raw: bytes) -> ApprovalRecord:
    document = json.loads(raw)
    request = document["request"]
    release = request.get("release") or {}
    author = release.get("author")
    outcome = document.get("outcome")
    return ApprovalRecord(
        request=ApprovalRequest(
            **{k: v for k, v in request.items() if k != "release"},
            release=Release(
                **{k: v for k, v in release.items() if k != "author"},
                author=Author(**author) if author else None,
            ),
        ),
        channel=document["channel"],
        phase=Phase(document["phase"]),
        owner=document["owner"],
        claimed_at=document["claimed_at"],
        ts=document.get("ts", ""),
        approved=document.get("approved", False),
        outcome=Outcome(outcome) if outcome else None,
        outcome_at=document.get("outcome_at"),
        digest=document.get("digest", ""),
        reported=document.get("reported", {}),
        bypassed=tuple(document.get("bypassed", ())),
    )
