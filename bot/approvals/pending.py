"""What waits for one person: the open approvals in their organisations that they have neither
voted on nor authored, each with a link to its message.

Membership comes from forest with the person's own token (the bot's app token sees one
organisation only); the votes come from forest's state read with the app token, as the approval
message shows them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from bot.approval import ApprovalView, PendingApproval
from bot.approvals.open_approvals import OpenApprovals
from bot.approvals.presenter import Presenter
from bot.forest.client import ForestClient
from bot.identity.link_store import Link
from bot.identity.linking import LinkService
from bot.slack.web import SlackError, SlackWeb
from bot.state.approval_store import ApprovalRecord, ApprovalStore

log = logging.getLogger(__name__)

# Forest reads and KV reads in flight at once while one list is built.
LOOKUP_CONCURRENCY = 8
# Permalinks never change, so they are kept; this bounds how many.
PERMALINKS_KEPT = 2000

Result = TypeVar("Result")


class WaitingPlans(Protocol):
    async def waiting_in(self, organisations: set[str]) -> list[PendingApproval]: ...


def archive_url(channel: str, ts: str) -> str:
    """Slack's address of a message, built without asking Slack; it redirects to the workspace."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def waiting_since(record: ApprovalRecord) -> datetime:
    """When forest blocked the release, if it said; else when the bot took up the approval."""
    return forest_time_or_claim(record.request.blocked_at, record.claimed_at)


def forest_time_or_claim(forest_time: str, claimed_at: float) -> datetime:
    """The time forest wrote (RFC 3339; one without a zone is UTC) when it reads as one, else
    ``claimed_at``, when the bot took the message up. Plans wait since such a time too."""
    forest_time = forest_time.strip()
    if forest_time:
        try:
            moment = datetime.fromisoformat(forest_time)
        except ValueError:
            pass
        else:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return datetime.fromtimestamp(claimed_at, UTC)


class Permalinks:
    """Links to approval messages: Slack's own permalink, or the archive address when Slack
    does not give one (a link that may need a redirect beats no link)."""

    def __init__(self, web: SlackWeb, kept: int = PERMALINKS_KEPT) -> None:
        self._web = web
        self._kept = kept
        self._known: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def of(self, channel: str, ts: str) -> str:
        known = self._known.get((channel, ts))
        if known is not None:
            return known
        try:
            permalink = await self._web.permalink(channel, ts)
        except SlackError as error:
            log.warning("chat.getPermalink failed; using the archive address: %s", error)
            return archive_url(channel, ts)
        if not permalink:
            return archive_url(channel, ts)
        self._known[(channel, ts)] = permalink
        if len(self._known) > self._kept:
            self._known.popitem(last=False)
        return permalink


class PendingApprovals:
    def __init__(
        self,
        open_approvals: OpenApprovals,
        store: ApprovalStore,
        linking: LinkService,
        forest: ForestClient,
        presenter: Presenter,
        permalinks: Permalinks,
        plans: WaitingPlans | None = None,
    ) -> None:
        self._plans = plans
        self._open = open_approvals
        self._store = store
        self._linking = linking
        self._forest = forest
        self._presenter = presenter
        self._permalinks = permalinks

    async def for_person(self, team_id: str, slack_user_id: str) -> list[PendingApproval]:
        """The approvals waiting for this person's vote, longest waiting first.

        Raises NeedsLogin when the person is not linked to forest, and ForestError when forest
        cannot say which organisations they belong to.
        """
        link = await self._linking.fresh_link(team_id, slack_user_id)
        link, organisations = await self._organisations(link)
        records = [
            record
            for record in await self._open_records()
            if record.request.organisation in organisations and not _authored_by(record, link)
        ]
        found: list[PendingApproval | None] = list(
            await _bounded(self._if_waiting(record, link) for record in records)
        )
        if self._plans is not None:
            found.extend(await self._plans.waiting_in(organisations))
        return sorted((item for item in found if item is not None), key=_longest_waiting_first)

    async def _organisations(self, link: Link) -> tuple[Link, set[str]]:
        link, memberships = await self._linking.as_person(
            link, lambda current: self._forest.memberships(current.access_token)
        )
        return link, {membership.organisation for membership in memberships}

    async def _open_records(self) -> list[ApprovalRecord]:
        # The index already knows which are approved: only the others are read.
        keys = [key for key in self._open.all() if not self._open.is_approved(key)]
        stored = await _bounded(self._store.get(key) for key in keys)
        return [
            entry.record
            for entry in stored
            if entry is not None and entry.record.open and not entry.record.approved
        ]

    async def _if_waiting(self, record: ApprovalRecord, link: Link) -> PendingApproval | None:
        # Listed with its votes unknown when forest cannot say: hiding it would say nothing
        # waits when something may.
        state = await self._presenter.read_state_or_none(record)
        if state is not None and (state.approved or state.decision_of(link.forest_user_id)):
            return None
        return PendingApproval(
            view=ApprovalView(
                request=record.request,
                state=state,
                web_url=self._presenter.web_url(record.request),
            ),
            permalink=await self._permalinks.of(record.channel, record.ts),
            waiting_since=waiting_since(record),
        )


def _authored_by(record: ApprovalRecord, link: Link) -> bool:
    author = record.request.release.author
    if author is None:
        return False
    if author.user_id:
        return author.user_id == link.forest_user_id
    return bool(author.username) and author.username == link.forest_username


def _longest_waiting_first(item: PendingApproval) -> datetime:
    return item.waiting_since


async def _bounded(calls: Iterable[Awaitable[Result]]) -> list[Result]:
    """Await ``calls`` with at most LOOKUP_CONCURRENCY in flight, results in order."""
    slots = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(call: Awaitable[Result]) -> Result:
        async with slots:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))
