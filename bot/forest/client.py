"""The forest gRPC client: the only module that touches generated protobuf types.

One channel per process, a deadline on every call, the caller's token as bearer metadata, TLS
when the URL says https. Failures leave as ``ForestError`` subclasses with a readable sentence.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import grpc
from forest.v1 import (
    events_pb2,
    events_pb2_grpc,
    organisations_pb2,
    organisations_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    releases_pb2,
    releases_pb2_grpc,
    users_pb2,
    users_pb2_grpc,
)
from google.protobuf.message import Message

from bot.approval import ApprovalKey, ApprovalState, Decision, Vote
from bot.forest.errors import (
    Action,
    Context,
    ForestError,
    ForestUnauthenticated,
    ForestUnavailable,
    translate,
)
from bot.forest.org_events import OrgEvent
from bot.forest.releases import (
    Artifact,
    ArtifactRef,
    ArtifactSource,
    PipelineStage,
    PlanApproval,
    PlanDestinationOutput,
    PlanOutput,
    ReleaseIntent,
    ReleaseStep,
    StageStatus,
    StageType,
)
from bot.runtime.metrics import Metrics

DEFAULT_TIMEOUT = 5.0
MAX_REPLY_BYTES = 64 * 1024 * 1024

# Reads are idempotent, so the channel retries them itself when forest is briefly unreachable.
_RETRY_READS = json.dumps(
    {
        "methodConfig": [
            {
                "name": [
                    {"service": "forest.v1.PolicyService", "method": "GetExternalApprovalState"},
                    {"service": "forest.v1.OrganisationService"},
                    {"service": "forest.v1.UsersService", "method": "TokenInfo"},
                    {"service": "forest.v1.UsersService", "method": "GetUser"},
                    {"service": "forest.v1.ReleaseService", "method": "GetReleaseIntentStates"},
                    {"service": "forest.v1.ReleaseService", "method": "GetArtifactBySlug"},
                    {"service": "forest.v1.ReleaseService", "method": "GetArtifactsByProject"},
                    {"service": "forest.v1.ReleaseService", "method": "GetPlanOutput"},
                ],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


@dataclass(frozen=True)
class ProjectRef:
    organisation: str
    project: str


@dataclass(frozen=True)
class ForestUser:
    user_id: str
    username: str
    emails: tuple[str, ...] = ()
    # The ones forest has verified: the only ones that say whose account this is.
    verified_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in_seconds: int


@dataclass(frozen=True)
class DeviceLogin:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in_seconds: int
    interval_seconds: int


class DeviceLoginStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    SLOW_DOWN = "slow_down"


@dataclass(frozen=True)
class DevicePoll:
    status: DeviceLoginStatus
    user: ForestUser | None = None
    tokens: Tokens | None = None


@dataclass(frozen=True)
class Membership:
    organisation: str
    role: str


_STATUS = {
    users_pb2.DEVICE_LOGIN_STATUS_PENDING: DeviceLoginStatus.PENDING,
    users_pb2.DEVICE_LOGIN_STATUS_APPROVED: DeviceLoginStatus.APPROVED,
    users_pb2.DEVICE_LOGIN_STATUS_DENIED: DeviceLoginStatus.DENIED,
    users_pb2.DEVICE_LOGIN_STATUS_EXPIRED: DeviceLoginStatus.EXPIRED,
    users_pb2.DEVICE_LOGIN_STATUS_SLOW_DOWN: DeviceLoginStatus.SLOW_DOWN,
}

Reply = TypeVar("Reply")


class ForestClient:
    def __init__(
        self,
        url: str,
        app_token: str,
        timeout: float = DEFAULT_TIMEOUT,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._url = url
        self._app_token = app_token
        self._timeout = timeout
        self._channel: grpc.aio.Channel | None = None

    async def open(self) -> None:
        """Create the channel; must run inside the event loop that will use it."""
        parts = urlsplit(self._url)
        target = parts.netloc
        options = [
            ("grpc.service_config", _RETRY_READS),
            ("grpc.enable_retries", 1),
            # A plan's output can be megabytes (gRPC's default limit is 4 MB).
            ("grpc.max_receive_message_length", MAX_REPLY_BYTES),
        ]
        if parts.scheme == "https":
            if parts.port is None:
                target = f"{parts.hostname}:443"
            self._channel = grpc.aio.secure_channel(
                target, grpc.ssl_channel_credentials(), options=options
            )
        else:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        self._policies = policies_pb2_grpc.PolicyServiceStub(self._channel)
        self._users = users_pb2_grpc.UsersServiceStub(self._channel)
        self._organisations = organisations_pb2_grpc.OrganisationServiceStub(self._channel)
        self._releases = releases_pb2_grpc.ReleaseServiceStub(self._channel)
        self._events = events_pb2_grpc.EventServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _call(
        self,
        rpc: Callable[..., Awaitable[Reply]],
        request: object,
        token: str | None,
        context: Context,
        measured: bool = True,
    ) -> Reply:
        if self._channel is None:
            raise RuntimeError("ForestClient.open() was not awaited")
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        method = type(request).__name__.removesuffix("Request")
        metrics = self._metrics if measured else None
        started = time.perf_counter()
        try:
            return await rpc(request, timeout=self._timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            if metrics is not None:
                metrics.forest_errors.labels(code=error.code().name).inc()
            raise translate(error, context, logged=measured) from None
        finally:
            if metrics is not None:
                metrics.forest_latency.labels(method=method).observe(time.perf_counter() - started)

    # Policies

    async def approval_state(self, project: ProjectRef, key: ApprovalKey) -> ApprovalState:
        """Read the votes with the bot's app token."""
        request = policies_pb2.GetExternalApprovalStateRequest(
            project=_project(project),
            release_intent_id=key.release_intent_id,
            target_environment=key.target_environment,
        )
        context = _context(Action.READ, project, key)
        reply = await self._call(
            self._policies.GetExternalApprovalState, request, self._app_token, context
        )
        return _state(reply.state)

    async def approve(
        self,
        token: str,
        project: ProjectRef,
        key: ApprovalKey,
        comment: str | None,
        force_bypass: bool = False,
    ) -> ApprovalState:
        request = policies_pb2.ExternalApproveReleaseRequest(
            project=_project(project),
            release_intent_id=key.release_intent_id,
            target_environment=key.target_environment,
            force_bypass=force_bypass,
        )
        if comment:
            request.comment = comment
        context = _context(Action.VOTE, project, key)
        reply = await self._call(self._policies.ExternalApproveRelease, request, token, context)
        return _state(reply.state)

    async def reject(
        self, token: str, project: ProjectRef, key: ApprovalKey, comment: str | None
    ) -> ApprovalState:
        request = policies_pb2.ExternalRejectReleaseRequest(
            project=_project(project),
            release_intent_id=key.release_intent_id,
            target_environment=key.target_environment,
        )
        if comment:
            request.comment = comment
        context = _context(Action.VOTE, project, key)
        reply = await self._call(self._policies.ExternalRejectRelease, request, token, context)
        return _state(reply.state)

    # Users

    async def initiate_device_login(self, client_name: str, client_version: str) -> DeviceLogin:
        request = users_pb2.InitiateDeviceLoginRequest(
            client_name=client_name, client_version=client_version
        )
        reply = await self._call(
            self._users.InitiateDeviceLogin, request, None, Context(Action.LOGIN)
        )
        return DeviceLogin(
            device_code=reply.device_code,
            user_code=reply.user_code,
            verification_uri=reply.verification_uri,
            verification_uri_complete=reply.verification_uri_complete,
            expires_in_seconds=reply.expires_in_seconds,
            interval_seconds=reply.interval_seconds,
        )

    async def poll_device_login(self, device_code: str) -> DevicePoll:
        request = users_pb2.PollDeviceLoginRequest(device_code=device_code)
        reply = await self._call(self._users.PollDeviceLogin, request, None, Context(Action.LOGIN))
        status = _STATUS.get(reply.status, DeviceLoginStatus.PENDING)
        if status != DeviceLoginStatus.APPROVED:
            return DevicePoll(status)
        return DevicePoll(status, _user(reply.user), _tokens(reply.tokens))

    async def refresh(self, refresh_token: str) -> Tokens:
        request = users_pb2.RefreshTokenRequest(refresh_token=refresh_token)
        reply = await self._call(self._users.RefreshToken, request, None, Context(Action.REFRESH))
        return _tokens(reply.tokens)

    async def memberships(self, token: str, role: str = "") -> list[Membership]:
        """The caller's organisations with their role; ``role="admin"`` lists only admin ones."""
        request = organisations_pb2.ListMyOrganisationsRequest(role=role)
        reply = await self._call(
            self._organisations.ListMyOrganisations, request, token, Context(Action.ROLES)
        )
        roles = list(reply.roles) + [""] * (len(reply.organisations) - len(reply.roles))
        return [
            Membership(org.name, role_name or role)
            for org, role_name in zip(reply.organisations, roles, strict=False)
        ]

    # Releases: intents, artifacts, plan stages (reads with the app token)

    async def release_intents(
        self, organisation: str, project: str | None = None, include_completed: bool = False
    ) -> list[ReleaseIntent]:
        """The organisation's release intents, newest first; only ACTIVE ones unless
        ``include_completed``. Forest answers with at most 50."""
        request = releases_pb2.GetReleaseIntentStatesRequest(
            organisation=organisation, include_completed=include_completed
        )
        if project is not None:
            request.project = project
        context = Context(Action.READ, organisation, project or "")
        reply = await self._call(
            self._releases.GetReleaseIntentStates, request, self._app_token, context
        )
        return [_intent(message) for message in reply.release_intents]

    async def artifact_by_slug(self, slug: str) -> Artifact:
        request = releases_pb2.GetArtifactBySlugRequest(slug=slug)
        reply = await self._call(
            self._releases.GetArtifactBySlug, request, self._app_token, Context(Action.READ)
        )
        return _artifact(reply.artifact)

    async def artifacts_of_project(self, project: ProjectRef) -> list[Artifact]:
        """Every artifact of the project (forest does not page this)."""
        request = releases_pb2.GetArtifactsByProjectRequest(project=_project(project))
        context = Context(Action.READ, project.organisation, project.project)
        reply = await self._call(
            self._releases.GetArtifactsByProject, request, self._app_token, context
        )
        return [_artifact(message) for message in reply.artifact]

    async def plan_output(self, release_intent_id: str, stage_id: str) -> PlanOutput:
        """What a plan stage's plan would change, per destination."""
        request = releases_pb2.GetPlanOutputRequest(
            release_intent_id=release_intent_id, stage_id=stage_id
        )
        reply = await self._call(
            self._releases.GetPlanOutput, request, self._app_token, Context(Action.READ)
        )
        return PlanOutput(
            status=reply.status,
            outputs=tuple(
                PlanDestinationOutput(
                    destination_id=o.destination_id,
                    destination_name=o.destination_name,
                    plan_output=o.plan_output,
                    status=o.status,
                )
                for o in reply.outputs
            ),
            plan_output=reply.plan_output,
        )

    async def approve_plan_stage(
        self,
        token: str,
        release_intent_id: str,
        stage_id: str,
        project: ProjectRef | None = None,
    ) -> None:
        """Approve a plan stage as the person whose ``token`` this is (forest takes no comment).
        ``project`` only makes an error's sentence name the place."""
        request = releases_pb2.ApprovePlanStageRequest(
            release_intent_id=release_intent_id, stage_id=stage_id
        )
        await self._call(self._releases.ApprovePlanStage, request, token, _plan_context(project))

    async def reject_plan_stage(
        self,
        token: str,
        release_intent_id: str,
        stage_id: str,
        reason: str | None = None,
        project: ProjectRef | None = None,
    ) -> None:
        request = releases_pb2.RejectPlanStageRequest(
            release_intent_id=release_intent_id, stage_id=stage_id
        )
        if reason:
            request.reason = reason
        await self._call(self._releases.RejectPlanStage, request, token, _plan_context(project))

    # Events: the organisation's durable event log

    async def org_events(
        self,
        organisation: str,
        *,
        since_sequence: int = 0,
        project: str = "",
        resource_types: Iterable[str] = (),
        actions: Iterable[str] = (),
    ) -> AsyncIterator[OrgEvent]:
        """Follow forest's event log: with ``since_sequence`` > 0 forest first replays every
        later event (up to 1,000), with 0 only new ones come. The stream has no deadline and
        lasts until forest ends it (the iterator then stops) or fails (a ForestError)."""
        if self._channel is None:
            raise RuntimeError("ForestClient.open() was not awaited")
        request = events_pb2.SubscribeEventsRequest(
            organisation=organisation,
            project=project,
            resource_types=list(resource_types),
            actions=list(actions),
            since_sequence=since_sequence,
        )
        metadata = (("authorization", f"Bearer {self._app_token}"),)
        call = self._events.Subscribe(request, metadata=metadata)
        try:
            async for message in call:
                yield _org_event(message)
        except grpc.aio.AioRpcError as error:
            if self._metrics is not None:
                self._metrics.forest_errors.labels(code=error.code().name).inc()
            raise translate(error, Context(Action.READ, organisation)) from None
        finally:
            # A consumer that stops early must not leave the stream open on forest.
            call.cancel()

    async def token_check(self) -> None:
        """A cheap authenticated call with the app token.

        Raises ForestUnavailable when forest does not answer and ForestUnauthenticated when it
        refuses the token. App tokens carry no user, so forest may answer this user call with
        another error: that still shows the token was accepted.
        """
        try:
            # A probe (readiness asks every few seconds), answered with an error by design:
            # not a forest call or error worth counting.
            await self._call(
                self._users.TokenInfo,
                users_pb2.TokenInfoRequest(),
                self._app_token,
                Context(Action.READ),
                measured=False,
            )
        except (ForestUnavailable, ForestUnauthenticated):
            raise
        except ForestError:
            return

    async def reachable(self) -> bool:
        """Whether forest answers at all; any answer but "unavailable" counts."""
        try:
            await self.token_check()
        except ForestUnavailable:
            return False
        except ForestError:
            return True
        return True


def _context(action: Action, project: ProjectRef, key: ApprovalKey) -> Context:
    return Context(action, project.organisation, project.project, key.target_environment)


def _project(project: ProjectRef) -> policies_pb2.Project:
    return policies_pb2.Project(organisation=project.organisation, project=project.project)


def _state(message: policies_pb2.ExternalApprovalState) -> ApprovalState:
    return ApprovalState(
        required_approvals=message.required_approvals,
        current_approvals=message.current_approvals,
        decisions=tuple(_decision(entry) for entry in message.decisions),
    )


def _decision(entry: policies_pb2.ExternalApprovalDecisionEntry) -> Decision:
    vote = Vote.APPROVED if entry.decision == Vote.APPROVED else Vote.REJECTED
    return Decision(
        user_id=entry.user_id,
        username=entry.username,
        decision=vote,
        decided_at=_parse_time(entry.decided_at),
        comment=_optional(entry, "comment"),
    )


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _user(message: users_pb2.User) -> ForestUser:
    return ForestUser(
        user_id=message.user_id,
        username=message.username,
        emails=tuple(email.email for email in message.emails),
        verified_emails=tuple(email.email for email in message.emails if email.verified),
    )


def _tokens(message: users_pb2.AuthTokens) -> Tokens:
    return Tokens(
        access_token=message.access_token,
        refresh_token=message.refresh_token,
        expires_in_seconds=message.expires_in_seconds,
    )


def _plan_context(project: ProjectRef | None) -> Context:
    if project is None:
        return Context(Action.VOTE)
    return Context(Action.VOTE, project.organisation, project.project)


_STAGE_TYPE = {
    releases_pb2.PIPELINE_RUN_STAGE_TYPE_DEPLOY: StageType.DEPLOY,
    releases_pb2.PIPELINE_RUN_STAGE_TYPE_WAIT: StageType.WAIT,
    releases_pb2.PIPELINE_RUN_STAGE_TYPE_PLAN: StageType.PLAN,
}
_STAGE_STATUS = {
    releases_pb2.PIPELINE_RUN_STAGE_STATUS_PENDING: StageStatus.PENDING,
    releases_pb2.PIPELINE_RUN_STAGE_STATUS_ACTIVE: StageStatus.ACTIVE,
    releases_pb2.PIPELINE_RUN_STAGE_STATUS_SUCCEEDED: StageStatus.SUCCEEDED,
    releases_pb2.PIPELINE_RUN_STAGE_STATUS_FAILED: StageStatus.FAILED,
    releases_pb2.PIPELINE_RUN_STAGE_STATUS_CANCELLED: StageStatus.CANCELLED,
    releases_pb2.PIPELINE_RUN_STAGE_STATUS_AWAITING_APPROVAL: StageStatus.AWAITING_APPROVAL,
}


def _optional(message: Message, name: str) -> str | None:
    """A proto3 ``optional`` field: None when forest left it out."""
    return getattr(message, name) if message.HasField(name) else None


def _optional_time(message: Message, name: str) -> datetime | None:
    raw = _optional(message, name)
    return _parse_time(raw) if raw else None


def _intent(message: releases_pb2.ReleaseIntentState) -> ReleaseIntent:
    return ReleaseIntent(
        release_intent_id=message.release_intent_id,
        artifact_id=message.artifact_id,
        project=message.project,
        created_at=_parse_time(message.created_at) if message.created_at else None,
        stages=tuple(_stage(stage) for stage in message.stages),
        steps=tuple(_step(step) for step in message.steps),
    )


def _stage(message: releases_pb2.PipelineStageState) -> PipelineStage:
    return PipelineStage(
        stage_id=message.stage_id,
        stage_type=_STAGE_TYPE.get(message.stage_type, StageType.UNSPECIFIED),
        status=_STAGE_STATUS.get(message.status, StageStatus.UNSPECIFIED),
        depends_on=tuple(message.depends_on),
        environment=_optional(message, "environment"),
        queued_at=_optional_time(message, "queued_at"),
        started_at=_optional_time(message, "started_at"),
        completed_at=_optional_time(message, "completed_at"),
        error_message=_optional(message, "error_message"),
        duration_seconds=(
            message.duration_seconds if message.HasField("duration_seconds") else None
        ),
        wait_until=_optional_time(message, "wait_until"),
        release_ids=tuple(message.release_ids),
        approval_status=PlanApproval.parse(_optional(message, "approval_status")),
        auto_approve=message.auto_approve if message.HasField("auto_approve") else None,
    )


def _step(message: releases_pb2.ReleaseStepState) -> ReleaseStep:
    return ReleaseStep(
        release_id=message.release_id,
        destination_name=message.destination_name,
        environment=message.environment,
        status=message.status,
        stage_id=_optional(message, "stage_id"),
        queued_at=_optional_time(message, "queued_at"),
        assigned_at=_optional_time(message, "assigned_at"),
        started_at=_optional_time(message, "started_at"),
        completed_at=_optional_time(message, "completed_at"),
        error_message=_optional(message, "error_message"),
    )


def _artifact(message: releases_pb2.Artifact) -> Artifact:
    source, context, ref = message.source, message.context, message.ref
    project = (
        ProjectRef(message.project.organisation, message.project.project)
        if message.HasField("project")
        else None
    )
    return Artifact(
        id=message.id,
        artifact_id=message.artifact_id,
        slug=message.slug,
        title=context.title,
        description=_optional(context, "description"),
        web=_optional(context, "web"),
        pr=_optional(context, "pr"),
        source=ArtifactSource(
            user=_optional(source, "user"),
            email=_optional(source, "email"),
            source_type=_optional(source, "source_type"),
            run_url=_optional(source, "run_url"),
            user_id=_optional(source, "user_id"),
        ),
        ref=ArtifactRef(
            commit_sha=ref.commit_sha,
            branch=_optional(ref, "branch"),
            commit_message=_optional(ref, "commit_message"),
            version=_optional(ref, "version"),
            repo_url=_optional(ref, "repo_url"),
        ),
        project=project,
        created_at=_parse_time(message.created_at) if message.created_at else None,
        metadata=dict(message.metadata),
    )


def _org_event(message: events_pb2.OrgEvent) -> OrgEvent:
    return OrgEvent(
        sequence=message.sequence,
        event_id=message.event_id,
        organisation=message.organisation,
        project=message.project,
        resource_type=message.resource_type,
        action=message.action,
        resource_id=message.resource_id,
        timestamp=_parse_time(message.timestamp) if message.timestamp else None,
        metadata=dict(message.metadata),
    )
