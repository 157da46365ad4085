"""The gRPC face of the fake forest's releases: ReleaseService and EventService.Subscribe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
from forest.v1 import events_pb2, events_pb2_grpc, policies_pb2, releases_pb2, releases_pb2_grpc

from bot.local.fake_forest_events import BATCH_LIMIT, REPLAY_LIMIT, LoggedEvent
from bot.local.fake_forest_pipelines import (
    ACTIVE,
    CANCELLED,
    DEPLOY,
    FAILED,
    PENDING,
    PLAN,
    SUCCEEDED,
    WAIT,
    Stage,
    StageRun,
    Step,
)
from bot.local.fake_forest_records import (
    Actor,
    Artifact,
    ForestError,
    ReleaseIntent,
    rfc3339,
)
from bot.local.fake_forest_services import (
    bearer_token,
    known_actor,
    received,
    serve,
    unauthenticated,
)

if TYPE_CHECKING:
    from bot.local.fake_forest import FakeForest

STAGE_TYPE = {
    DEPLOY: releases_pb2.PIPELINE_RUN_STAGE_TYPE_DEPLOY,
    WAIT: releases_pb2.PIPELINE_RUN_STAGE_TYPE_WAIT,
    PLAN: releases_pb2.PIPELINE_RUN_STAGE_TYPE_PLAN,
}
STAGE_STATUS = {
    PENDING: releases_pb2.PIPELINE_RUN_STAGE_STATUS_PENDING,
    ACTIVE: releases_pb2.PIPELINE_RUN_STAGE_STATUS_ACTIVE,
    SUCCEEDED: releases_pb2.PIPELINE_RUN_STAGE_STATUS_SUCCEEDED,
    FAILED: releases_pb2.PIPELINE_RUN_STAGE_STATUS_FAILED,
    CANCELLED: releases_pb2.PIPELINE_RUN_STAGE_STATUS_CANCELLED,
}


class ReleaseService(releases_pb2_grpc.ReleaseServiceServicer):
    def __init__(self, forest: FakeForest) -> None:
        self._forest = forest

    async def GetReleaseIntentStates(
        self,
        request: releases_pb2.GetReleaseIntentStatesRequest,
        context: grpc.aio.ServicerContext,
    ) -> releases_pb2.GetReleaseIntentStatesResponse:
        return await serve(self._forest, "GetReleaseIntentStates", request, context, self._states)

    async def GetArtifactBySlug(
        self, request: releases_pb2.GetArtifactBySlugRequest, context: grpc.aio.ServicerContext
    ) -> releases_pb2.GetArtifactBySlugResponse:
        return await serve(self._forest, "GetArtifactBySlug", request, context, self._by_slug)

    async def GetArtifactsByProject(
        self,
        request: releases_pb2.GetArtifactsByProjectRequest,
        context: grpc.aio.ServicerContext,
    ) -> releases_pb2.GetArtifactsByProjectResponse:
        return await serve(
            self._forest, "GetArtifactsByProject", request, context, self._by_project
        )

    async def ApprovePlanStage(
        self, request: releases_pb2.ApprovePlanStageRequest, context: grpc.aio.ServicerContext
    ) -> releases_pb2.ApprovePlanStageResponse:
        return await serve(self._forest, "ApprovePlanStage", request, context, self._approve)

    async def RejectPlanStage(
        self, request: releases_pb2.RejectPlanStageRequest, context: grpc.aio.ServicerContext
    ) -> releases_pb2.RejectPlanStageResponse:
        return await serve(self._forest, "RejectPlanStage", request, context, self._reject)

    async def GetPlanOutput(
        self, request: releases_pb2.GetPlanOutputRequest, context: grpc.aio.ServicerContext
    ) -> releases_pb2.GetPlanOutputResponse:
        return await serve(self._forest, "GetPlanOutput", request, context, self._plan_output)

    async def _states(
        self, request: releases_pb2.GetReleaseIntentStatesRequest, actor: Actor | None
    ) -> releases_pb2.GetReleaseIntentStatesResponse:
        intents = self._forest.releases.intent_states(
            known_actor(actor),
            request.organisation,
            request.project if request.HasField("project") else None,
            request.include_completed,
        )
        return releases_pb2.GetReleaseIntentStatesResponse(
            release_intents=[intent_message(intent) for intent in intents]
        )

    async def _by_slug(
        self, request: releases_pb2.GetArtifactBySlugRequest, actor: Actor | None
    ) -> releases_pb2.GetArtifactBySlugResponse:
        artifact = self._forest.releases.artifact_by_slug(known_actor(actor), request.slug)
        return releases_pb2.GetArtifactBySlugResponse(artifact=artifact_message(artifact))

    async def _by_project(
        self, request: releases_pb2.GetArtifactsByProjectRequest, actor: Actor | None
    ) -> releases_pb2.GetArtifactsByProjectResponse:
        project = (
            (request.project.organisation, request.project.project)
            if request.HasField("project")
            else None
        )
        artifacts = self._forest.releases.artifacts_of_project(known_actor(actor), project)
        return releases_pb2.GetArtifactsByProjectResponse(
            artifact=[artifact_message(a) for a in artifacts]
        )

    async def _approve(
        self, request: releases_pb2.ApprovePlanStageRequest, actor: Actor | None
    ) -> releases_pb2.ApprovePlanStageResponse:
        await self._forest.decide_plan_as(
            known_actor(actor), request.release_intent_id, request.stage_id, approve=True
        )
        return releases_pb2.ApprovePlanStageResponse()

    async def _reject(
        self, request: releases_pb2.RejectPlanStageRequest, actor: Actor | None
    ) -> releases_pb2.RejectPlanStageResponse:
        await self._forest.decide_plan_as(
            known_actor(actor), request.release_intent_id, request.stage_id, approve=False
        )
        return releases_pb2.RejectPlanStageResponse()

    async def _plan_output(
        self, request: releases_pb2.GetPlanOutputRequest, actor: Actor | None
    ) -> releases_pb2.GetPlanOutputResponse:
        reading = self._forest.releases.plan_output(
            known_actor(actor), request.release_intent_id, request.stage_id
        )
        outputs = [
            releases_pb2.PlanDestinationOutput(
                destination_id=step.destination_id,
                destination_name=step.destination_name,
                plan_output=step.plan_output or "",
                status=step.status,
            )
            for step in reading.steps
        ]
        first = next((o.plan_output for o in outputs if o.plan_output), "")
        return releases_pb2.GetPlanOutputResponse(
            plan_output=first, status=reading.status, outputs=outputs
        )


class EventService(events_pb2_grpc.EventServiceServicer):
    """Forest's Subscribe: no check of the organisation beyond a valid token (like forest)."""

    def __init__(self, forest: FakeForest) -> None:
        self._forest = forest

    async def Subscribe(
        self, request: events_pb2.SubscribeEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.OrgEvent]:
        forest = self._forest
        token = bearer_token(context)
        actor = forest.credentials.resolve(token)
        forest.calls.append(received("Subscribe", request, actor, token))
        try:
            await forest.faults.apply("Subscribe", after_processing=False)
            if actor is None:
                raise ForestError(grpc.StatusCode.UNAUTHENTICATED, unauthenticated(token))
            if not request.organisation:
                raise ForestError(grpc.StatusCode.INVALID_ARGUMENT, "organisation is required")
        except ForestError as refusal:
            await context.abort(refusal.code, refusal.details)
            return
        forest.serving["Subscribe"] += 1
        forest.most_at_once["Subscribe"] = max(
            forest.most_at_once["Subscribe"], forest.serving["Subscribe"]
        )
        stream = forest.open_event_stream()
        try:
            async for event in self._stream(request, stream):
                yield event
        except ForestError as failure:
            await context.abort(failure.code, failure.details)
        finally:
            forest.close_event_stream(stream)
            forest.serving["Subscribe"] -= 1

    async def _stream(
        self, request: events_pb2.SubscribeEventsRequest, stream: EventStream
    ) -> AsyncIterator[events_pb2.OrgEvent]:
        forest = self._forest
        log = forest.events
        organisation = request.organisation
        filters = (request.project, list(request.resource_types), list(request.actions))
        replay = request.since_sequence > 0
        cursor = request.since_sequence if replay else log.max_sequence(organisation)
        if replay:
            for event in log.fetch_since(organisation, cursor, *filters, REPLAY_LIMIT):
                cursor = event.sequence
                yield org_event_message(event)
        # Like forest: wake on a new event or the fallback timer (the first pass at once),
        # then send what came since, at most a batch at a time.
        first = True
        while True:
            if not first:
                await forest.wait_for_events(stream.waker)
            first = False
            if stream.ending is not None:
                if stream.ending.code == grpc.StatusCode.OK:
                    return
                raise stream.ending
            stream.waker.clear()
            for event in log.fetch_since(organisation, cursor, *filters, BATCH_LIMIT):
                cursor = event.sequence
                yield org_event_message(event)


def add_release_services(forest: FakeForest, server: grpc.aio.Server) -> None:
    releases_pb2_grpc.add_ReleaseServiceServicer_to_server(ReleaseService(forest), server)
    events_pb2_grpc.add_EventServiceServicer_to_server(EventService(forest), server)


def intent_message(intent: ReleaseIntent) -> releases_pb2.ReleaseIntentState:
    pipeline = intent.pipeline
    # Forest keeps a pipeline's stages in a hash map, so their order means nothing; the fake
    # lists them last-defined first, so that nobody comes to rely on the definition order.
    stages = [] if pipeline is None else [
        stage_message(stage, pipeline.runs[stage.stage_id])
        for stage in reversed(pipeline.stages.values())
    ]  # fmt: skip
    steps = [] if pipeline is None else [step_message(step) for step in pipeline.steps]
    return releases_pb2.ReleaseIntentState(
        release_intent_id=intent.intent_id,
        artifact_id=intent.artifact_id,
        project=intent.project,
        created_at=rfc3339(intent.created_at),
        stages=stages,
        steps=steps,
    )


def stage_message(stage: Stage, run: StageRun) -> releases_pb2.PipelineStageState:
    message = releases_pb2.PipelineStageState(
        stage_id=stage.stage_id,
        depends_on=list(stage.depends_on),
        stage_type=STAGE_TYPE[stage.stage_type],
        status=STAGE_STATUS[run.status],
        queued_at=_time(run.queued_at),
        started_at=_time(run.started_at),
        completed_at=_time(run.completed_at),
        error_message=run.error_message,
        environment=stage.environment,
        wait_until=_time(run.wait_until),
        release_ids=list(run.release_ids),
        approval_status=run.approval_status,
    )
    if stage.duration_seconds is not None:
        message.duration_seconds = stage.duration_seconds
    if stage.auto_approve is not None:
        message.auto_approve = stage.auto_approve
    return message


def step_message(step: Step) -> releases_pb2.ReleaseStepState:
    return releases_pb2.ReleaseStepState(
        release_id=step.release_id,
        stage_id=step.stage_id,
        destination_name=step.destination_name,
        environment=step.environment,
        status=step.status,
        queued_at=_time(step.queued_at),
        assigned_at=_time(step.assigned_at),
        started_at=_time(step.started_at),
        completed_at=_time(step.completed_at),
        error_message=step.error_message,
    )


def artifact_message(artifact: Artifact) -> releases_pb2.Artifact:
    return releases_pb2.Artifact(
        id=artifact.annotation_id,
        artifact_id=artifact.artifact_id,
        slug=artifact.slug,
        metadata=artifact.metadata,
        source=releases_pb2.Source(
            user=artifact.source_user,
            email=artifact.source_email,
            source_type=artifact.source_type,
            run_url=artifact.run_url,
            user_id=artifact.source_user_id,
        ),
        context=releases_pb2.ArtifactContext(
            title=artifact.title,
            description=artifact.description,
            web=artifact.web,
            pr=artifact.pr,
        ),
        project=policies_pb2.Project(organisation=artifact.organisation, project=artifact.project),
        created_at=rfc3339(artifact.created_at),
        ref=releases_pb2.Ref(
            commit_sha=artifact.commit_sha,
            branch=artifact.branch,
            commit_message=artifact.commit_message,
            version=artifact.version,
            repo_url=artifact.repo_url,
        ),
    )


def org_event_message(event: LoggedEvent) -> events_pb2.OrgEvent:
    return events_pb2.OrgEvent(
        sequence=event.sequence,
        event_id=event.event_id,
        timestamp=rfc3339(event.timestamp),
        organisation=event.organisation,
        project=event.project,
        resource_type=event.resource_type,
        action=event.action,
        resource_id=event.resource_id,
        metadata=event.metadata,
    )


def _time(timestamp: float | None) -> str | None:
    return None if timestamp is None else rfc3339(timestamp)


class EventStream:
    """One open Subscribe stream, which the fake can end (forest restarting, say)."""

    def __init__(self, waker: asyncio.Event) -> None:
        self.waker = waker
        # set to end the stream: OK ends it cleanly, any other code fails it
        self.ending: ForestError | None = None

    def end(self, code: grpc.StatusCode = grpc.StatusCode.OK, details: str = "") -> None:
        self.ending = ForestError(code, details)
        self.waker.set()


async def wait_until_set(waker: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waker.wait(), timeout)
