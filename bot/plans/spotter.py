"""Noticing that a plan may have begun to wait.

Forest writes no org event when a plan stage's plan finishes and the stage begins to wait for
approval: the stage is still ACTIVE, so the watch's event log says nothing until the decision.
What forest does publish is the plan run's release status on its core NATS. A status for an
intent whose plans the bot does not track yet asks the watch for a scan, at most once per
``min_interval`` (a later hint inside the interval is kept for its end, never dropped). Every
replica listens (no queue group): only the one that holds the watch scans.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bot.plans.open_plans import OpenPlans

log = logging.getLogger(__name__)

STATUS_SUBJECT = "forest.release.status.*"
MIN_INTERVAL_SECONDS = 2.0
# A plan run's release that finished: the stage may now wait for a decision.
_FINISHED = {"SUCCEEDED"}


class PlanSpotter:
    def __init__(
        self,
        open_plans: OpenPlans,
        scan_soon: Callable[[], None],
        min_interval: float = MIN_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = open_plans
        self._scan_soon = scan_soon
        self._min_interval = min_interval
        self._clock = clock
        self._last = float("-inf")
        self._later: asyncio.TimerHandle | None = None
        self._subscription: Subscription | None = None

    async def start(self, nc: NATS) -> None:
        self._subscription = await nc.subscribe(STATUS_SUBJECT, cb=self._on_status)
        # A plan that finished before we listened announced it to nobody.
        self.hint()

    async def stop(self) -> None:
        if self._later is not None:
            self._later.cancel()
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    async def _on_status(self, msg: Msg) -> None:
        intent = msg.subject.rsplit(".", 1)[-1].lower()
        if self._open.keys_for(intent):
            return  # tracked: the watch's events follow it
        try:
            payload = json.loads(msg.data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if not isinstance(payload, dict) or str(payload.get("status", "")) not in _FINISHED:
            return
        self.hint()

    def hint(self) -> None:
        """Ask for a scan now, or at the end of the interval if one was asked for lately.
        Also called after forest's NATS reconnects: statuses sent meanwhile are lost."""
        now = self._clock()
        wait = self._last + self._min_interval - now
        if wait <= 0:
            self._last = now
            self._scan_soon()
        elif self._later is None:
            self._later = asyncio.get_running_loop().call_later(wait, self._deferred)

    def _deferred(self) -> None:
        self._later = None
        self._last = self._clock()
        self._scan_soon()
