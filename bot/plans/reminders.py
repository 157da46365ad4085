"""Reminders for plans that wait too long for a decision: one thread reply a period after the
bot took the plan up, and again after each further period; the release's author (when forest
names one the bot knows) hears it directly too. A compare-and-swap mark per plan
(``reminded.plan.<key>``) lets one replica send each period's reminder."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from blocks.plan_message import plan_reminder_dm, plan_reminder_reply
from bot.approvals.pending import Permalinks
from bot.approvals.reminders import ReminderMarks
from bot.identity.people import People
from bot.plans.open_plans import OpenPlans
from bot.plans.pending import plan_waiting_since
from bot.plans.plan import PlanKey
from bot.plans.plan_store import PlanStore
from bot.plans.presenter import PlanPresenter
from bot.slack.thread_replies import reply_in_thread
from bot.slack.web import SlackError, SlackWeb

log = logging.getLogger(__name__)

MARK_PREFIX = "reminded.plan."


class PlanReminders:
    def __init__(
        self,
        open_plans: OpenPlans,
        store: PlanStore,
        marks: ReminderMarks,
        presenter: PlanPresenter,
        people: People,
        permalinks: Permalinks,
        web: SlackWeb,
        period: float,
        check_interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open = open_plans
        self._store = store
        self._marks = marks
        self._presenter = presenter
        self._people = people
        self._permalinks = permalinks
        self._web = web
        self._period = period
        self._check_interval = check_interval
        self._clock = clock

    async def run(self) -> None:
        """Check until cancelled; a period of 0 means reminders are off."""
        if self._period <= 0:
            return
        await self._open.loaded.wait()
        while True:
            await self.check()
            await asyncio.sleep(self._check_interval)

    async def check(self) -> None:
        now = self._clock()
        for key in self._open.waiting():
            try:
                await self._remind_if_due(key, now)
            except Exception:
                log.exception("plan reminder check failed", extra=key.log_fields)

    async def _remind_if_due(self, key: PlanKey, now: float) -> None:
        stored = await self._store.get(key)
        if stored is None or not stored.record.waiting:
            return
        record = stored.record
        period = int((now - record.claimed_at) // self._period)
        if period < 1 or not await self._marks.claim(key, period):
            return
        moment = datetime.fromtimestamp(now, UTC)
        since = plan_waiting_since(record)
        view = await self._presenter.view(record, None)
        await reply_in_thread(
            self._web, record, plan_reminder_reply(view, since, moment), "a plan reminder"
        )
        author = record.stage.release.author
        slack_user = await self._people.slack_user(author.user_id, author.email) if author else None
        if slack_user is not None:
            message = plan_reminder_dm(
                view, since, moment, await self._permalinks.of(record.channel, record.ts)
            )
            try:
                channel = await self._web.open_dm(slack_user)
                await self._web.post_message(channel, message.text, message.blocks)
            except SlackError as error:
                log.warning("could not remind the author directly: %s", type(error).__name__)
        log.info("reminded about a plan", extra={**key.log_fields, "period": period})
