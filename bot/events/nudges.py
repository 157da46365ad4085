"""Forest's core NATS nudges: re-read the votes of approvals we track, and show outcomes.

Nudges come in bursts (every decision, every pipeline step), so refreshes of one approval are
coalesced: the first nudge schedules one refresh a window later and every nudge until then rides
along. A queue group hands each nudge to one replica; the open-approvals index lets any replica
act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bot.approval import ApprovalKey, Outcome
from bot.approvals.keeper import Keeper, MessageNotShown, NotPostedYet, OutcomeNotShown
from bot.approvals.open_approvals import OpenApprovals
from bot.forest.errors import ForestError
from bot.runtime.tasks import TaskSet
from bot.state.errors import StoreUnavailable

log = logging.getLogger(__name__)

EVALUATE_SUBJECT = "forest.intent.evaluate"
STATUS_SUBJECT = "forest.release.status.*"
QUEUE_GROUP = "approvals-bot"
RETRY_AFTER_FAILURE_SECONDS = 5.0
# A claimed approval is normally posted within a second; one never posted was abandoned by a
# process that died, and the announcement's redelivery takes care of it.
NOT_POSTED_RETRIES = 20
# A message Slack did not take (refused, or too slow) is tried again this many times, a few
# seconds apart; a vote in it would otherwise wait for the next nudge or reconciliation.
NOT_SHOWN_RETRIES = 24
# Outcomes shown at once. A release train ends many intents together; unbounded, thousands of
# finishes at once made the key-value reads time out and their outcomes were never shown.
FINISH_CONCURRENCY = 16
# An outcome Slack refused to show is tried again after 1, 2, 4 ... 60 s, for about an hour.
FINISH_RETRIES = 64
FINISH_RETRY_MAX_SECONDS = 60.0
_TERMINAL_RELEASE = {status.value: status for status in Outcome}


class Coalescer:
    """Runs ``action(key)`` at most once per window per key, with bounded concurrency."""

    def __init__(
        self,
        action: Callable[[ApprovalKey], Awaitable[None]],
        tasks: TaskSet,
        window: float = 1.0,
        concurrency: int = 16,
    ) -> None:
        self._action = action
        self._tasks = tasks
        self._window = window
        self._slots = asyncio.Semaphore(concurrency)
        self._scheduled: set[ApprovalKey] = set()

    def nudge(self, key: ApprovalKey, delay: float | None = None, attempt: int = 0) -> None:
        if key in self._scheduled:
            return
        self._scheduled.add(key)
        wait = self._window if delay is None else delay
        self._tasks.spawn(self._run(key, wait, attempt), name=f"refresh {key.token}")

    @property
    def pending(self) -> int:
        return len(self._scheduled)

    async def _run(self, key: ApprovalKey, delay: float, attempt: int) -> None:
        await asyncio.sleep(delay)
        async with self._slots:
            # Leaving the set before acting lets a nudge during the action schedule a next pass.
            self._scheduled.discard(key)
            try:
                await self._action(key)
            except NotPostedYet:
                if attempt < NOT_POSTED_RETRIES:
                    self.nudge(key, attempt=attempt + 1)
            except ForestError as error:
                log.warning(
                    "refresh failed, retrying later: %s", error.sentence, extra=key.log_fields
                )
                self.nudge(key, RETRY_AFTER_FAILURE_SECONDS)
            except StoreUnavailable as error:
                log.warning("refresh failed, retrying later: %s", error, extra=key.log_fields)
                self.nudge(key, RETRY_AFTER_FAILURE_SECONDS)
            except MessageNotShown:
                if attempt < NOT_SHOWN_RETRIES:
                    self.nudge(key, RETRY_AFTER_FAILURE_SECONDS, attempt=attempt + 1)


def outcome_of(payload: dict, approved: bool) -> Outcome | None:
    """The final outcome a release status announces for an approval, if any.

    A pipeline that completed ends the whole intent. A single release status speaks of one
    release: it ends an approval that was granted (that release is the one it let through); a
    cancellation or time-out ends the intent everywhere.
    """
    if payload.get("pipeline_update"):
        if payload.get("pipeline_complete"):
            return _TERMINAL_RELEASE.get(str(payload.get("intent_status", "")))
        return None
    outcome = _TERMINAL_RELEASE.get(str(payload.get("status", "")))
    if outcome in (Outcome.CANCELLED, Outcome.TIMED_OUT) or (outcome and approved):
        return outcome
    return None


class NudgeListener:
    def __init__(
        self,
        open_approvals: OpenApprovals,
        keeper: Keeper,
        coalescer: Coalescer,
        tasks: TaskSet,
        finish_concurrency: int = FINISH_CONCURRENCY,
    ) -> None:
        self._open = open_approvals
        self._keeper = keeper
        self._coalescer = coalescer
        self._tasks = tasks
        self._finishing = asyncio.Semaphore(finish_concurrency)
        self._subscriptions: list[Subscription] = []

    async def start(self, nc: NATS) -> None:
        """Listen on forest's NATS (``FOREST_NATS_URL``), where forest publishes these."""
        self._subscriptions = [
            await nc.subscribe(EVALUATE_SUBJECT, queue=QUEUE_GROUP, cb=self._on_evaluate),
            await nc.subscribe(STATUS_SUBJECT, queue=QUEUE_GROUP, cb=self._on_status),
        ]

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions = []

    async def _on_evaluate(self, msg: Msg) -> None:
        intent = msg.data.decode("utf-8", "replace").strip().lower()
        for key in self._open.keys_for(intent):
            self._coalescer.nudge(key)

    async def _on_status(self, msg: Msg) -> None:
        intent = msg.subject.rsplit(".", 1)[-1].lower()
        keys = self._open.keys_for(intent)
        if not keys:
            return
        try:
            payload = json.loads(msg.data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning(
                "ignoring a release status that is not JSON", extra={"subject": msg.subject}
            )
            return
        if not isinstance(payload, dict):
            return
        for key in keys:
            # A pipeline stage's outcome is that stage's: the watch reads it from forest, as a
            # release status here may be another stage's release.
            staged = self._open.is_staged(key)
            outcome = None if staged else outcome_of(payload, self._open.is_approved(key))
            if outcome is None:
                self._coalescer.nudge(key)
            else:
                self.finish_later(key, outcome)

    def finish_later(self, key: ApprovalKey, outcome: Outcome) -> None:
        """Show ``outcome`` on the approval's message, retrying while Slack refuses."""
        self._tasks.spawn(self._finish(key, outcome), name=f"finish {key.token}")

    async def _finish(self, key: ApprovalKey, outcome: Outcome) -> None:
        not_posted = refused = 0
        while not_posted < NOT_POSTED_RETRIES and refused < FINISH_RETRIES:
            try:
                async with self._finishing:
                    await self._keeper.finish(key, outcome)
                return
            except NotPostedYet:
                not_posted += 1
                await asyncio.sleep(1.0)
            except (OutcomeNotShown, StoreUnavailable) as error:
                # An outcome arrives once, on core NATS: a refusal by Slack or a moment without
                # the bot's storage must not drop it.
                if isinstance(error, StoreUnavailable):
                    log.warning(
                        "could not record the outcome %s yet: %s; trying again",
                        outcome.value,
                        error,
                        extra=key.log_fields,
                    )
                refused += 1
                await asyncio.sleep(min(2.0 ** (refused - 1), FINISH_RETRY_MAX_SECONDS))
        if refused >= FINISH_RETRIES:
            log.error(
                "gave up showing the outcome %s: Slack or the bot's storage kept refusing",
                outcome.value,
                extra=key.log_fields,
            )


class Reconciler:
    """Re-reads every open approval at start and then every ``interval`` seconds, because core
    NATS nudges sent while no bot listened are gone."""

    def __init__(
        self, open_approvals: OpenApprovals, coalescer: Coalescer, interval: float = 300.0
    ) -> None:
        self._open = open_approvals
        self._coalescer = coalescer
        self._interval = interval
        self._soon = asyncio.Event()

    def soon(self) -> None:
        """Reconcile once the index is loaded again (after a NATS outage lost nudges)."""
        self._soon.set()

    async def run(self) -> None:
        while True:
            await self._open.loaded.wait()
            self._soon.clear()
            for key in self._open.all():
                self._coalescer.nudge(key, delay=0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._soon.wait(), self._interval)
