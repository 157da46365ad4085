"""Durable state of plan messages, in the approvals bucket beside the approval records.

- ``plan.<key>``: the record of one plan message. Created with create-if-absent, so exactly one
  process ever owns the right to post it (the approval store's design, for plans).
- ``planmsg.<channel>.<ts>``: which plan a Slack message shows (for clicks and thread replies).

A record also carries the replies its thread is owed (``owed``, bot/state/owed.py), written in
the compare-and-swap of the decision or end they tell and removed once Slack took them
(bot/slack/outbox.py), as an approval's are.

Writes after the claim are compare-and-swap on the revision (bot/state/records.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from nats.js.kv import KeyValue

from bot.approval import Author, Release
from bot.plans.plan import FINAL_ENDS, Decided, PlanDecision, PlanKey, PlanStage, StageEnd
from bot.state.owed import OwedReply, decode_owed, encode_owed
from bot.state.records import MessageRecords, Phase, StaleRevision, Stored

_PLAN_PREFIX = "plan."
_MESSAGE_PREFIX = "planmsg."


@dataclass(frozen=True)
class Deciding:
    """A decision sent to forest from Slack and not yet seen in forest's state: it names who
    decided when forest's state later shows only that the plan was decided."""

    decided: Decided
    slack_user_id: str
    username: str
    at: float
    reason: str | None = None


@dataclass(frozen=True)
class PlanRecord:
    stage: PlanStage
    channel: str
    phase: Phase
    owner: str
    claimed_at: float
    ts: str = ""
    digest: str = ""
    decision: PlanDecision | None = None
    deciding: Deciding | None = None
    end: StageEnd | None = None
    end_at: float | None = None
    # What the thread has told already ("decision", "end:<end>"), so each is told once.
    reported: tuple[str, ...] = ()
    # Replies the thread is owed, oldest first (written with the change they tell).
    owed: tuple[OwedReply, ...] = ()

    @property
    def key(self) -> PlanKey:
        return self.stage.key

    @property
    def posted(self) -> bool:
        return self.phase == Phase.POSTED

    @property
    def waiting(self) -> bool:
        """Still waiting for a decision, as far as the bot knows."""
        return self.posted and self.decision is None and self.end is None

    @property
    def open(self) -> bool:
        """Still worth keeping true: the stage has not reached its end."""
        return self.end not in FINAL_ENDS


StoredPlan = Stored[PlanRecord]


@dataclass(frozen=True)
class PlanChange:
    key: PlanKey
    organisation: str  # "" when the record was deleted
    waiting: bool
    open: bool
    posted: bool = False
    # When the longest-held reply the thread is owed was last held; None when none is owed.
    owed_held_at: float | None = None


class PlanStore:
    def __init__(self, kv: KeyValue) -> None:
        self._records = MessageRecords(kv, _PLAN_PREFIX, _MESSAGE_PREFIX, _token_of, encode, decode)

    async def claim(self, record: PlanRecord) -> StoredPlan | None:
        """Create the record if no process has; None when it already exists."""
        return await self._records.claim(record)

    async def get(self, key: PlanKey) -> StoredPlan | None:
        return await self._records.get(key.token)

    async def replace(self, stored: StoredPlan, record: PlanRecord) -> StoredPlan:
        """Write ``record`` only if nobody wrote since ``stored`` was read."""
        return await self._records.replace(stored, record)

    async def remember_message(self, channel: str, ts: str, key: PlanKey) -> None:
        await self._records.remember_message(channel, ts, key.token)

    async def plan_of_message(self, channel: str, ts: str) -> PlanKey | None:
        token = await self._records.token_of_message(channel, ts)
        if not token:
            return None
        try:
            return PlanKey.from_token(token)
        except (ValueError, UnicodeDecodeError):
            return None

    async def watch(self) -> AsyncIterator[PlanChange | None]:
        """Every plan record now, then every change; ``None`` once the snapshot is in."""
        async for entry in self._records.watch():
            if entry is None:
                yield None
                continue
            try:
                key = PlanKey.from_token(entry.token)
            except (ValueError, UnicodeDecodeError):
                continue
            if entry.value is None:
                yield PlanChange(key, "", waiting=False, open=False)
                continue
            record = decode(entry.value)
            yield PlanChange(
                key,
                record.stage.organisation,
                waiting=record.waiting,
                open=record.open,
                posted=record.posted,
                owed_held_at=min((reply.held_at for reply in record.owed), default=None),
            )


def _token_of(record: PlanRecord) -> str:
    return record.key.token


def encode(record: PlanRecord) -> bytes:
    stage = record.stage
    release = stage.release
    document: dict[str, Any] = {
        "stage": {
            "organisation": stage.organisation,
            "project": stage.project,
            "release_intent_id": stage.release_intent_id,
            "stage_id": stage.stage_id,
            "environment": stage.environment,
            "waiting_since": stage.waiting_since,
            "release": {
                **{k: getattr(release, k) for k in _release_fields()},
                "author": _author(release.author),
            },
        },
        "channel": record.channel,
        "phase": record.phase.value,
        "owner": record.owner,
        "claimed_at": record.claimed_at,
        "ts": record.ts,
        "digest": record.digest,
        "decision": _decision(record.decision),
        "deciding": _deciding(record.deciding),
        "end": record.end.value if record.end else None,
        "end_at": record.end_at,
        "reported": list(record.reported),
        "owed": encode_owed(record.owed),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _release_fields() -> tuple[str, ...]:
    """The release's text fields (all but the author), whichever the release has."""
    return tuple(f.name for f in fields(Release) if f.name != "author")


def _author(author: Author | None) -> dict[str, str] | None:
    if author is None:
        return None
    return {"user_id": author.user_id, "username": author.username, "email": author.email}


def _decision(decision: PlanDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "decided": decision.decided.value,
        "slack_user_id": decision.slack_user_id,
        "username": decision.username,
        "decided_at": decision.decided_at.isoformat() if decision.decided_at else None,
        "reason": decision.reason,
    }


def _deciding(deciding: Deciding | None) -> dict[str, Any] | None:
    if deciding is None:
        return None
    return {
        "decided": deciding.decided.value,
        "slack_user_id": deciding.slack_user_id,
        "username": deciding.username,
        "at": deciding.at,
        "reason": deciding.reason,
    }


def decode(raw: bytes) -> PlanRecord:
    document = json.loads(raw)
    stage = document["stage"]
    release = stage.get("release") or {}
    decision = document.get("decision")
    deciding = document.get("deciding")
    end = document.get("end")
    return PlanRecord(
        stage=PlanStage(
            organisation=stage["organisation"],
            project=stage["project"],
            release_intent_id=stage["release_intent_id"],
            stage_id=stage["stage_id"],
            environment=stage.get("environment", ""),
            waiting_since=stage.get("waiting_since", ""),
            release=Release.from_document(release),
        ),
        channel=document["channel"],
        phase=Phase(document["phase"]),
        owner=document["owner"],
        claimed_at=document["claimed_at"],
        ts=document.get("ts", ""),
        digest=document.get("digest", ""),
        decision=(
            PlanDecision(
                decided=Decided(decision["decided"]),
                slack_user_id=decision.get("slack_user_id", ""),
                username=decision.get("username", ""),
                decided_at=(
                    datetime.fromisoformat(decision["decided_at"])
                    if decision.get("decided_at")
                    else None
                ),
                reason=decision.get("reason"),
            )
            if decision
            else None
        ),
        deciding=(
            Deciding(
                decided=Decided(deciding["decided"]),
                slack_user_id=deciding["slack_user_id"],
                username=deciding.get("username", ""),
                at=deciding["at"],
                reason=deciding.get("reason"),
            )
            if deciding
            else None
        ),
        end=StageEnd(end) if end else None,
        end_at=document.get("end_at"),
        reported=tuple(document.get("reported", ())),
        # A record written before plans owed replies owes none.
        owed=decode_owed(document.get("owed")),
    )


__all__ = [
    "Deciding",
    "PlanChange",
    "PlanRecord",
    "PlanStore",
    "StaleRevision",
    "StoredPlan",
    "decode",
    "encode",
]
