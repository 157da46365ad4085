"""Keeping each plan message true: the decision (from Slack or forage), then the stage's end.

Every change goes one way: merge what forest says into the record, render, ``chat.update``, then
a compare-and-swap of the record. The thread replies that tell a decision or an end are written
in that same swap, as replies the thread is owed, and only the process whose swap wins posts
them (bot/slack/outbox.py): each is told once however many processes saw it, and a process that
dies before posting it leaves it to another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from blocks.plan_message import plan_decision_reply, plan_end_reply
from bot.forest.client import ForestClient
from bot.forest.releases import ReleaseIntent
from bot.plans.plan import FINAL_ENDS, PlanDecision, PlanKey
from bot.plans.plan_store import Deciding, PlanRecord, PlanStore
from bot.plans.presenter import PlanPresenter, RenderedPlan
from bot.plans.stage_state import StageState, stage_state
from bot.runtime.keyed_locks import KeyedLocks
from bot.slack.outbox import Outbox
from bot.slack.pacing import Priority
from bot.slack.web import SlackRefused, SlackWeb
from bot.state.approval_store import Phase, StaleRevision
from bot.state.owed import write_over_settled

log = logging.getLogger(__name__)

MAX_SWAP_ATTEMPTS = 5
_DECISION = "decision"


class PlanNotPostedYet(Exception):
    """The plan is claimed but its message is not recorded yet: try again shortly."""


class PlanKeeper:
    def __init__(
        self,
        store: PlanStore,
        presenter: PlanPresenter,
        web: SlackWeb,
        forest: ForestClient,
        outbox: Outbox[PlanKey, PlanRecord],
        locks: KeyedLocks,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._presenter = presenter
        self._web = web
        self._forest = forest
        self._outbox = outbox
        # Serialises writes of one plan's record inside this process (shared with the outbox);
        # replicas rely on the swap.
        self._locks = locks
        self._clock = clock

    async def observe(self, key: PlanKey, intent: ReleaseIntent) -> None:
        """Show what forest's view of the intent says of this plan stage."""
        state = stage_state(intent, key.stage_id)
        if state is not None:
            await self._update(key, lambda record: _merged(record, state, self._clock()))

    async def refresh(self, key: PlanKey) -> None:
        """Read the intent from forest and show it. Raises ForestError."""
        stored = await self._store.get(key)
        if stored is None or not stored.record.posted or not stored.record.open:
            return
        stage = stored.record.stage
        for include_completed in (False, True):
            intents = await self._forest.release_intents(
                stage.organisation, stage.project, include_completed=include_completed
            )
            intent = next(
                (i for i in intents if i.release_intent_id == key.release_intent_id), None
            )
            if intent is not None:
                await self.observe(key, intent)
                return

    async def decided_here(self, key: PlanKey, decision: PlanDecision) -> None:
        """Forest accepted a decision made from Slack: show it with who made it, at once."""

        def decide(record: PlanRecord) -> PlanRecord | None:
            if record.decision is not None:
                return None
            return replace(record, decision=decision, deciding=None)

        await self._update(key, decide)

    async def mark_deciding(self, key: PlanKey, deciding: Deciding | None) -> bool:
        """Note (or, with None, forget) a decision on its way to forest; False when the plan
        is decided already or another person's decision is on its way."""
        for _ in range(MAX_SWAP_ATTEMPTS):
            stored = await self._store.get(key)
            if stored is None or stored.record.decision is not None:
                return False
            current = stored.record.deciding
            if (
                deciding is not None
                and current is not None
                and current.slack_user_id != deciding.slack_user_id
                and self._clock() - current.at < DECIDING_FRESH_SECONDS
            ):
                return False
            try:
                await self._store.replace(stored, replace(stored.record, deciding=deciding))
            except StaleRevision:
                continue
            return True
        return False

    async def _update(
        self, key: PlanKey, change: Callable[[PlanRecord], PlanRecord | None]
    ) -> None:
        async with self._locks.hold(key):
            for _ in range(MAX_SWAP_ATTEMPTS):
                stored = await self._store.get(key)
                if stored is not None and stored.record.phase == Phase.CLAIMED:
                    raise PlanNotPostedYet(key)
                if stored is None or not stored.record.open:
                    return
                changed = change(stored.record)
                if changed is None or changed == stored.record:
                    return
                rendered = await self._presenter.render(
                    changed, await self._presenter.read_output(changed.stage)
                )
                if rendered.digest != changed.digest and not await self._show(changed, rendered):
                    return  # the next observation tries again
                told = _to_tell(changed)
                owed = self._outbox.owe(_replies(rendered, told))
                final = replace(
                    changed,
                    digest=rendered.digest,
                    reported=changed.reported + tuple(told),
                    owed=(*changed.owed, *owed),
                )
                written = await write_over_settled(self._store, key, stored, final, owed)
                if written is None:
                    continue
                await self._outbox.send(written.record, owed)
                return
            log.warning(
                "gave up updating a plan after repeated concurrent writes", extra=key.log_fields
            )

    async def _show(self, record: PlanRecord, rendered: RenderedPlan) -> bool:
        try:
            # A plan's message changes when it is decided or ends: what people wait for.
            await self._web.update_message(
                record.channel, record.ts, rendered.text, rendered.blocks, Priority.PERSON
            )
        except SlackRefused as error:
            log.warning(
                "could not update the plan message: %s", error.code, extra=record.key.log_fields
            )
            return False
        return True


DECIDING_FRESH_SECONDS = 30.0


def _replies(rendered: RenderedPlan, told: list[str]) -> list[tuple[str, bool]]:
    """The thread replies that tell ``told``, in order; people wait for each of them."""
    texts = [
        plan_decision_reply(rendered.view) if mark == _DECISION else plan_end_reply(rendered.view)
        for mark in told
    ]
    return [(text, True) for text in texts if text]


def _to_tell(record: PlanRecord) -> list[str]:
    marks = []
    if record.decision is not None and _DECISION not in record.reported:
        marks.append(_DECISION)
    if record.end in FINAL_ENDS and f"end:{record.end}" not in record.reported:
        marks.append(f"end:{record.end}")
    return marks


def _merged(record: PlanRecord, state: StageState, now: float) -> PlanRecord:
    """``record`` with what forest's state adds to it; nothing it knows is forgotten."""
    decision = record.decision
    deciding = record.deciding
    if state.decided is not None and decision is None:
        if deciding is not None and deciding.decided == state.decided:
            # Decided from Slack, and forest's state came in before the decider's answer.
            decision = PlanDecision(
                state.decided,
                deciding.slack_user_id,
                deciding.username,
                state.decided_at or datetime.fromtimestamp(deciding.at, UTC),
                deciding.reason,
            )
        else:
            decision = PlanDecision(state.decided, decided_at=state.decided_at or _at(now))
        deciding = None
    end = state.end or record.end
    end_at = record.end_at
    if end != record.end:
        end_at = state.end_at.timestamp() if state.end_at else now
    return replace(record, decision=decision, deciding=deciding, end=end, end_at=end_at)


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)
