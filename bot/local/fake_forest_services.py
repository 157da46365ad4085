"""The gRPC face of the fake forest: authentication, call log, injected faults, and messages."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import grpc
from forest.v1 import (
    organisations_pb2,
    organisations_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    users_pb2,
    users_pb2_grpc,
)
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from bot.local.fake_forest_credentials import IssuedTokens, PollStatus
from bot.local.fake_forest_records import (
    APPROVED,
    REJECTED,
    Actor,
    ApprovalSnapshot,
    ForestError,
    Organisation,
    ReceivedCall,
    User,
)
from bot.local.fake_forest_world import ProjectRef

if TYPE_CHECKING:
    from bot.local.fake_forest import FakeForest

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)
Handler = Callable[[Request, Actor | None], Awaitable[Response]]

METHODS = frozenset(
    {
        "ExternalApproveRelease",
        "ExternalRejectRelease",
        "GetExternalApprovalState",
        "InitiateDeviceLogin",
        "PollDeviceLogin",
        "RefreshToken",
        "TokenInfo",
        "GetUser",
        "ListMyOrganisations",
        "GetReleaseIntentStates",
        "GetArtifactBySlug",
        "GetArtifactsByProject",
        "ApprovePlanStage",
        "RejectPlanStage",
        "GetPlanOutput",
        "Subscribe",
    }
)
# Forest's auth layer lets these through without a token.
OPEN_METHODS = frozenset({"InitiateDeviceLogin", "PollDeviceLogin", "RefreshToken"})

POLL_STATUS = {
    PollStatus.PENDING: users_pb2.DEVICE_LOGIN_STATUS_PENDING,
    PollStatus.APPROVED: users_pb2.DEVICE_LOGIN_STATUS_APPROVED,
    PollStatus.DENIED: users_pb2.DEVICE_LOGIN_STATUS_DENIED,
    PollStatus.EXPIRED: users_pb2.DEVICE_LOGIN_STATUS_EXPIRED,
    PollStatus.SLOW_DOWN: users_pb2.DEVICE_LOGIN_STATUS_SLOW_DOWN,
}


@dataclass(frozen=True)
class Fault:
    code: grpc.StatusCode
    details: str
    after_processing: bool


class FaultPlan:
    """Failures and delays to inject, per method name.

    `after_processing` faults act once the call has had its effect (a vote is recorded), the way
    a response lost on the network or a client timeout looks to the caller.
    """

    def __init__(self) -> None:
        self._failures: dict[str, deque[Fault]] = {}
        self._delays: dict[str, tuple[float, bool]] = {}

    def fail_next(
        self,
        method: str,
        code: grpc.StatusCode,
        details: str,
        times: int = 1,
        *,
        after_processing: bool = False,
    ) -> None:
        _check_method(method)
        queue = self._failures.setdefault(method, deque())
        queue.extend(Fault(code, details, after_processing) for _ in range(times))

    def delay(self, method: str, seconds: float, *, after_processing: bool = False) -> None:
        _check_method(method)
        if seconds <= 0:
            self._delays.pop(method, None)
        else:
            self._delays[method] = (seconds, after_processing)

    def clear(self) -> None:
        self._failures.clear()
        self._delays.clear()

    async def apply(self, method: str, *, after_processing: bool) -> None:
        seconds, delay_after = self._delays.get(method, (0.0, False))
        if seconds and delay_after == after_processing:
            await asyncio.sleep(seconds)
        queue = self._failures.get(method)
        if queue and queue[0].after_processing == after_processing:
            fault = queue.popleft()
            raise ForestError(fault.code, fault.details)


async def serve(
    forest: FakeForest,
    method: str,
    request: Request,
    context: grpc.aio.ServicerContext,
    handler: Handler[Request, Response],
) -> Response:
    token = bearer_token(context)
    actor = forest.credentials.resolve(token)
    forest.calls.append(received(method, request, actor, token))
    forest.serving[method] += 1
    forest.most_at_once[method] = max(forest.most_at_once[method], forest.serving[method])
    try:
        await forest.faults.apply(method, after_processing=False)
        if actor is None and method not in OPEN_METHODS:
            raise ForestError(grpc.StatusCode.UNAUTHENTICATED, unauthenticated(token))
        response = await handler(request, actor)
        await forest.faults.apply(method, after_processing=True)
        return response
    except ForestError as refusal:
        await context.abort(refusal.code, refusal.details)
        raise  # abort raises; this keeps type checkers sure the function never falls through
    finally:
        forest.serving[method] -= 1


class PolicyService(policies_pb2_grpc.PolicyServiceServicer):
    def __init__(self, forest: FakeForest) -> None:
        self._forest = forest

    async def ExternalApproveRelease(
        self,
        request: policies_pb2.ExternalApproveReleaseRequest,
        context: grpc.aio.ServicerContext,
    ) -> policies_pb2.ExternalApproveReleaseResponse:
        return await serve(self._forest, "ExternalApproveRelease", request, context, self._approve)

    async def ExternalRejectRelease(
        self,
        request: policies_pb2.ExternalRejectReleaseRequest,
        context: grpc.aio.ServicerContext,
    ) -> policies_pb2.ExternalRejectReleaseResponse:
        return await serve(self._forest, "ExternalRejectRelease", request, context, self._reject)

    async def GetExternalApprovalState(
        self,
        request: policies_pb2.GetExternalApprovalStateRequest,
        context: grpc.aio.ServicerContext,
    ) -> policies_pb2.GetExternalApprovalStateResponse:
        return await serve(self._forest, "GetExternalApprovalState", request, context, self._read)

    async def _approve(
        self, request: policies_pb2.ExternalApproveReleaseRequest, actor: Actor | None
    ) -> policies_pb2.ExternalApproveReleaseResponse:
        state = await self._forest.cast_vote(
            known_actor(actor),
            project_ref(request),
            request.release_intent_id,
            request.target_environment,
            APPROVED,
            comment=request.comment if request.HasField("comment") else None,
            force_bypass=request.force_bypass,
        )
        return policies_pb2.ExternalApproveReleaseResponse(state=state_message(state))

    async def _reject(
        self, request: policies_pb2.ExternalRejectReleaseRequest, actor: Actor | None
    ) -> policies_pb2.ExternalRejectReleaseResponse:
        state = await self._forest.cast_vote(
            known_actor(actor),
            project_ref(request),
            request.release_intent_id,
            request.target_environment,
            REJECTED,
            comment=request.comment if request.HasField("comment") else None,
        )
        return policies_pb2.ExternalRejectReleaseResponse(state=state_message(state))

    async def _read(
        self, request: policies_pb2.GetExternalApprovalStateRequest, actor: Actor | None
    ) -> policies_pb2.GetExternalApprovalStateResponse:
        state = self._forest.world.read_state(
            known_actor(actor),
            project_ref(request),
            request.release_intent_id,
            request.target_environment,
        )
        return policies_pb2.GetExternalApprovalStateResponse(state=state_message(state))


class UsersService(users_pb2_grpc.UsersServiceServicer):
    def __init__(self, forest: FakeForest) -> None:
        self._forest = forest

    async def InitiateDeviceLogin(
        self, request: users_pb2.InitiateDeviceLoginRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.InitiateDeviceLoginResponse:
        return await serve(self._forest, "InitiateDeviceLogin", request, context, self._initiate)

    async def PollDeviceLogin(
        self, request: users_pb2.PollDeviceLoginRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.PollDeviceLoginResponse:
        return await serve(self._forest, "PollDeviceLogin", request, context, self._poll)

    async def RefreshToken(
        self, request: users_pb2.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.RefreshTokenResponse:
        return await serve(self._forest, "RefreshToken", request, context, self._refresh)

    async def TokenInfo(
        self, request: users_pb2.TokenInfoRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.TokenInfoResponse:
        return await serve(self._forest, "TokenInfo", request, context, self._token_info)

    async def GetUser(
        self, request: users_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.GetUserResponse:
        return await serve(self._forest, "GetUser", request, context, self._get_user)

    async def _initiate(
        self, request: users_pb2.InitiateDeviceLoginRequest, actor: Actor | None
    ) -> users_pb2.InitiateDeviceLoginResponse:
        grant = self._forest.credentials.start_device_login(
            request.client_name, request.client_version, list(request.scopes)
        )
        verification_uri = f"{self._forest.web_url}/device"
        return users_pb2.InitiateDeviceLoginResponse(
            device_code=grant.device_code,
            user_code=grant.user_code,
            verification_uri=verification_uri,
            verification_uri_complete=f"{verification_uri}?code={grant.user_code}",
            expires_in_seconds=int(grant.expires_at - grant.created_at),
            interval_seconds=grant.interval_seconds,
        )

    async def _poll(
        self, request: users_pb2.PollDeviceLoginRequest, actor: Actor | None
    ) -> users_pb2.PollDeviceLoginResponse:
        result = self._forest.credentials.poll(request.device_code)
        response = users_pb2.PollDeviceLoginResponse(status=POLL_STATUS[result.status])
        if result.username is not None and result.tokens is not None:
            response.user.CopyFrom(user_message(self._forest.world.users[result.username]))
            response.tokens.CopyFrom(tokens_message(result.tokens))
        return response

    async def _refresh(
        self, request: users_pb2.RefreshTokenRequest, actor: Actor | None
    ) -> users_pb2.RefreshTokenResponse:
        _, tokens = self._forest.credentials.refresh(request.refresh_token)
        return users_pb2.RefreshTokenResponse(tokens=tokens_message(tokens))

    async def _token_info(
        self, request: users_pb2.TokenInfoRequest, actor: Actor | None
    ) -> users_pb2.TokenInfoResponse:
        known = known_actor(actor)
        access = self._forest.credentials.access_token(known.token)
        if known.kind != "user" or access is None:
            # forest reads user claims that only user access tokens carry
            raise ForestError(grpc.StatusCode.INTERNAL, "missing claims in request extensions")
        user = self._forest.world.users[known.name]
        return users_pb2.TokenInfoResponse(user_id=user.user_id, expires_at=int(access.expires_at))

    async def _get_user(
        self, request: users_pb2.GetUserRequest, actor: Actor | None
    ) -> users_pb2.GetUserResponse:
        world = self._forest.world
        which = request.WhichOneof("identifier")
        if which is None:
            raise ForestError(grpc.StatusCode.INVALID_ARGUMENT, "identifier is required")
        if which == "user_id":
            user = world.user_by_id(_user_id(request.user_id))
        elif which == "username":
            user = world.users.get(request.username)
        else:
            user = world.user_by_email(request.email)
        if user is None:
            raise ForestError(grpc.StatusCode.NOT_FOUND, "user not found")
        return users_pb2.GetUserResponse(user=user_message(user))


class OrganisationService(organisations_pb2_grpc.OrganisationServiceServicer):
    def __init__(self, forest: FakeForest) -> None:
        self._forest = forest

    async def ListMyOrganisations(
        self,
        request: organisations_pb2.ListMyOrganisationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> organisations_pb2.ListMyOrganisationsResponse:
        return await serve(self._forest, "ListMyOrganisations", request, context, self._list_mine)

    async def _list_mine(
        self, request: organisations_pb2.ListMyOrganisationsRequest, actor: Actor | None
    ) -> organisations_pb2.ListMyOrganisationsResponse:
        known = known_actor(actor)
        if known.kind != "user":
            # forest reads user claims that app tokens do not carry
            raise ForestError(grpc.StatusCode.UNAUTHENTICATED, "missing auth context")
        memberships = self._forest.world.memberships(known.name, request.role)
        return organisations_pb2.ListMyOrganisationsResponse(
            organisations=[organisation_message(org) for org, _ in memberships],
            roles=[role for _, role in memberships],
        )


def add_services(forest: FakeForest, server: grpc.aio.Server) -> None:
    policies_pb2_grpc.add_PolicyServiceServicer_to_server(PolicyService(forest), server)
    users_pb2_grpc.add_UsersServiceServicer_to_server(UsersService(forest), server)
    organisations_pb2_grpc.add_OrganisationServiceServicer_to_server(
        OrganisationService(forest), server
    )


def state_message(state: ApprovalSnapshot) -> policies_pb2.ExternalApprovalState:
    return policies_pb2.ExternalApprovalState(
        required_approvals=state.required_approvals,
        current_approvals=state.current_approvals,
        decisions=[
            policies_pb2.ExternalApprovalDecisionEntry(
                user_id=d.user_id,
                username=d.username,
                decision=d.decision,
                decided_at=d.decided_at_rfc3339,
                comment=d.comment,
            )
            for d in state.decisions
        ],
    )


def user_message(user: User) -> users_pb2.User:
    return users_pb2.User(
        user_id=user.user_id,
        username=user.username,
        emails=[
            users_pb2.UserEmail(email=e, verified=e not in user.unverified) for e in user.emails
        ],
    )


def tokens_message(tokens: IssuedTokens) -> users_pb2.AuthTokens:
    return users_pb2.AuthTokens(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in_seconds=tokens.expires_in_seconds,
    )


def organisation_message(org: Organisation) -> organisations_pb2.Organisation:
    seconds = int(org.created_at)
    created_at = Timestamp(seconds=seconds, nanos=int((org.created_at - seconds) * 1e9))
    return organisations_pb2.Organisation(
        organisation_id=org.organisation_id, name=org.name, created_at=created_at
    )


def received(method: str, request: Message, actor: Actor | None, token: str | None) -> ReceivedCall:
    copy = type(request)()
    copy.CopyFrom(request)
    return ReceivedCall(
        method=method,
        actor=actor.name if actor else None,
        actor_kind=actor.kind if actor else None,
        request=copy,
        token=token,
    )


def bearer_token(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return None


def unauthenticated(token: str | None) -> str:
    return "missing authorization token" if token is None else "token verification failed"


def known_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise ForestError(grpc.StatusCode.UNAUTHENTICATED, "missing authorization token")
    return actor


def project_ref(
    request: policies_pb2.ExternalApproveReleaseRequest
    | policies_pb2.ExternalRejectReleaseRequest
    | policies_pb2.GetExternalApprovalStateRequest,
) -> ProjectRef:
    if not request.HasField("project"):
        return None
    return (request.project.organisation, request.project.project)


def _user_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ForestError(grpc.StatusCode.INVALID_ARGUMENT, "invalid user_id") from None


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {sorted(METHODS)}")
