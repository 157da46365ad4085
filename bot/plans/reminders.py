"""Reminders for plans that wait too long for a decision: one thread reply a period after the
bot took the plan up, and again after each further period; the release's author (when forest
names one the bot knows) hears it directly too. A compare-and-swap mark per plan
(``reminded.plan.<key>``) lets one replica send each period's reminder. The schedule and the
sender are the approvals' (``bot/approvals/reminders.py``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from blocks.plan_message import plan_reminder_dm, plan_reminder_reply
from bot.approvals.reminders import ReminderMarks, ReminderSchedule, ReminderSender
from bot.plans.open_plans import OpenPlans
from bot.plans.pending import plan_waiting_since
from bot.plans.plan import PlanKey
from bot.plans.plan_store import PlanStore
from bot.plans.presenter import PlanPresenter

log = logging.getLogger(__name__)

MARK_PREFIX = "reminded.plan."


class PlanReminders:
    def __init__(
        self,
        open_plans: OpenPlans,
        store: PlanStore,
        marks: ReminderMarks,
        presenter: PlanPresenter,
        schedule: ReminderSchedule,
        sender: ReminderSender,
    ) -> None:
        self._open = open_plans
        self._store = store
        self._marks = marks
        self._presenter = presenter
        self._schedule = schedule
        self._sender = sender

    async def run(self) -> None:
        """Check until cancelled; a period of 0 means reminders are off."""
        await self._schedule.run(
            self._open.loaded, self._open.waiting, self._remind_if_due, "plan reminder"
        )

    async def _remind_if_due(self, key: PlanKey, now: float) -> None:
        stored = await self._store.get(key)
        if stored is None or not stored.record.waiting:
            return
        record = stored.record
        period = self._schedule.period_reached(record.claimed_at, now)
        if period < 1 or not await self._marks.claim(key, period):
            return
        moment = datetime.fromtimestamp(now, UTC)
        since = plan_waiting_since(record)
        view = await self._presenter.view(record, None)
        await self._sender.send(
            record,
            plan_reminder_reply(view, since, moment),
            "a plan reminder",
            record.stage.release.author,
            lambda permalink: plan_reminder_dm(view, since, moment, permalink),
        )
        log.info("reminded about a plan", extra={**key.log_fields, "period": period})
