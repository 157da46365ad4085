"""Reminders for approvals that wait too long for votes.

An approval still short of votes a whole period after the bot took it up gets one reply in its
thread, and its author the same in a direct message; again after each further period. Every
replica checks. A mark per approval, moved forward with compare-and-swap, decides which replica
sends a period's reminder, so there is one whatever the number of processes.

Plan reminders (``bot/plans/reminders.py``) share the marks, the schedule and the sender.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import nats.js.errors
from nats.js.kv import KeyValue

from blocks.elements import SlackMessage
from blocks.pending import reminder_dm
from blocks.replies import reminder_reply
from bot.approval import ApprovalKey, ApprovalView, Author
from bot.approvals.open_approvals import OpenApprovals
from bot.approvals.pending import Permalinks, waiting_since
from bot.approvals.presenter import Presenter
from bot.forest.errors import ForestError
from bot.identity.people import People
from bot.slack.thread_replies import Threaded, reply_in_thread
from bot.slack.web import SlackError, SlackWeb
from bot.state.approval_store import ApprovalStore

log = logging.getLogger(__name__)

_REMINDED_PREFIX = "reminded."


class Keyed(Protocol):
    @property
    def token(self) -> str: ...

    @property
    def log_fields(self) -> dict[str, str]: ...


K = TypeVar("K", bound=Keyed)


class ReminderMarks:
    """``reminded.<approval key token>`` in the approvals bucket: the last period reminded.

    One key per approval (not one per period), so a long wait does not pile up keys.
    """

    def __init__(self, kv: KeyValue, prefix: str = _REMINDED_PREFIX) -> None:
        self._kv = kv
        # Plans keep their marks under a prefix of their own (their keys look alike).
        self._prefix = prefix

    async def last_reminded(self, key: Keyed) -> int:
        period, _ = await self._read(key)
        return period

    async def claim(self, key: Keyed, period: int) -> bool:
        """True for the one caller that moves the mark up to ``period``; False for the rest."""
        last, revision = await self._read(key)
        if last >= period:
            return False
        value = str(period).encode()
        try:
            if revision is None:
                await self._kv.create(self._prefix + key.token, value)
            else:
                await self._kv.update(self._prefix + key.token, value, last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def _read(self, key: Keyed) -> tuple[int, int | None]:
        try:
            entry = await self._kv.get(self._prefix + key.token)
        except nats.js.errors.KeyNotFoundError:
            return 0, None
        try:
            period = int((entry.value or b"0").decode())
        except ValueError:
            period = 0
        return period, entry.revision


@dataclass(frozen=True)
class ReminderSchedule:
    """When reminders are due, for approvals and plans alike: a ``period`` after the bot took a
    message up and after each further period (0: reminders are off), looked for every
    ``check_interval`` seconds."""

    period: float
    check_interval: float
    clock: Callable[[], float] = time.time

    def period_reached(self, claimed_at: float, now: float) -> int:
        """How many whole periods a message the bot took up at ``claimed_at`` has waited."""
        # Counted from when the bot took the message up: every replica reads the same record,
        # so they agree on the period, and nobody is reminded about a message just posted.
        return int((now - claimed_at) // self.period)

    async def run(
        self,
        loaded: asyncio.Event,
        waiting: Callable[[], Iterable[K]],
        remind_if_due: Callable[[K, float], Awaitable[None]],
        what: str,
    ) -> None:
        """Once the index of open messages is ``loaded``, and then every ``check_interval``
        until cancelled: ``remind_if_due(key, now)`` for each key ``waiting`` lists (``what``
        names them in the log). Nothing when reminders are off."""
        if self.period <= 0:
            return
        await loaded.wait()
        while True:
            now = self.clock()
            for key in waiting():
                try:
                    await remind_if_due(key, now)
                except Exception:
                    # Whatever failed (NATS, Slack), the other messages still get their reminders.
                    log.exception("%s check failed", what, extra=key.log_fields)
            await asyncio.sleep(self.check_interval)


class ReminderSender:
    """How a reminder reaches people: one reply in the message's thread, and the release's
    author (when the bot knows their Slack account) the same in a direct message."""

    def __init__(self, people: People, permalinks: Permalinks, web: SlackWeb) -> None:
        self._people = people
        self._permalinks = permalinks
        self._web = web

    async def send(
        self,
        record: Threaded,
        reply: str,
        what: str,
        author: Author | None,
        direct: Callable[[str], SlackMessage],
    ) -> None:
        """Post ``reply`` (logged as ``what``) under the message, then ``direct(permalink)`` to
        the author."""
        await reply_in_thread(self._web, record, reply, what)
        if author is None:
            return
        slack_user = await self._people.slack_user(author.user_id, author.email)
        if slack_user is None:
            log.info("the author has no known Slack account; reminded in the thread only")
            return
        message = direct(await self._permalinks.of(record.channel, record.ts))
        try:
            channel = await self._web.open_dm(slack_user)
            await self._web.post_message(channel, message.text, message.blocks)
        except SlackError as error:
            log.warning(
                "could not remind the author directly: %s", error.code, extra=record.key.log_fields
            )


class Reminders:
    def __init__(
        self,
        open_approvals: OpenApprovals,
        store: ApprovalStore,
        marks: ReminderMarks,
        presenter: Presenter,
        schedule: ReminderSchedule,
        sender: ReminderSender,
    ) -> None:
        self._open = open_approvals
        self._store = store
        self._marks = marks
        self._presenter = presenter
        self._schedule = schedule
        self._sender = sender

    async def run(self) -> None:
        """Check until cancelled; a period of 0 means reminders are off."""
        await self._schedule.run(self._open.loaded, self._open.all, self._remind_if_due, "reminder")

    async def _remind_if_due(self, key: ApprovalKey, now: float) -> None:
        if self._open.is_approved(key):
            return
        stored = await self._store.get(key)
        if stored is None or not stored.record.open or stored.record.approved:
            return
        record = stored.record
        period = self._schedule.period_reached(record.claimed_at, now)
        if period < 1 or await self._marks.last_reminded(key) >= period:
            return
        try:
            state = await self._presenter.read_state(record.request)
        except ForestError as error:
            # Without the votes the reminder could be wrong; the next check tries again.
            log.warning("no reminder yet, votes unknown: %s", error.sentence, extra=key.log_fields)
            return
        if state.approved:
            return
        if not await self._marks.claim(key, period):
            return
        view = ApprovalView(
            # The reminder says since when the release waits; the bot's own start stands in
            # when forest did not say when it blocked the release.
            request=replace(record.request, blocked_at=waiting_since(record).isoformat()),
            state=state,
            web_url=self._presenter.web_url(record.request),
        )
        moment = datetime.fromtimestamp(now, UTC)
        await self._sender.send(
            record,
            reminder_reply(view, moment),
            "a reminder",
            record.request.release.author,
            lambda permalink: reminder_dm(view, moment, permalink),
        )
        log.info("reminded", extra={**key.log_fields, "period": period})
