"""What the Slack listeners are handed: the services they call and where to answer."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.answers import Answers
from bot.dedup import Dedup
from bot.linking import LinkService
from bot.pending import PendingApprovals
from bot.tasks import TaskSet
from bot.voting import VoteService


@dataclass(frozen=True)
class HandlerDeps:
    votes: VoteService
    linking: LinkService
    answers: Answers
    dedup: Dedup
    pending: PendingApprovals
    tasks: TaskSet
    team_id: str
    bot_user_id: str


Listener = Callable[..., Awaitable[Any]]


def tracked(tasks: TaskSet, listener: Listener) -> Listener:
    """Bolt runs listeners in tasks it does not keep; this holds them in ``tasks`` so that a
    shutdown finishes every vote already acknowledged to a person."""

    @functools.wraps(listener)
    async def run(**kwargs: Any) -> Any:
        return await tasks.track(listener(**kwargs))

    return run
