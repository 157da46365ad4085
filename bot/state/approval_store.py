"""Durable state of approval messages in a NATS JetStream key-value bucket.

- ``approval.<key>``: the record of one approval message (its claim, channel and ts, and what it
  last showed). Created with create-if-absent, so exactly one process ever owns the right to post.
- ``message.<channel>.<ts>``: which approval a Slack message belongs to (for clicks and threads).

A record also carries the replies its thread is owed (``owed``): they are written in the same
compare-and-swap as the change they report, and removed once Slack took them
(bot/slack/outbox.py, bot/state/owed.py), so a process that dies with replies waiting loses none.

Writes after the claim are compare-and-swap on the revision (bot/state/records.py), so replicas
never overwrite each other's newer state.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from bot.approval import ApprovalKey, ApprovalRequest, Outcome, Release
from bot.runtime.nats_link import answered_by_jetstream
from bot.state.owed import OwedReply, decode_owed
from bot.state.records import MessageRecords, Phase, StaleRevision, Stored

__all__ = [
    "ApprovalRecord",
    "ApprovalStore",
    "OwedReply",
    "Phase",
    "StaleRevision",
    "Stored",
    "open_bucket",
]

APPROVALS_BUCKET = "forest_approvals"
_APPROVAL_PREFIX = "approval."
_MESSAGE_PREFIX = "message."


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
    # Replies the thread is owed, oldest first (written with the change they report).
    owed: tuple[OwedReply, ...] = ()

    @property
    def key(self) -> ApprovalKey:
        return self.request.key

    @property
    def open(self) -> bool:
        return self.phase == Phase.POSTED and self.outcome is None


async def open_bucket(js: JetStreamContext, bucket: str, **config: Any) -> KeyValue:
    """Bind to a bucket, creating it the first time; waits for a JetStream that does not
    answer yet (bot/runtime/nats_link.py)."""

    async def bind() -> KeyValue:
        try:
            return await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            return await js.create_key_value(bucket=bucket, **config)

    return await answered_by_jetstream(bind, f"JetStream, opening the {bucket} bucket")


class ApprovalStore:
    def __init__(self, kv: KeyValue) -> None:
        self._records = MessageRecords(
            kv, _APPROVAL_PREFIX, _MESSAGE_PREFIX, _token_of, _encode, _decode
        )

    async def claim(self, record: ApprovalRecord) -> Stored[ApprovalRecord] | None:
        """Create the record if no process has; None when it already exists."""
        return await self._records.claim(record)

    async def get(self, key: ApprovalKey) -> Stored[ApprovalRecord] | None:
        return await self._records.get(key.token)

    async def replace(
        self, stored: Stored[ApprovalRecord], record: ApprovalRecord
    ) -> Stored[ApprovalRecord]:
        """Write ``record`` only if nobody wrote since ``stored`` was read."""
        return await self._records.replace(stored, record)

    async def remember_message(self, channel: str, ts: str, key: ApprovalKey) -> None:
        await self._records.remember_message(channel, ts, key.token)

    async def approval_of_message(self, channel: str, ts: str) -> ApprovalKey | None:
        token = await self._records.token_of_message(channel, ts)
        if not token:
            return None
        return ApprovalKey.from_token(token)

    async def watch(self) -> AsyncIterator[Change | None]:
        """Every approval record now, then every change, across all replicas.

        Yields ``None`` once, after the records that existed when the watch began. A change
        carries only what the index of open approvals needs: the watch sees every write of
        every record, and building whole records there was wasted work.
        """
        async for entry in self._records.watch():
            if entry is None:
                yield None
                continue
            key = ApprovalKey.from_token(entry.token)
            yield Change(key, None if entry.value is None else _summary(entry.value))


@dataclass(frozen=True)
class Summary:
    """Whether a stored record is still open (no outcome yet) and whether forest approved it."""

    open: bool
    approved: bool
    # A pipeline stage's gate, found in forest by the watch: its outcome comes from the stage.
    staged: bool = False
    # When the longest-held reply the thread is owed was last held; None when none is owed.
    owed_held_at: float | None = None


@dataclass(frozen=True)
class Change:
    key: ApprovalKey
    summary: Summary | None  # None: the record was deleted


def _token_of(record: ApprovalRecord) -> str:
    return record.key.token


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
    owed = document.get("owed") or ()
    return Summary(
        open=not document.get("outcome"),
        approved=bool(document.get("approved")),
        staged=bool((document.get("request") or {}).get("stage_id")),
        owed_held_at=min(reply["held_at"] for reply in owed) if owed else None,
    )


_REQUEST_FIELDS = frozenset(f.name for f in fields(ApprovalRequest)) - {"release"}


def _decode(raw: bytes) -> ApprovalRecord:
    document = json.loads(raw)
    request = document["request"]
    outcome = document.get("outcome")
    return ApprovalRecord(
        request=ApprovalRequest(
            # Keys a newer version added are left out, so that replicas of both versions read it.
            **{k: v for k, v in request.items() if k in _REQUEST_FIELDS},
            release=Release.from_document(request.get("release") or {}),
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
        owed=decode_owed(document.get("owed")),
    )
