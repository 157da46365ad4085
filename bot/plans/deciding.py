"""Approving or rejecting a plan stage in forest as the person who asked in Slack.

The acting identity is the Slack user of the verified request; what is decided comes from our
record of the plan message, never from the button alone. One decision ends a plan: a double
click, a retried request or a second person's click decides once, and forest's
FAILED_PRECONDITION ("not awaiting approval") is the sentence "already decided".
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from bot.approvals.one_message import names_another_message, posted_record, record_of_message
from bot.approvals.voting import NoLink, Verdict, as_written, count_answer, link_of
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestError, ForestPermissionDenied, ForestUnavailable
from bot.identity.link_store import Link
from bot.identity.linking import LinkService, NeedsLogin
from bot.plans.keeper import PlanKeeper
from bot.plans.plan import Decided, PlanDecision, PlanKey, PlanView, StageEnd
from bot.plans.plan_store import Deciding, PlanRecord, PlanStore
from bot.plans.presenter import PlanPresenter
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.metrics import Metrics

log = logging.getLogger(__name__)


class PlanChoice(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class PlanBallot:
    """One person's request to decide a plan, as the verified Slack request states it."""

    team_id: str
    slack_user_id: str
    key: PlanKey
    choice: PlanChoice
    reason: str | None = None
    channel: str | None = None
    message_ts: str | None = None


@dataclass(frozen=True)
class PlanResult:
    verdict: Verdict
    sentence: str = ""
    record: PlanRecord | None = None


class PlanDecisions:
    def __init__(
        self,
        store: PlanStore,
        forest: ForestClient,
        linking: LinkService,
        keeper: PlanKeeper,
        presenter: PlanPresenter,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._presenter = presenter
        self._metrics = metrics
        self._store = store
        self._forest = forest
        self._linking = linking
        self._keeper = keeper
        self._clock = clock
        self._in_flight = KeyedLocks()

    async def find(self, key: PlanKey) -> PlanRecord | None:
        """Our record of the plan, once its message is posted (waits a moment)."""
        return await posted_record(self._store, key)

    async def plan_of_message(self, channel: str, ts: str) -> PlanKey | None:
        """The plan the message at (``channel``, ``ts``) shows, waiting a moment for one
        posted just now; None for another message."""
        return await record_of_message(lambda: self._store.plan_of_message(channel, ts), ts)

    async def plan_view(self, key: PlanKey) -> PlanView | None:
        """The plan as the "View plan" modal shows it, read fresh from forest."""
        stored = await self._store.get(key)
        if stored is None:
            return None
        record = stored.record
        return await self._presenter.view(record, await self._presenter.read_output(record.stage))

    async def check(self, ballot: PlanBallot) -> PlanResult | None:
        """What refuses the ballot before forest is asked (when the reject modal opens)."""
        admitted = await self._admit(ballot)
        return admitted if isinstance(admitted, PlanResult) else None

    async def _admit(self, ballot: PlanBallot) -> PlanResult | tuple[PlanRecord, Link]:
        """A refusal, or the record and the person's fresh link the decision goes ahead with."""
        record = await self.find(ballot.key)
        refusal = _refusal(record, ballot)
        if refusal is not None:
            return refusal
        assert record is not None
        link = await link_of(self._linking, ballot.team_id, ballot.slack_user_id)
        if isinstance(link, NoLink):
            return PlanResult(link.verdict, link.sentence, record)
        return record, link

    async def decide(self, ballot: PlanBallot) -> PlanResult:
        result = await self._decide(ballot)
        counter = self._metrics.plan_decisions
        count_answer(counter, log, "plan decision", ballot, ballot.choice.value, result.verdict)
        return result

    async def _decide(self, ballot: PlanBallot) -> PlanResult:
        reason = as_written(ballot.reason)
        if ballot.choice == PlanChoice.REJECT and not reason:
            return PlanResult(Verdict.REFUSED, "Rejecting a plan needs a reason.")
        # One decision per plan in this process at a time: a double click waits for the first
        # and then finds the plan decided; replicas agree through the record (mark_deciding).
        if self._in_flight.busy((ballot.key, ballot.slack_user_id)):
            return PlanResult(Verdict.IN_FLIGHT, "Your decision is already being recorded.")
        async with (
            self._in_flight.hold((ballot.key, ballot.slack_user_id)),
            self._in_flight.hold(ballot.key),
        ):
            admitted = await self._admit(ballot)
            if isinstance(admitted, PlanResult):
                return admitted
            record, link = admitted
            return await self._send(ballot, record, link, reason)

    async def _send(
        self, ballot: PlanBallot, record: PlanRecord, link: Link, reason: str | None
    ) -> PlanResult:
        decided = Decided.APPROVED if ballot.choice == PlanChoice.APPROVE else Decided.REJECTED
        deciding = Deciding(
            decided, ballot.slack_user_id, link.forest_username, self._clock(), reason
        )
        if not await self._keeper.mark_deciding(ballot.key, deciding):
            return PlanResult(Verdict.REFUSED, ALREADY_DECIDED, record)
        project = ProjectRef(record.stage.organisation, record.stage.project)
        key = ballot.key

        async def call(current: Link) -> None:
            if decided == Decided.APPROVED:
                await self._forest.approve_plan_stage(
                    current.access_token, key.release_intent_id, key.stage_id, project
                )
            else:
                await self._forest.reject_plan_stage(
                    current.access_token, key.release_intent_id, key.stage_id, reason, project
                )

        try:
            link, _ = await self._linking.as_person(link, call)
        except NeedsLogin as needs:
            await self._keeper.mark_deciding(key, None)
            return PlanResult(Verdict.NOT_LINKED, needs.sentence, record)
        except ForestError as error:
            return await self._failed(ballot, record, error)
        decision = PlanDecision(
            decided,
            ballot.slack_user_id,
            link.forest_username,
            datetime.fromtimestamp(self._clock(), UTC),
            reason,
        )
        await self._keeper.decided_here(key, decision)
        return PlanResult(Verdict.RECORDED, record=record)

    async def _failed(
        self, ballot: PlanBallot, record: PlanRecord, error: ForestError
    ) -> PlanResult:
        key = ballot.key
        if error.code == grpc.StatusCode.FAILED_PRECONDITION:
            # Decided meanwhile (in forage, by someone else, or by this same request before a
            # retry): show forest's state and say so.
            await self._keeper.mark_deciding(key, None)
            try:
                await self._keeper.refresh(key)
            except ForestError as refresh_error:
                log.warning("could not re-read a decided plan: %s", refresh_error.sentence)
            return PlanResult(Verdict.REFUSED, ALREADY_DECIDED, record)
        if isinstance(error, ForestUnavailable):
            # Forest may have decided before the answer was lost: the mark stays, so the next
            # sighting of the decision still names this person; "Try again" is theirs to click.
            return PlanResult(Verdict.FAILED, PLAN_NOT_RECORDED, record)
        await self._keeper.mark_deciding(key, None)
        if isinstance(error, ForestPermissionDenied):
            org = record.stage.organisation
            return PlanResult(
                Verdict.REFUSED,
                f"You are not a member of {org} in forest, so you can't decide this plan.",
                record,
            )
        return PlanResult(Verdict.REFUSED, error.sentence, record)


ALREADY_DECIDED = "Already decided: someone decided this plan before you."
PLAN_NOT_RECORDED = "Forest didn't answer, so your decision may not have been recorded."


def _refusal(record: PlanRecord | None, ballot: PlanBallot) -> PlanResult | None:
    if record is None or not record.ts:
        return PlanResult(Verdict.REFUSED, "This plan is not one the bot is tracking.")
    if names_another_message(record, ballot.channel, ballot.message_ts, ballot.slack_user_id):
        return PlanResult(Verdict.REFUSED, "That button does not belong to this plan.")
    if record.decision is not None:
        word = "approved" if record.decision.decided == Decided.APPROVED else "rejected"
        if record.decision.slack_user_id == ballot.slack_user_id:
            return PlanResult(Verdict.UNCHANGED, f"You already {word} this plan.", record)
        return PlanResult(Verdict.REFUSED, f"Already decided: this plan was {word}.", record)
    if record.end == StageEnd.CANCELLED:
        return PlanResult(Verdict.REFUSED, "This release was cancelled.", record)
    if record.end == StageEnd.FAILED:
        return PlanResult(Verdict.REFUSED, "The plan stage failed: there is no plan to decide.")
    if record.end is not None:
        return PlanResult(Verdict.REFUSED, ALREADY_DECIDED, record)
    return None
