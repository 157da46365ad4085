"""Turning an approval record and forest's votes into the message people see."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from blocks.approval_message import approval_message
from bot.approval import ApprovalRequest, ApprovalState, ApprovalView, release_page
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestError
from bot.identity.people import People
from bot.state.approval_store import ApprovalRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    text: str
    blocks: list[dict]
    digest: str
    state: ApprovalState | None
    slack_users: dict[str, str]

    @property
    def approved(self) -> bool:
        return self.state is not None and self.state.approved


class Presenter:
    def __init__(self, forest: ForestClient, people: People, forest_web_url: str) -> None:
        self._forest = forest
        self._people = people
        self._forest_web_url = forest_web_url.rstrip("/")

    async def read_state(self, request: ApprovalRequest) -> ApprovalState:
        """Forest's current votes, read with the app token. Raises ForestError."""
        project = ProjectRef(request.organisation, request.project)
        return await self._forest.approval_state(project, request.key)

    async def read_state_or_none(self, record: ApprovalRecord) -> ApprovalState | None:
        """Like ``read_state``, but a failure gives None: the message then shows the votes as
        not yet known, because a message now, corrected on the next nudge, beats no message."""
        try:
            return await self.read_state(record.request)
        except ForestError as error:
            log.warning(
                "could not read approval state: %s", error.sentence, extra=record.key.log_fields
            )
            return None

    async def render(self, record: ApprovalRecord, state: ApprovalState | None) -> Rendered:
        """Render ``record`` with ``state`` (None: votes not known yet)."""
        people = await self._slack_users(record.request, state)
        view = ApprovalView(
            request=record.request,
            state=state,
            web_url=self.web_url(record.request),
            outcome=record.outcome,
            slack_users=people,
            outcome_at=(
                datetime.fromtimestamp(record.outcome_at, UTC) if record.outcome_at else None
            ),
            bypassed=frozenset(record.bypassed),
        )
        message = approval_message(view)
        digest = message.digest
        return Rendered(message.text, message.blocks, digest, state, people)

    def web_url(self, request: ApprovalRequest) -> str:
        return release_page(
            self._forest_web_url, request.organisation, request.project, request.release
        )

    async def _slack_users(
        self, request: ApprovalRequest, state: ApprovalState | None
    ) -> dict[str, str]:
        user_ids = [decision.user_id for decision in state.decisions] if state else []
        people = await self._people.slack_users(user_ids)
        author = request.release.author
        if author and author.user_id and author.user_id not in people:
            slack_id = await self._people.slack_user(author.user_id, author.email)
            if slack_id:
                people[author.user_id] = slack_id
        return people
