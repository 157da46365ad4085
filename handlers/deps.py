"""What the Slack listeners are handed: the services they call and where to answer."""

from __future__ import annotations

from dataclasses import dataclass

from bot.answers import Answers
from bot.dedup import Dedup
from bot.linking import LinkService
from bot.tasks import TaskSet
from bot.voting import VoteService


@dataclass(frozen=True)
class HandlerDeps:
    votes: VoteService
    linking: LinkService
    answers: Answers
    dedup: Dedup
    tasks: TaskSet
    team_id: str
    bot_user_id: str
