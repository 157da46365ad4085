"""Keeping each approval message true: votes from anywhere, approval, and the final outcome.

Every change goes through one path: render, ``chat.update`` (idempotent), then a compare-and-swap
of the record. The thread replies the change calls for are written in that same swap, as replies
the thread is owed, and only the process whose swap wins posts them (bot/slack/outbox.py): a
reply is posted once however many processes saw the same change, and a process that dies before
posting it leaves it to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from blocks import replies
from bot.approval import ApprovalKey, ApprovalState, ApprovalView, Decision, Outcome, Vote
from bot.approvals.presenter import Presenter, Rendered
from bot.forest.errors import ForestError
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.metrics import Metrics
from bot.runtime.tasks import TaskSet
from bot.slack.outbox import Outbox
from bot.slack.pacing import Priority
from bot.slack.web import SlackError, SlackUnreachable, SlackWeb
from bot.state.approval_store import (
    ApprovalRecord,
    ApprovalStore,
    OwedReply,
    Phase,
    StaleRevision,
    Stored,
)
from bot.state.errors import StoreUnavailable
from bot.state.owed import write_over_settled

log = logging.getLogger(__name__)

MAX_SWAP_ATTEMPTS = 5
# A queued tally Slack did not answer is sent again this many times, this far apart.
TALLY_ATTEMPTS = 12
TALLY_RETRY_SECONDS = 5.0


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
    # The replies this change owes the thread (also in ``record.owed``, once written).
    owed: tuple[OwedReply, ...] = ()


class NotPostedYet(Exception):
    """The approval is claimed but its message is not recorded yet: try again shortly."""


class MessageNotShown(Exception):
    """Slack did not take the message's update (refused, or too slow); try again later."""


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
        outbox: Outbox[ApprovalKey, ApprovalRecord],
        locks: KeyedLocks,
        clock: Callable[[], float] = time.time,
        later: TaskSet | None = None,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._presenter = presenter
        self._web = web
        self._outbox = outbox
        self._clock = clock
        # When the door paces calls, a tally's update waits its turn there (nothing queued is
        # dropped) instead of holding this approval and a vote slot; so do the thread's replies,
        # in the outbox.
        self._later = later if later is not None else TaskSet()
        # The digest of the tally each approval's queued update will show, until Slack took it.
        self._queued: dict[ApprovalKey, str] = {}
        # Serialises writes of one approval's record inside this process (shared with the
        # outbox); replicas rely on the swap.
        self._locks = locks

    async def refresh(self, key: ApprovalKey) -> None:
        """Re-read forest's votes and bring the message up to date.

        Raises ForestError, StoreUnavailable, or MessageNotShown when Slack did not take it."""
        if not await self._update(key, state=None, outcome=None, vote=None):
            raise MessageNotShown(key)

    async def apply(self, key: ApprovalKey, state: ApprovalState, vote: VoteContext) -> bool:
        """Show the state forest returned for a vote the bot just cast; False when Slack did
        not take the update. Raises StoreUnavailable when the record could not be written."""
        return await self._update(key, state=state, outcome=None, vote=vote)

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
    ) -> bool:
        """False when Slack did not take the message's update (nothing was recorded)."""
        async with self._locks.hold(key):
            overwrote = False
            for _ in range(MAX_SWAP_ATTEMPTS):
                # Read under the lock, never earlier: a record read before a finish would
                # put the buttons back on a message that already shows the outcome.
                stored = await self._store.get(key)
                if stored is not None and stored.record.phase == Phase.CLAIMED:
                    raise NotPostedYet(key)
                if stored is None or not stored.record.open:
                    if overwrote and stored is not None:
                        await self._show_ended(stored.record)
                    return True
                try:
                    change = self._owing(await self._change(stored, state, outcome, vote), vote)
                except _Unchanged:
                    return True
                except _NotShown:
                    return False
                # Also over a write that only settled thread replies meanwhile.
                written = await write_over_settled(
                    self._store, key, stored, change.record, change.owed
                )
                if written is None:
                    # Someone wrote a newer view; the state we were handed may be older than
                    # theirs, so read forest again rather than show it. Our update may have
                    # reached Slack after theirs (updates wait their turn in Slack's limits).
                    overwrote = overwrote or change.record.digest != stored.record.digest
                    state = None
                    continue
                await self._outbox.send(written.record, change.owed)
                return True
            log.warning("gave up updating after repeated concurrent writes", extra=key.log_fields)
            return True

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
        # A tally still queued in this process is what Slack will show next, not the record's.
        queued = self._queued.get(record.key)
        if (
            rendered.digest == record.digest
            and queued in (None, rendered.digest)
            and not new_decisions
            and outcome is None
            and record.bypassed == stored.record.bypassed
            and record.request == stored.record.request
        ):
            raise _Unchanged
        urgent = outcome is not None or newly_approved
        shown = record.digest
        if rendered.digest != record.digest or queued not in (None, rendered.digest):
            if not urgent and self._web.paced:
                # Only a tally: queued (once), and recorded as shown once Slack took it.
                if queued != rendered.digest:
                    self._queue_tally(record, rendered)
            else:
                # Sent in place of any tally still queued (the door coalesces them).
                self._queued.pop(record.key, None)
                if await self._show(record, rendered, urgent):
                    shown = rendered.digest
                elif outcome is not None:
                    raise OutcomeNotShown(record.key)
                else:
                    raise _NotShown
        record = replace(
            record,
            digest=shown,
            approved=record.approved or rendered.approved,
            reported=reported,
        )
        return _Change(record, rendered, newly_approved, new_decisions)

    async def _show_ended(self, record: ApprovalRecord) -> None:
        """Show the outcome another replica recorded while our own update of the message was
        on its way: ours may have reached Slack last and put the buttons back."""
        state = await self._presenter.read_state_or_none(record)
        rendered = await self._presenter.render(record, state)
        await self._show(record, rendered, urgent=True)

    async def _show(self, record: ApprovalRecord, rendered: Rendered, urgent: bool) -> bool:
        """Update the message; False when Slack refused or did not answer in time.

        ``urgent``: an outcome or the approval itself, which people wait to see."""
        try:
            await self._send(record, rendered, Priority.PERSON if urgent else Priority.REFRESH)
        except SlackError as error:  # refused, or no answer in time
            log.warning(
                "could not update the approval message: %s",
                error.code,
                extra=record.key.log_fields,
            )
            return False
        self._metrics.messages_updated.inc()
        return True

    async def _send(
        self,
        record: ApprovalRecord,
        rendered: Rendered,
        priority: Priority,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        await self._web.update_message(
            record.channel,
            record.ts,
            rendered.text,
            rendered.blocks,
            priority,
            still_wanted=still_wanted,
        )

    def _queue_tally(self, record: ApprovalRecord, rendered: Rendered) -> None:
        """Queue an update that only refreshes a tally, without waiting for Slack's limits.

        The record keeps the digest Slack shows until the update is made, so a process that
        dies with it queued leaves the message to the next refresh, not stale for good."""
        self._queued[record.key] = rendered.digest
        self._later.spawn(self._show_later(record, rendered), name="refresh a tally")

    async def _show_later(self, record: ApprovalRecord, rendered: Rendered) -> None:
        async def still_wanted() -> bool:
            # While it waited, another replica may have shown the approval or the outcome:
            # a tally sent after that would take them back off the message.
            stored = await self._store.get(record.key)
            return stored is not None and stored.record.open and not stored.record.approved

        # A Slack that does not answer (a hanging chat.update), or a record that cannot be
        # asked (NATS away), is tried again a few times: no nudge may come to refresh this
        # tally, and the vote in it would stay unseen.
        try:
            for attempt in range(TALLY_ATTEMPTS):
                if attempt:
                    await asyncio.sleep(TALLY_RETRY_SECONDS)
                    if self._queued.get(record.key) != rendered.digest:
                        return  # a newer state was queued or sent in its place
                try:
                    await self._send(record, rendered, Priority.REFRESH, still_wanted)
                except SlackError as error:
                    log.warning(
                        "could not update the approval message: %s",
                        error.code,
                        extra=record.key.log_fields,
                    )
                    if isinstance(error, SlackUnreachable):
                        continue
                    break
                except StoreUnavailable as error:
                    log.warning(
                        "could not update the approval message yet: %s",
                        error,
                        extra=record.key.log_fields,
                    )
                    continue
                else:
                    self._metrics.messages_updated.inc()
                    with contextlib.suppress(StoreUnavailable):  # shown; recorded next time
                        await self._record_shown(record.key, rendered.digest)
                    return
        finally:
            # Given up (or cancelled): the next refresh sends it again, which it would not
            # while this process still counts it as on its way.
            if self._queued.get(record.key) == rendered.digest:
                del self._queued[record.key]

    async def _record_shown(self, key: ApprovalKey, digest: str) -> None:
        """Slack took the queued update showing ``digest``: the record says so."""
        async with self._locks.hold(key):
            if self._queued.get(key) != digest:
                return  # a newer state was queued after this one (and was sent in its place)
            del self._queued[key]
            for _ in range(MAX_SWAP_ATTEMPTS):
                stored = await self._store.get(key)
                record = stored.record if stored is not None else None
                # Approved or ended: shown by its own update, never by a queued tally.
                if record is None or not record.open or record.approved or record.digest == digest:
                    return
                try:
                    await self._store.replace(stored, replace(stored.record, digest=digest))
                    return
                except StaleRevision:
                    continue

    def _owing(self, change: _Change, vote: VoteContext | None) -> _Change:
        """``change`` with the replies it owes the thread, written in its compare-and-swap."""
        record = change.record
        view = ApprovalView(
            request=record.request,
            state=change.rendered.state,
            web_url=self._presenter.web_url(record.request),
            outcome=record.outcome,
            slack_users=change.rendered.slack_users,
            bypassed=frozenset(record.bypassed),
        )
        # In this order they are posted (merged, when several wait in the thread).
        texts: list[tuple[str, bool]] = []
        for decision, previous in change.new_decisions:
            texts.append((_decision_reply(decision, previous, view, vote), False))
        if change.newly_approved:
            texts.append((replies.approved_summary(view), True))
        if record.outcome is not None:  # set by this change: an ended record is left alone
            at = datetime.fromtimestamp(record.outcome_at or self._clock(), UTC)
            outcome = replies.outcome_reply(
                record.outcome, record.key.target_environment, at=at, web_url=view.web_url
            )
            texts.append((outcome, True))
        owed = self._outbox.owe(texts)
        return replace(change, record=replace(record, owed=(*record.owed, *owed)), owed=owed)


class _Unchanged(Exception):
    pass


class _NotShown(Exception):
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
