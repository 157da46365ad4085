"""Deploy stages that forest holds for votes: one approval message each, kept until the end.

A ready deploy stage (PENDING, every dependency SUCCEEDED) for environment E is blocked on
approval while an approval policy of the project targets E and lacks votes: forest says so in
``GetExternalApprovalState`` (NOT_FOUND: no policy, so nothing to ask). Such a stage becomes an
``ApprovalRequest`` for the Announcer, the same path the approval-required event takes, so the
claim in the bot's state keeps it to one message however often, and by however many replicas,
it is seen. Once the stage moves on, its message follows: ACTIVE means the votes sufficed
(maybe cast in forage), and a finished stage is the outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.approval import ApprovalKey, ApprovalRequest, ApprovalState, Outcome
from bot.approvals.announcer import Announcer
from bot.approvals.one_message import Announced
from bot.approvals.open_approvals import OpenApprovals
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestError, ForestNotFound
from bot.forest.releases import PipelineStage, ReleaseIntent, StageStatus
from bot.runtime.metrics import Metrics
from bot.runtime.tasks import TaskSet
from bot.slack.web import SlackError, SlackRefusedForGood
from bot.state.approval_store import ApprovalStore, Phase
from bot.watch.artifact_facts import ArtifactFacts
from bot.watch.rule import deploy_stage, ready_since, stage_outcome, waiting_deploy_stages

log = logging.getLogger(__name__)

# A post that failed for a reason that may pass (Slack briefly down) is tried again.
ANNOUNCE_ATTEMPTS = 5
ANNOUNCE_RETRY_SECONDS = 2.0


class DeployGates:
    def __init__(
        self,
        forest: ForestClient,
        store: ApprovalStore,
        open_approvals: OpenApprovals,
        announcer: Announcer,
        facts: ArtifactFacts,
        refresh: Callable[[ApprovalKey], None],
        finish: Callable[[ApprovalKey, Outcome], None],
        tasks: TaskSet,
        retry_seconds: float = ANNOUNCE_RETRY_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self._forest = forest
        self._metrics = metrics
        self._store = store
        self._open = open_approvals
        self._announcer = announcer
        self._facts = facts
        self._refresh = refresh
        self._finish = finish
        self._tasks = tasks
        self._retry_seconds = retry_seconds
        self._announcing: set[ApprovalKey] = set()

    async def on_intent(self, organisation: str, intent: ReleaseIntent) -> None:
        for stage in waiting_deploy_stages(intent):
            await self._if_blocked(organisation, intent, stage)
        self._follow_open(intent)

    async def _if_blocked(
        self, organisation: str, intent: ReleaseIntent, stage: PipelineStage
    ) -> None:
        assert stage.environment is not None
        key = ApprovalKey(intent.release_intent_id, stage.environment)
        if key in self._announcing:
            return
        stored = await self._store.get(key)
        if stored is not None and stored.record.phase == Phase.POSTED:
            return
        project = ProjectRef(organisation, intent.project)
        try:
            state = await self._forest.approval_state(project, key)
        except ForestNotFound:
            return  # no approval policy for the environment: forest starts the stage itself
        if state.approved:
            return  # the votes are in; forest starts the stage on its next pass
        request = await self._request(organisation, intent, stage, state)
        self._announcing.add(key)
        self._tasks.spawn(self._announce(request), name=f"announce {key.token}")

    async def _request(
        self,
        organisation: str,
        intent: ReleaseIntent,
        stage: PipelineStage,
        state: ApprovalState,
    ) -> ApprovalRequest:
        assert stage.environment is not None
        since = ready_since(intent, stage)
        return ApprovalRequest(
            # Stable, so that a log line or a replay names the same gate.
            event_id=f"forest:{intent.release_intent_id}:{stage.stage_id}",
            organisation=organisation,
            project=intent.project,
            release_intent_id=intent.release_intent_id,
            target_environment=stage.environment,
            required_approvals=max(state.required_approvals, 1),
            blocked_at=since.isoformat() if since is not None else "",
            release=await self._facts.release(organisation, intent),
            stage_id=stage.stage_id,
        )

    async def _announce(self, request: ApprovalRequest) -> None:
        try:
            for attempt in range(ANNOUNCE_ATTEMPTS):
                try:
                    result = await self._announcer.announce(request)
                    self._announced(request, result)
                    return
                except SlackRefusedForGood as error:
                    log.error(
                        "Slack refused the approval message: %s",
                        error,
                        extra=request.key.log_fields,
                    )
                    return
                except (SlackError, ForestError, TimeoutError) as error:
                    log.warning(
                        "could not post the approval message (%s); trying again",
                        type(error).__name__,
                        extra=request.key.log_fields,
                    )
                await asyncio.sleep(self._retry_seconds * 2**attempt)
        finally:
            self._announcing.discard(request.key)

    def _announced(self, request: ApprovalRequest, result: Announced) -> None:
        """Said and counted as for the approval-required event, so an operator sees a message
        found by watching forest the same way."""
        if result == Announced.POSTED and self._metrics is not None:
            self._metrics.messages_posted.inc()
        if result != Announced.BUSY:
            log.info(
                "approval %s",
                result.value,
                extra={**request.key.log_fields, "outcome": result.value, "found_by": "watch"},
            )

    def _follow_open(self, intent: ReleaseIntent) -> None:
        """Bring this intent's open messages to what its stages say now."""
        for key in self._open.keys_for(intent.release_intent_id):
            stage = deploy_stage(intent, key.target_environment)
            if stage is None:
                continue
            outcome = stage_outcome(stage)
            if outcome is not None:
                self._finish(key, outcome)
            elif stage.status == StageStatus.ACTIVE:
                # No longer held: the votes sufficed, in Slack or in forage.
                self._refresh(key)
