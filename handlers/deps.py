"""What the Slack listeners are handed: the services they call and where to answer."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.approvals.pending import PendingApprovals
from bot.approvals.voting import VoteService
from bot.identity.linking import LinkService
from bot.plans.deciding import PlanDecisions
from bot.runtime.metrics import Metrics
from bot.runtime.tasks import TaskSet
from bot.slack.answers import Answers
from bot.slack.names import SlackNames
from bot.state.dedup import Dedup


@dataclass(frozen=True)
class HandlerDeps:
    votes: VoteService
    linking: LinkService
    answers: Answers
    names: SlackNames
    dedup: Dedup
    pending: PendingApprovals
    tasks: TaskSet
    team_id: str
    bot_user_id: str
    metrics: Metrics
    # Plan stages' decisions (None: a bot built without them, as in some tests).
    plans: PlanDecisions | None = None


Listener = Callable[..., Awaitable[Any]]


def tracked(tasks: TaskSet, listener: Listener) -> Listener:
    """Run ``listener`` as work held in ``tasks``, and hand Bolt back control as soon as the
    listener has acknowledged (events are acknowledged by Bolt itself).

    The bot runs Bolt with ``process_before_response``, so Slack's 200 goes out the moment a
    listener acks rather than on Bolt's own polling; and a shutdown still finishes every vote
    that was acknowledged to a person, because the work is in ``tasks``.
    """

    @functools.wraps(listener)
    async def run(**kwargs: Any) -> None:
        ack = kwargs.get("ack")
        if ack is None:
            tasks.spawn(listener(**kwargs), name=listener.__name__)
            return
        acked = asyncio.Event()

        async def acknowledge(*args: Any, **options: Any) -> Any:
            try:
                return await ack(*args, **options)
            finally:
                acked.set()

        work = tasks.spawn(listener(**{**kwargs, "ack": acknowledge}), name=listener.__name__)
        waiting = asyncio.ensure_future(acked.wait())
        try:
            await asyncio.wait({work, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()  # also when Bolt's call is cancelled; the work stays in ``tasks``

    return run
