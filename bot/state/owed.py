"""Replies a message's thread is owed, kept in the message's record until Slack took them.

Approval records (bot/state/approval_store.py) and plan records (bot/plans/plan_store.py) both
carry them, written in the compare-and-swap of the change they report; one outbox
(bot/slack/outbox.py) posts them and takes over those a dead process held. What it needs of a
kind of record is said here, so that it depends on neither kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, Generic, Protocol, TypeVar

from bot.state.records import StaleRevision, Stored

__all__ = [
    "HeldReplies",
    "OwedReply",
    "OwingIndex",
    "OwingKey",
    "OwingRecord",
    "OwingStore",
    "decode_owed",
    "encode_owed",
    "write_over_settled",
]


@dataclass(frozen=True)
class OwedReply:
    """A reply the thread is owed, until Slack took it.

    ``holder`` is the process posting it and ``held_at`` when it took it or last said it still
    holds it: a reply held longer ago than the grace period belongs to a process that died (or
    gave up on it), and any replica may take it over with a compare-and-swap."""

    id: str
    text: str
    # What people wait for (the approval, an outcome, a plan's decision); otherwise a vote's
    # reply.
    urgent: bool
    holder: str
    held_at: float
    # How many times a process took it to post it.
    attempts: int = 1


_FIELDS = tuple(f.name for f in fields(OwedReply))


def encode_owed(owed: Iterable[OwedReply]) -> list[dict[str, Any]]:
    """The JSON of ``owed``: the fields by name, as ``dataclasses.asdict`` gives them."""
    return [{name: getattr(reply, name) for name in _FIELDS} for reply in owed]


def decode_owed(documents: Iterable[dict[str, Any]] | None) -> tuple[OwedReply, ...]:
    """``owed`` read back. Keys a newer version added are left out, so that replicas of both
    versions read it; a record written before replies were owed owes none."""
    return tuple(
        OwedReply(**{key: value for key, value in document.items() if key in _FIELDS})
        for document in documents or ()
    )


class OwingKey(Hashable, Protocol):
    """An approval's or a plan's key, as the outbox names it in logs and tasks."""

    @property
    def token(self) -> str: ...

    @property
    def log_fields(self) -> dict[str, str]: ...


K = TypeVar("K", bound=OwingKey)
K_co = TypeVar("K_co", bound=OwingKey, covariant=True)


class OwingRecord(Protocol[K_co]):
    """A record of a posted message whose thread may be owed replies. Records are frozen
    dataclasses: the outbox writes a new ``owed`` with ``dataclasses.replace``."""

    @property
    def key(self) -> K_co: ...

    @property
    def channel(self) -> str: ...

    @property
    def ts(self) -> str: ...

    @property
    def owed(self) -> tuple[OwedReply, ...]: ...


R = TypeVar("R", bound=OwingRecord[Any])


class OwingStore(Protocol[K, R]):
    """Where records of one kind are kept, read and written with compare-and-swap."""

    async def get(self, key: K) -> Stored[R] | None: ...

    async def replace(self, stored: Stored[R], record: R) -> Stored[R]: ...


class HeldReplies(Generic[K]):
    """The part of a live index the outbox asks: which records owe thread replies, and when
    the longest-held of them was last held."""

    def __init__(self) -> None:
        self._held: dict[K, float] = {}

    def note(self, key: K, held_at: float | None) -> None:
        """A record was written: it owes replies held since ``held_at``, or none (None)."""
        if held_at is None:
            self._held.pop(key, None)
        else:
            self._held[key] = held_at

    def before(self, moment: float) -> list[K]:
        return [key for key, held_at in self._held.items() if held_at < moment]


class OwingIndex(Protocol[K_co]):
    """A live index of records of one kind (a watch of the bucket) that knows which owe
    replies, and since when they are held."""

    @property
    def loaded(self) -> asyncio.Event: ...

    def owed_held_before(self, moment: float) -> list[K_co]: ...


async def write_over_settled(
    store: OwingStore[K, R],
    key: K,
    stored: Stored[R],
    record: R,
    owed: tuple[OwedReply, ...],
    attempts: int = 8,
) -> Stored[R] | None:
    """Write ``record``, made from ``stored`` and owing ``owed`` besides what it owed, over
    ``stored``; None when someone changed the record meanwhile.

    A write that only settled thread replies (the outbox removing what Slack took, or renewing
    its hold) changed nothing ``record`` was made from: it is written again on top of that
    write, so that a keeper neither reads forest nor updates the message a second time."""
    for _ in range(attempts):
        try:
            return await store.replace(stored, record)
        except StaleRevision:
            fresh = await store.get(key)
            if fresh is None or _but_owed(fresh.record) != _but_owed(stored.record):
                return None
            record = replace(record, owed=(*fresh.record.owed, *owed))  # type: ignore[misc]
            stored = fresh
    return None


def _but_owed(record: R) -> R:
    return replace(record, owed=())  # type: ignore[misc]
