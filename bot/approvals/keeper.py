"""Keeping each approval message true: votes from anywhere, approval, and the final outcome.

Every change goes through one path: render, ``chat.update`` (idempotent), then a compare-and-swap
of the record. Only the process whose swap wins posts the thread replies that the change calls for,
so a reply is posted once however many processes saw the same change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from blocks import replies
from bot.approval import ApprovalKey, ApprovalState, ApprovalView, Decision, Outcome, Vote
from bot.approvals.presenter import Presenter, Rendered
from bot.forest.errors import ForestError
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.metrics import Metrics
from bot.slack.thread_replies import reply_in_thread
from bot.slack.web import SlackRefused, SlackWeb
from bot.state.approval_store import ApprovalRecord, ApprovalStore, Phase, StaleRevision, Stored

log = logging.getLogger(__name__)

MAX_SWAP_ATTEMPTS = 5


@dataclass(frozen=True)
class VoteContext:
    """What the bot knows about a vote it cast itself, beyond forest's state."""

    forest_user_id: str
    slack_user_id: str
    bypass: bool = False
    # Forest accepted this person's approval without force_bypass: they are not the author,
    # whatever the event said.
    approved_plainly: bool = False


@dataclass
class _Change:
    record: ApprovalRecord
    rendered: Rendered
    newly_approved: bool
    new_decisions: list[tuple[Decision, str | None]] = field(default_factory=list)


class NotPostedYet(Exception):
    """The approval is claimed but its message is not recorded yet: try again shortly."""


class OutcomeNotShown(Exception):
    """Slack refused to show a release's outcome; nothing was recorded: try again later.

    Votes need no such retry (the next nudge or re-read shows them), but an outcome arrives
    once, on core NATS, and is not read back from forest.
    """


class Keeper:
    def __init__(
        self,
        store: ApprovalStore,
        presenter: Presenter,
        web: SlackWeb,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._presenter = presenter
        self._web = web
        self._clock = clock
        # Serialises updates of one approval inside this process; replicas rely on the swap.
        self._locks = KeyedLocks()

    async def refresh(self, key: ApprovalKey) -> None:
        """Re-read forest's votes and bring the message up to date. Raises ForestError."""
        await self._update(key, state=None, outcome=None, vote=None)

    async def apply(self, key: ApprovalKey, state: ApprovalState, vote: VoteContext) -> None:
        """Show the state forest returned for a vote the bot just cast."""
        await self._update(key, state=state, outcome=None, vote=vote)

    async def finish(self, key: ApprovalKey, outcome: Outcome) -> None:
        """The release intent ended: show the outcome, remove the buttons.

        Raises OutcomeNotShown when Slack refused the update."""
        await self._update(key, state=None, outcome=outcome, vote=None)

    async def _update(
        self,
        key: ApprovalKey,
        state: ApprovalState | None,
        outcome: Outcome | None,
        vote: VoteContext | None,
    ) -> None:
        async with self._locks.hold(key):
            for _ in range(MAX_SWAP_ATTEMPTS):
                # Read under the lock, never earlier: a record read before a finish would
                # put the buttons back on a message that already shows the outcome.
                stored = await self._store.get(key)
                if stored is not None and stored.record.phase == Phase.CLAIMED:
                    raise NotPostedYet(key)
                if stored is None or not stored.record.open:
                    return
                try:
                    change = await self._change(stored, state, outcome, vote)
                except _Unchanged:
                    return
                try:
                    await self._store.replace(stored, change.record)
                except StaleRevision:
                    # Someone wrote a newer view; the state we were handed may be older than
                    # theirs, so read forest again rather than show it.
                    state = None
                    continue
                await self._tell_thread(change, vote)
                return
            log.warning("gave up updating after repeated concurrent writes", extra=key.log_fields)

    async def _change(
        self,
        stored: Stored,
        state: ApprovalState | None,
        outcome: Outcome | None,
        vote: VoteContext | None,
    ) -> _Change:
        record = stored.record
        if vote is not None and vote.bypass and vote.forest_user_id not in record.bypassed:
            record = replace(record, bypassed=(*record.bypassed, vote.forest_user_id))
        if vote is not None and vote.approved_plainly:
            record = _without_false_author(record, vote.forest_user_id)
        if outcome is not None:
            record = replace(record, outcome=outcome, outcome_at=self._clock())
        if state is None:
            try:
                state = await self._presenter.read_state(record.request)
            except ForestError:
                if outcome is None:
                    raise
                # The outcome is known even when the votes cannot be read.
        rendered = await self._presenter.render(record, state)
        newly_approved = rendered.approved and not record.approved
        reported = dict(record.reported)
        new_decisions: list[tuple[Decision, str | None]] = []
        for decision in rendered.state.decisions if rendered.state else ():
            mark = _mark(decision)
            previous = reported.get(decision.user_id)
            if previous != mark:
                new_decisions.append((decision, previous))
                reported[decision.user_id] = mark
        if (
            rendered.digest == record.digest
            and not new_decisions
            and outcome is None
            and record.bypassed == stored.record.bypassed
            and record.request == stored.record.request
        ):
            raise _Unchanged
        if rendered.digest != record.digest and not await self._show(record, rendered):
            if outcome is not None:
                raise OutcomeNotShown(record.key)
            raise _Unchanged
        record = replace(
            record,
            digest=rendered.digest,
            approved=record.approved or rendered.approved,
            reported=reported,
        )
        return _Change(record, rendered, newly_approved, new_decisions)

    async def _show(self, record: ApprovalRecord, rendered: Rendered) -> bool:
        """Update the message; False when Slack refused (the next refresh tries again)."""
        try:
            await self._web.update_message(
                record.channel, record.ts, rendered.text, rendered.blocks
            )
        except SlackRefused as error:
            log.warning(
                "could not update the approval message: %s",
                error.code,
                extra=record.key.log_fields,
            )
            return False
        self._metrics.messages_updated.inc()
        return True

    async def _tell_thread(self, change: _Change, vote: VoteContext | None) -> None:
        record = change.record
        view = ApprovalView(
            request=record.request,
            state=change.rendered.state,
            web_url=self._presenter.web_url(record.request),
            outcome=record.outcome,
            slack_users=change.rendered.slack_users,
            bypassed=frozenset(record.bypassed),
        )
        texts: list[str] = []
        for decision, previous in change.new_decisions:
            texts.append(_decision_reply(decision, previous, view, vote))
        if change.newly_approved:
            texts.append(replies.approved_summary(view))
        if record.outcome is not None:
            at = datetime.fromtimestamp(record.outcome_at or self._clock(), UTC)
            texts.append(
                replies.outcome_reply(
                    record.outcome, record.key.target_environment, at=at, web_url=view.web_url
                )
            )
        for text in texts:
            await reply_in_thread(self._web, record, text)


class _Unchanged(Exception):
    pass


def _mark(decision: Decision) -> str:
    return _vote_mark(decision.decision, decision.comment)


def _vote_mark(vote: Vote, comment: str | None) -> str:
    """How the record remembers a decision the thread reported (``reported``)."""
    return f"{vote}:{comment or ''}"


def _marks_vote(mark: str, vote: Vote) -> bool:
    """Whether ``mark`` is a ``vote``, whatever its comment."""
    return mark.startswith(_vote_mark(vote, None))


def thread_reported(
    record: ApprovalRecord, forest_user_id: str, decision: Vote, comment: str | None
) -> bool:
    """Whether the thread already reported this person's ``decision``, with ``comment`` unless
    that is None."""
    mark = record.reported.get(forest_user_id)
    if mark is None:
        return False
    if comment is None:
        return _marks_vote(mark, decision)
    return mark == _vote_mark(decision, comment)


def reported_marks(state: ApprovalState | None) -> dict[str, str]:
    """The decisions of ``state`` as the record remembers what the thread has reported."""
    return {d.user_id: _mark(d) for d in state.decisions} if state else {}


def _decision_reply(
    decision: Decision, previous: str | None, view: ApprovalView, vote: VoteContext | None
) -> str:
    slack_id = view.slack_users.get(decision.user_id)
    if vote is not None and vote.forest_user_id == decision.user_id:
        slack_id = vote.slack_user_id
    if view.is_bypass(decision):
        return replies.bypassed_reply(slack_id, decision.comment or "", username=decision.username)
    changed = previous is not None and not _marks_vote(previous, decision.decision)
    if changed:
        return replies.vote_changed_reply(
            slack_id, decision.decision, decision.comment, username=decision.username
        )
    if decision.decision == Vote.APPROVED:
        return replies.approved_reply(slack_id, decision.comment, username=decision.username)
    people = {**view.slack_users, decision.user_id: slack_id} if slack_id else view.slack_users
    return replies.rejected_notice(replace(view, slack_users=people), decision)


def _without_false_author(record: ApprovalRecord, forest_user_id: str) -> ApprovalRecord:
    """The record without an author that forest has just shown is not the author (it accepted
    their approval without force_bypass): an event's claim, never shown as a fact again."""
    release = record.request.release
    author = release.author
    if author is None or not author.user_id or author.user_id != forest_user_id:
        return record
    request = replace(record.request, release=replace(release, author=None))
    return replace(record, request=request)
