"""Casting a vote in forest as the person who asked in Slack, under the gate's rules.

The acting identity is always the Slack user of the verified request. What is voted on comes from
our own record of the approval message, and a request naming another message is refused. The
admin check for a bypass happens here because forest does not make it: forest never sees
``force_bypass`` for anyone else.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter

from bot.approval import ApprovalKey, ApprovalRequest, ApprovalState, Outcome, Vote
from bot.approvals.keeper import Keeper, VoteContext, thread_reported
from bot.approvals.one_message import names_another_message, posted_record, record_of_message
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestError, ForestPermissionDenied, refuses_own_release
from bot.identity.link_store import Link
from bot.identity.linking import LinkService, NeedsLogin
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.metrics import Metrics
from bot.state.approval_store import ApprovalRecord, ApprovalStore
from bot.state.errors import StoreUnavailable

if TYPE_CHECKING:
    from bot.plans.plan import PlanKey

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000
# A vote call that timed out may still have been recorded: forest's state is read this many
# times, this far apart, before the person is told it was not.
CONFIRM_READS = 2
CONFIRM_READ_SPACING_SECONDS = 1.0
# Reads of the record that fail at once are tried again for this long (a slow failure, such as
# a timeout while NATS is away, is not: it already took longer).
STORE_RETRY_SECONDS = 3.0
STORE_RETRY_STEP_SECONDS = 0.25

FOREST_SILENT = "Forest didn't answer"
STORE_SILENT = "The bot could not reach its storage"
SHOWN_LATER = (
    "Your vote was recorded in forest. The approval message could not be updated yet; "
    "it will catch up shortly."
)
NOT_THE_AUTHOR = (
    "Forest says you are not this release's author, so there was nothing to bypass: your"
    " approval was recorded as an ordinary vote."
)


class VoteKind(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    BYPASS = "bypass"


@dataclass(frozen=True)
class Ballot:
    """One person's request to vote, as the verified Slack request states it."""

    team_id: str
    slack_user_id: str
    key: ApprovalKey
    kind: VoteKind
    comment: str | None = None
    # Where the person clicked or replied; must be our message for ``key``.
    channel: str | None = None
    message_ts: str | None = None


class Verdict(enum.StrEnum):
    RECORDED = "recorded"
    # Recorded in forest, but the message or our record of it could not be updated yet: the
    # person is told it counts, since the message does not say so.
    RECORDED_UNSHOWN = "recorded_unshown"
    UNCHANGED = "unchanged"  # forest already had exactly this vote from this person
    NOT_LINKED = "not_linked"
    REFUSED = "refused"  # our rules or forest's said no; the sentence says why
    FAILED = "failed"  # forest or the bot's storage did not answer: NOT recorded, try again
    IN_FLIGHT = "in_flight"  # the same person's vote is being recorded right now


@dataclass(frozen=True)
class VoteResult:
    verdict: Verdict
    sentence: str = ""
    record: ApprovalRecord | None = None
    # For FAILED: what did not answer, said before "so your vote was NOT recorded".
    silent: str = FOREST_SILENT


def as_written(text: str | None) -> str | None:
    """A vote's comment or a plan's reason as forest gets it: trimmed, cut to
    ``MAX_COMMENT_CHARS``, None when nothing is left."""
    return (text or "").strip()[:MAX_COMMENT_CHARS] or None


@dataclass(frozen=True)
class NoLink:
    """Why a person cannot act in forest as themselves just now."""

    verdict: Verdict  # NOT_LINKED (the sentence says how to link) or FAILED (forest is silent)
    sentence: str


async def link_of(linking: LinkService, team_id: str, slack_user_id: str) -> Link | NoLink:
    """The person's link, fresh enough for a call to forest; or why there is none."""
    try:
        return await linking.fresh_link(team_id, slack_user_id)
    except NeedsLogin as needs:
        return NoLink(Verdict.NOT_LINKED, needs.sentence)
    except ForestError as error:
        return NoLink(Verdict.FAILED, error.sentence)


class Asked(Protocol):
    """A person's request: a vote's ``Ballot`` or a plan's ``PlanBallot``."""

    @property
    def key(self) -> ApprovalKey | PlanKey: ...

    @property
    def slack_user_id(self) -> str: ...


def count_answer(
    counter: Counter, logger: logging.Logger, what: str, asked: Asked, kind: str, verdict: Verdict
) -> None:
    """How a vote or a plan decision ended: counted in ``counter`` by kind and outcome, and one
    line in the log."""
    counter.labels(kind=kind, outcome=verdict.value).inc()
    logger.info(
        "%s %s",
        what,
        verdict.value,
        extra={
            **asked.key.log_fields,
            "slack_user": asked.slack_user_id,
            "kind": kind,
            "outcome": verdict.value,
        },
    )


@dataclass(frozen=True)
class _Admitted:
    record: ApprovalRecord
    link: Link


class VoteService:
    def __init__(
        self,
        store: ApprovalStore,
        forest: ForestClient,
        linking: LinkService,
        keeper: Keeper,
        metrics: Metrics,
        concurrency: int = 8,
    ) -> None:
        self._store = store
        self._forest = forest
        self._linking = linking
        self._keeper = keeper
        self._metrics = metrics
        self._in_flight = KeyedLocks()
        self._in_turn = KeyedLocks()
        # Votes are cast a few at a time. Under a burst of clicks the event loop then stays
        # free to acknowledge new requests well within Slack's 3 seconds; the rest wait here.
        self._casting = asyncio.Semaphore(concurrency)

    async def find(self, key: ApprovalKey) -> ApprovalRecord | None:
        """Our record of the approval, once its message is posted (waits a moment).

        A JetStream that answers at once that it cannot (a cluster electing a new leader after
        losing a node) is asked again for a few seconds before the person is told their vote
        was not recorded."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                return await posted_record(self._store, key)
            except StoreUnavailable:
                if loop.time() - started >= STORE_RETRY_SECONDS:
                    raise
                await asyncio.sleep(STORE_RETRY_STEP_SECONDS)

    async def approval_of_message(self, channel: str, ts: str) -> ApprovalKey | None:
        """The approval the message at (``channel``, ``ts``) shows, waiting a moment for one
        posted just now; None for another message."""
        return await record_of_message(lambda: self._store.approval_of_message(channel, ts), ts)

    async def check(self, ballot: Ballot) -> VoteResult | None:
        """Everything that refuses a ballot before any vote reaches forest; None when it may go.

        Used to answer at once when a modal opens, and again when the vote is cast.
        """
        admitted = await self._admit(ballot)
        return admitted if isinstance(admitted, VoteResult) else None

    async def _admit(self, ballot: Ballot) -> VoteResult | _Admitted:
        """A refusal, or the record and the person's fresh link that the vote goes ahead with."""
        record = await self.find(ballot.key)
        refusal = _refusal_for_message(record, ballot)
        if refusal is not None:
            return refusal
        assert record is not None
        link = await link_of(self._linking, ballot.team_id, ballot.slack_user_id)
        if isinstance(link, NoLink):
            return VoteResult(link.verdict, link.sentence, record)
        if ballot.kind == VoteKind.BYPASS:
            refusal = await self._bypass_refusal(record, link)
            if refusal is not None:
                return refusal
        return _Admitted(record, link)

    async def cast(self, ballot: Ballot) -> VoteResult:
        """Every ballot ends in a result to tell the person: never an exception."""
        try:
            result = await self._cast(ballot)
        except StoreUnavailable as error:
            log.warning("vote not cast: %s", error, extra=ballot.key.log_fields)
            result = _store_failure()
        except Exception:
            # Everything after forest took the vote is handled in _show; this is before it.
            log.exception("vote not cast", extra=ballot.key.log_fields)
            result = VoteResult(Verdict.FAILED, silent="Something went wrong")
        count_answer(self._metrics.votes, log, "vote", ballot, ballot.kind.value, result.verdict)
        return result

    async def _cast(self, ballot: Ballot) -> VoteResult:
        comment = as_written(ballot.comment)
        if ballot.kind in (VoteKind.REJECT, VoteKind.BYPASS) and not comment:
            what = "A rejection" if ballot.kind == VoteKind.REJECT else "A bypass"
            return VoteResult(Verdict.REFUSED, f"{what} needs a reason.")
        person = (ballot.key, ballot.team_id, ballot.slack_user_id)
        # The same vote again while it is being recorded is a double click: drop it. A
        # different vote by the same person (a reject right after an approve) waits its turn.
        same_vote = (*person, ballot.kind)
        if self._in_flight.busy(same_vote):
            return VoteResult(Verdict.IN_FLIGHT, "Your vote is already being recorded.")
        async with self._in_flight.hold(same_vote), self._in_turn.hold(person):
            # The slot is held only until forest answers: showing the vote waits on Slack,
            # whose slowness must not keep other people's votes from forest.
            async with self._casting:
                admitted = await self._admit(ballot)
                if isinstance(admitted, VoteResult):
                    return admitted
                sent = await self._send(ballot, admitted.record, admitted.link, comment)
            if isinstance(sent, VoteResult):
                return sent
            return await self._show(ballot, admitted.record, *sent)

    async def _send(
        self, ballot: Ballot, record: ApprovalRecord, link: Link, comment: str | None
    ) -> VoteResult | tuple[Link, ApprovalState, bool]:
        """Forest's state with the vote in it (and whether it was the author's bypass), or the
        result to tell the person."""
        wanted = Vote.REJECTED if ballot.kind == VoteKind.REJECT else Vote.APPROVED
        if await self._already_voted(record, link, wanted, comment):
            return VoteResult(
                Verdict.UNCHANGED, f"You already {wanted.value} this release.", record
            )
        try:
            link, (state, bypassed) = await self._linking.as_person(
                link, lambda current: self._vote(record.request, current, ballot.kind, comment)
            )
        except NeedsLogin as needs:
            return VoteResult(Verdict.NOT_LINKED, needs.sentence, record)
        except ForestError as error:
            if not error.retryable:
                return _failure(error, record)
            # A vote whose answer was lost (a deadline, a dropped connection) may have been
            # recorded all the same: ask forest before telling the person it was not.
            found = await self._state_with(record, link.forest_user_id, wanted, comment)
            if found is None:
                return _failure(error, record)
            log.info("a vote forest did not answer was recorded", extra=ballot.key.log_fields)
            # Which call of a bypass landed is unknown; an admin asked for one.
            return link, found, ballot.kind == VoteKind.BYPASS
        return link, state, bypassed

    async def _show(
        self,
        ballot: Ballot,
        record: ApprovalRecord,
        link: Link,
        state: ApprovalState,
        bypassed: bool,
    ) -> VoteResult:
        """Forest has the vote: show it. From here on the person is never told "NOT recorded"."""
        approved = ballot.kind != VoteKind.REJECT
        context = VoteContext(
            link.forest_user_id,
            ballot.slack_user_id,
            bypass=bypassed,
            approved_plainly=approved and not bypassed,
        )
        try:
            shown = await self._keeper.apply(ballot.key, state, context)
        except Exception as error:
            # The record could not be written (JetStream down or full) or Slack failed in a way
            # the keeper does not expect; the next refresh of the approval catches up.
            log.warning(
                "a recorded vote is not shown yet: %s",
                _describe(error),
                extra=ballot.key.log_fields,
            )
            shown = False
        if not shown:
            return VoteResult(Verdict.RECORDED_UNSHOWN, SHOWN_LATER, record)
        if ballot.kind == VoteKind.BYPASS and not bypassed:
            return VoteResult(Verdict.RECORDED, NOT_THE_AUTHOR, record)
        return VoteResult(Verdict.RECORDED, record=record)

    async def _state_with(
        self, record: ApprovalRecord, forest_user_id: str, wanted: Vote, comment: str | None
    ) -> ApprovalState | None:
        """Forest's state if it holds this person's ``wanted`` vote (with ``comment``), else
        None, also when forest cannot say."""
        project = ProjectRef(record.request.organisation, record.request.project)
        for attempt in range(CONFIRM_READS):
            if attempt:
                await asyncio.sleep(CONFIRM_READ_SPACING_SECONDS)
            try:
                state = await self._forest.approval_state(project, record.key)
            except ForestError:
                continue
            current = state.decision_of(forest_user_id)
            if (
                current is not None
                and current.decision == wanted
                and (comment is None or current.comment == comment)
            ):
                return state
        return None

    async def _vote(
        self, request: ApprovalRequest, link: Link, kind: VoteKind, comment: str | None
    ) -> tuple[ApprovalState, bool]:
        """Forest's state after the vote, and whether it was the author's bypass."""
        project = ProjectRef(request.organisation, request.project)
        token, key = link.access_token, request.key
        if kind == VoteKind.REJECT:
            return await self._forest.reject(token, project, key, comment), False
        if kind == VoteKind.APPROVE:
            return await self._forest.approve(token, project, key, comment), False
        # Only forest knows who authored the release (an event may not say, or say wrongly):
        # without force_bypass it refuses the author alone, so that refusal is the proof, and
        # force_bypass is sent to no one else. Anyone else's approval counts as an ordinary one.
        try:
            return await self._forest.approve(token, project, key, comment), False
        except ForestPermissionDenied as error:
            if not refuses_own_release(error):
                raise
        return await self._forest.approve(token, project, key, comment, force_bypass=True), True

    async def _already_voted(
        self, record: ApprovalRecord, link: Link, wanted: Vote, comment: str | None
    ) -> bool:
        """A repeat of the person's current vote (a double click, a retried request).

        Only a vote the thread already reported is checked with forest: the person may have
        changed it in forage since. Any other vote goes straight to forest, which replaces the
        person's earlier decision, so a new vote costs no read.
        """
        if not thread_reported(record, link.forest_user_id, wanted, comment):
            return False
        try:
            state = await self._forest.approval_state(
                ProjectRef(record.request.organisation, record.request.project), record.key
            )
        except ForestError:
            return False  # unknown: let forest decide, it replaces votes anyway
        current = state.decision_of(link.forest_user_id)
        return (
            current is not None
            and current.decision == wanted
            and (comment is None or current.comment == comment)
        )

    async def _bypass_refusal(self, record: ApprovalRecord, link: Link) -> VoteResult | None:
        request = record.request
        author = request.release.author
        if author is not None and author.user_id and author.user_id != link.forest_user_id:
            return VoteResult(
                Verdict.REFUSED,
                "Bypass is only for the release's author. Use Approve to vote for it.",
                record,
            )
        try:
            memberships = await self._forest.memberships(link.access_token)
        except ForestError as error:
            return _failure(error, record)
        roles = {m.organisation: m.role for m in memberships}
        if roles.get(request.organisation) == "admin":
            return None
        role = roles.get(request.organisation)
        where = (
            f"You are a {role} of {request.organisation}."
            if role
            else f"You are not a member of {request.organisation}."
        )
        return VoteResult(Verdict.REFUSED, f"Only org admins can bypass. {where}", record)


def _refusal_for_message(record: ApprovalRecord | None, ballot: Ballot) -> VoteResult | None:
    if record is None:
        return VoteResult(Verdict.REFUSED, "This approval is not one the bot is tracking.")
    if not record.ts:
        # Posted in Slack, but its record is still being written (a post retried after NATS
        # failed under it): the vote can go ahead in a moment.
        return VoteResult(
            Verdict.FAILED, record=record, silent="This approval is still being set up"
        )
    if names_another_message(record, ballot.channel, ballot.message_ts, ballot.slack_user_id):
        return VoteResult(Verdict.REFUSED, "That button does not belong to this release.")
    if record.outcome is not None:
        return VoteResult(Verdict.REFUSED, _closed_sentence(record.outcome), record)
    if record.approved:
        return VoteResult(Verdict.REFUSED, "This release has already been approved.", record)
    return None


def _closed_sentence(outcome: Outcome) -> str:
    return {
        Outcome.SUCCEEDED: "This release has already been deployed.",
        Outcome.FAILED: "This release has already finished (its deploy failed).",
        Outcome.CANCELLED: "This release was cancelled.",
        Outcome.TIMED_OUT: "This release timed out.",
    }[outcome]


def _failure(error: ForestError, record: ApprovalRecord) -> VoteResult:
    verdict = Verdict.FAILED if error.retryable else Verdict.REFUSED
    return VoteResult(verdict, error.sentence, record)


def _store_failure() -> VoteResult:
    return VoteResult(
        Verdict.FAILED, f"{STORE_SILENT}, so your vote was NOT recorded.", silent=STORE_SILENT
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
