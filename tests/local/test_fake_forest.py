"""The fake forest, driven over a real socket with the generated stubs, behaves like forest."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio
from forest.v1 import (
    organisations_pb2,
    organisations_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    users_pb2,
    users_pb2_grpc,
)

from bot.local.fake_forest import FakeForest, ForestError, ManualClock
from bot.local.nats_server import NatsServer, run_nats_server

ORG = "acme"
PROJECT = "payments-api"
ENV = "production"


@dataclass
class Stubs:
    policies: policies_pb2_grpc.PolicyServiceStub
    users: users_pb2_grpc.UsersServiceStub
    organisations: organisations_pb2_grpc.OrganisationServiceStub


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def seeded(clock: ManualClock, **options: Any) -> FakeForest:
    forest = FakeForest(web_url="https://forage.test", clock=clock, **options)
    forest.add_organisation(ORG)
    forest.add_organisation("globex")
    for name in ("alice", "bob", "carol", "dave", "erin"):
        forest.add_user(name, email=f"{name}@{ORG}.io")
    forest.add_member(ORG, "alice", role="admin")
    forest.add_member(ORG, "bob")
    forest.add_member(ORG, "carol")
    forest.add_member("globex", "dave", role="admin")
    forest.add_member("globex", "alice")
    forest.add_project(ORG, PROJECT)
    forest.add_policy(ORG, PROJECT, ENV, name="prod-needs-two", required_approvals=2)
    return forest


@pytest_asyncio.fixture
async def forest(clock: ManualClock) -> AsyncIterator[FakeForest]:
    async with seeded(clock, device_poll_interval=0) as running:
        yield running


@pytest_asyncio.fixture
async def stubs(forest: FakeForest) -> AsyncIterator[Stubs]:
    async with grpc.aio.insecure_channel(forest.address) as channel:
        yield Stubs(
            policies_pb2_grpc.PolicyServiceStub(channel),
            users_pb2_grpc.UsersServiceStub(channel),
            organisations_pb2_grpc.OrganisationServiceStub(channel),
        )


@pytest.fixture
def intent(forest: FakeForest) -> str:
    return forest.add_release_intent(ORG, PROJECT, author="alice")


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def project(organisation: str = ORG, name: str = PROJECT) -> policies_pb2.Project:
    return policies_pb2.Project(organisation=organisation, project=name)


def approve(
    intent_id: str, env: str = ENV, *, comment: str | None = None, force_bypass: bool = False
) -> policies_pb2.ExternalApproveReleaseRequest:
    return policies_pb2.ExternalApproveReleaseRequest(
        project=project(),
        release_intent_id=intent_id,
        target_environment=env,
        comment=comment,
        force_bypass=force_bypass,
    )


def reject(intent_id: str, env: str = ENV) -> policies_pb2.ExternalRejectReleaseRequest:
    return policies_pb2.ExternalRejectReleaseRequest(
        project=project(), release_intent_id=intent_id, target_environment=env
    )


def get_state(
    intent_id: str, env: str = ENV, *, organisation: str = ORG
) -> policies_pb2.GetExternalApprovalStateRequest:
    return policies_pb2.GetExternalApprovalStateRequest(
        project=project(organisation), release_intent_id=intent_id, target_environment=env
    )


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def votes(state: policies_pb2.ExternalApprovalState) -> list[tuple[str, str]]:
    return [(d.username, d.decision) for d in state.decisions]


# votes


async def test_approve_returns_state_and_forest_sees_who_voted(
    forest: FakeForest, stubs: Stubs, intent: str, clock: ManualClock
) -> None:
    bob = forest.issue_user_token("bob")

    response = await stubs.policies.ExternalApproveRelease(
        approve(intent, comment="looks good"), metadata=bearer(bob)
    )

    assert response.state.required_approvals == 2
    assert response.state.current_approvals == 1
    [entry] = response.state.decisions
    assert (entry.user_id, entry.username) == (forest.world.users["bob"].user_id, "bob")
    assert (entry.decision, entry.comment) == ("approved", "looks good")
    assert entry.decided_at.endswith("+00:00")
    assert datetime.fromisoformat(entry.decided_at) == datetime.fromtimestamp(clock.now, UTC)
    [call] = forest.calls
    assert (call.method, call.actor, call.actor_kind, call.token) == (
        "ExternalApproveRelease",
        "bob",
        "user",
        bob,
    )
    assert call.request.release_intent_id == intent
    assert call.request.force_bypass is False


async def test_a_new_vote_replaces_the_old_one_and_moves_to_the_end(
    forest: FakeForest, stubs: Stubs, intent: str, clock: ManualClock
) -> None:
    bob, carol = forest.issue_user_token("bob"), forest.issue_user_token("carol")

    await stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(bob))
    clock.advance(1)
    await stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(carol))
    clock.advance(1)
    changed = await stubs.policies.ExternalRejectRelease(reject(intent), metadata=bearer(bob))

    assert votes(changed.state) == [("carol", "approved"), ("bob", "rejected")]
    assert changed.state.current_approvals == 1
    assert not changed.state.decisions[1].HasField("comment")
    read = await stubs.policies.GetExternalApprovalState(get_state(intent), metadata=bearer(bob))
    assert read.state == changed.state


async def test_the_author_cannot_approve_their_own_intent(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    alice = forest.issue_user_token("alice")

    error = await refused(
        stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(alice))
    )

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "cannot approve your own release intent"
    assert forest.approval_state(intent, ENV).decisions == ()
    assert forest.published == []


async def test_the_author_may_bypass_and_it_counts_as_one_approval(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    alice = forest.issue_user_token("alice")

    response = await stubs.policies.ExternalApproveRelease(
        approve(intent, force_bypass=True), metadata=bearer(alice)
    )

    assert votes(response.state) == [("alice", "approved")]
    assert response.state.current_approvals == 1
    [call] = forest.calls_to("ExternalApproveRelease")
    assert (call.actor, call.request.force_bypass) == ("alice", True)


async def test_forest_does_not_check_that_a_bypassing_user_is_an_admin(
    forest: FakeForest, stubs: Stubs
) -> None:
    by_bob = forest.add_release_intent(ORG, PROJECT, author="bob")
    bob = forest.issue_user_token("bob")
    assert forest.world.roles[(ORG, "bob")] == "member"

    response = await stubs.policies.ExternalApproveRelease(
        approve(by_bob, force_bypass=True), metadata=bearer(bob)
    )

    assert votes(response.state) == [("bob", "approved")]


async def test_the_author_may_reject_their_own_intent(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    alice = forest.issue_user_token("alice")

    response = await stubs.policies.ExternalRejectRelease(reject(intent), metadata=bearer(alice))

    assert votes(response.state) == [("alice", "rejected")]
    assert response.state.current_approvals == 0


async def test_an_environment_without_policy_is_not_found(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    bob = forest.issue_user_token("bob")

    on_vote = await refused(
        stubs.policies.ExternalApproveRelease(approve(intent, "staging"), metadata=bearer(bob))
    )
    on_read = await refused(
        stubs.policies.GetExternalApprovalState(get_state(intent, "staging"), metadata=bearer(bob))
    )

    for error in (on_vote, on_read):
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert error.details() == "no approval policy found for environment"
    assert forest.world.decisions == {}


@pytest.mark.parametrize("username", ["erin", "dave"])
async def test_a_non_member_is_refused(
    forest: FakeForest, stubs: Stubs, intent: str, username: str
) -> None:
    token = forest.issue_user_token(username)

    error = await refused(
        stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(token))
    )

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "not a member of this organisation"
    assert forest.calls[-1].actor == username
    assert forest.approval_state(intent, ENV).decisions == ()


async def test_an_app_token_cannot_vote(forest: FakeForest, stubs: Stubs, intent: str) -> None:
    app = forest.issue_app_token(ORG)

    on_approve = await refused(
        stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(app))
    )
    on_reject = await refused(
        stubs.policies.ExternalRejectRelease(reject(intent), metadata=bearer(app))
    )

    assert (on_approve.code(), on_approve.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "only users can approve releases",
    )
    assert (on_reject.code(), on_reject.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "only users can reject releases",
    )
    assert [(c.actor, c.actor_kind) for c in forest.calls] == [(ORG, "app"), (ORG, "app")]
    assert forest.approval_state(intent, ENV).decisions == ()


async def test_an_app_token_reads_state_in_its_organisation(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    await forest.record_decision(intent, ENV, "bob", "approved", comment="ok")
    app = forest.issue_app_token(ORG)

    response = await stubs.policies.GetExternalApprovalState(
        get_state(intent), metadata=bearer(app)
    )

    assert votes(response.state) == [("bob", "approved")]
    assert response.state.decisions[0].comment == "ok"
    assert (response.state.required_approvals, response.state.current_approvals) == (2, 1)


async def test_an_app_token_of_another_organisation_is_refused(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    app = forest.issue_app_token("globex")

    error = await refused(
        stubs.policies.GetExternalApprovalState(get_state(intent), metadata=bearer(app))
    )

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "app is not scoped to this organisation"


@pytest.mark.parametrize(
    ("metadata", "details"),
    [
        ((), "missing authorization token"),
        (bearer("not-a-token"), "token verification failed"),
        ((("authorization", "Basic Ym9iOmJvYg=="),), "missing authorization token"),
    ],
)
async def test_a_missing_or_unknown_token_is_unauthenticated(
    forest: FakeForest,
    stubs: Stubs,
    intent: str,
    metadata: tuple[tuple[str, str], ...],
    details: str,
) -> None:
    error = await refused(stubs.policies.ExternalApproveRelease(approve(intent), metadata=metadata))

    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, details)
    [call] = forest.calls
    assert (call.actor, call.actor_kind) == (None, None)
    assert forest.approval_state(intent, ENV).decisions == ()


async def test_an_expired_access_token_is_unauthenticated(
    forest: FakeForest, stubs: Stubs, intent: str, clock: ManualClock
) -> None:
    bob = forest.issue_user_token("bob")
    clock.advance(3600)

    error = await refused(
        stubs.policies.GetExternalApprovalState(get_state(intent), metadata=bearer(bob))
    )

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert forest.calls[-1].token == bob


@pytest.mark.parametrize(
    ("request_", "code", "details"),
    [
        (approve("not-a-uuid"), grpc.StatusCode.INTERNAL, "invalid release_intent_id"),
        (
            policies_pb2.ExternalApproveReleaseRequest(
                release_intent_id=str(uuid.uuid4()), target_environment=ENV
            ),
            grpc.StatusCode.INTERNAL,
            "project is required",
        ),
        (
            policies_pb2.ExternalApproveReleaseRequest(
                project=project(ORG, "no-such-project"),
                release_intent_id=str(uuid.uuid4()),
                target_environment=ENV,
            ),
            grpc.StatusCode.INTERNAL,
            "resolve project",
        ),
        (
            policies_pb2.ExternalApproveReleaseRequest(
                project=project("initech"),
                release_intent_id=str(uuid.uuid4()),
                target_environment=ENV,
            ),
            grpc.StatusCode.NOT_FOUND,
            "organisation not found",
        ),
        (approve(str(uuid.uuid4())), grpc.StatusCode.INTERNAL, "record approval decision"),
    ],
    ids=["bad-uuid", "missing-project", "unknown-project", "unknown-org", "unknown-intent"],
)
async def test_malformed_votes_fail_like_forest(
    forest: FakeForest,
    stubs: Stubs,
    request_: policies_pb2.ExternalApproveReleaseRequest,
    code: grpc.StatusCode,
    details: str,
) -> None:
    bob = forest.issue_user_token("bob")

    error = await refused(stubs.policies.ExternalApproveRelease(request_, metadata=bearer(bob)))

    assert (error.code(), error.details()) == (code, details)
    assert forest.world.decisions == {}
    assert forest.published == []


async def test_an_unknown_intent_reads_as_one_without_votes(
    forest: FakeForest, stubs: Stubs
) -> None:
    bob = forest.issue_user_token("bob")

    response = await stubs.policies.GetExternalApprovalState(
        get_state(str(uuid.uuid4())), metadata=bearer(bob)
    )

    assert (response.state.required_approvals, response.state.current_approvals) == (2, 0)
    assert list(response.state.decisions) == []


async def test_a_web_ui_vote_follows_the_rules_and_is_not_a_grpc_call(
    forest: FakeForest, intent: str
) -> None:
    with pytest.raises(ForestError) as refusal:
        await forest.record_decision(intent, ENV, "alice", "approved")
    state = await forest.record_decision(intent, ENV, "carol", "approved")

    assert refusal.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert [(d.username, d.decision) for d in state.decisions] == [("carol", "approved")]
    assert forest.calls == []
    assert forest.published == [("forest.intent.evaluate", intent.encode())]


# device login


async def test_device_login_hands_out_tokens_once_after_approval(
    forest: FakeForest, stubs: Stubs, clock: ManualClock
) -> None:
    started = await stubs.users.InitiateDeviceLogin(
        users_pb2.InitiateDeviceLoginRequest(client_name="Forest Approvals for Slack")
    )
    poll = users_pb2.PollDeviceLoginRequest(device_code=started.device_code)

    assert started.verification_uri == "https://forage.test/device"
    assert (
        started.verification_uri_complete == f"https://forage.test/device?code={started.user_code}"
    )
    assert (started.expires_in_seconds, started.interval_seconds) == (900, 0)
    [pending] = forest.pending_device_logins()
    assert (pending.client_name, pending.user_code) == (
        "Forest Approvals for Slack",
        started.user_code,
    )
    waiting = await stubs.users.PollDeviceLogin(poll)
    assert waiting.status == users_pb2.DEVICE_LOGIN_STATUS_PENDING
    assert not waiting.HasField("tokens")

    forest.approve_device_code(started.user_code, "bob")
    approved = await stubs.users.PollDeviceLogin(poll)
    again = await stubs.users.PollDeviceLogin(poll)

    assert approved.status == users_pb2.DEVICE_LOGIN_STATUS_APPROVED
    assert (approved.user.username, approved.user.user_id) == (
        "bob",
        forest.world.users["bob"].user_id,
    )
    assert approved.tokens.expires_in_seconds == 3600
    assert again.status == users_pb2.DEVICE_LOGIN_STATUS_EXPIRED
    assert not again.HasField("tokens")
    assert forest.pending_device_logins() == []
    info = await stubs.users.TokenInfo(
        users_pb2.TokenInfoRequest(), metadata=bearer(approved.tokens.access_token)
    )
    assert (info.user_id, info.expires_at) == (approved.user.user_id, int(clock.now + 3600))


async def test_a_denied_device_login_reports_denied(forest: FakeForest, stubs: Stubs) -> None:
    started = await stubs.users.InitiateDeviceLogin(users_pb2.InitiateDeviceLoginRequest())

    forest.deny_device_code(started.user_code.lower())
    answer = await stubs.users.PollDeviceLogin(
        users_pb2.PollDeviceLoginRequest(device_code=started.device_code)
    )

    assert answer.status == users_pb2.DEVICE_LOGIN_STATUS_DENIED
    assert not answer.HasField("tokens")


async def test_a_device_login_expires(forest: FakeForest, stubs: Stubs, clock: ManualClock) -> None:
    started = await stubs.users.InitiateDeviceLogin(users_pb2.InitiateDeviceLoginRequest())
    clock.advance(900)

    answer = await stubs.users.PollDeviceLogin(
        users_pb2.PollDeviceLoginRequest(device_code=started.device_code)
    )

    assert answer.status == users_pb2.DEVICE_LOGIN_STATUS_EXPIRED
    with pytest.raises(ValueError, match="no longer pending"):
        forest.approve_device_code(started.user_code, "bob")


async def test_polling_faster_than_the_interval_is_told_to_slow_down(clock: ManualClock) -> None:
    async with (
        seeded(clock, device_poll_interval=5, device_login_lifetime=60) as forest,
        grpc.aio.insecure_channel(forest.address) as channel,
    ):
        users = users_pb2_grpc.UsersServiceStub(channel)
        started = await users.InitiateDeviceLogin(users_pb2.InitiateDeviceLoginRequest())
        poll = users_pb2.PollDeviceLoginRequest(device_code=started.device_code)

        first = await users.PollDeviceLogin(poll)
        clock.advance(4)
        hurried = await users.PollDeviceLogin(poll)
        clock.advance(5)
        patient = await users.PollDeviceLogin(poll)

    assert (started.interval_seconds, started.expires_in_seconds) == (5, 60)
    assert first.status == users_pb2.DEVICE_LOGIN_STATUS_PENDING
    assert hurried.status == users_pb2.DEVICE_LOGIN_STATUS_SLOW_DOWN
    assert patient.status == users_pb2.DEVICE_LOGIN_STATUS_PENDING


async def test_interval_zero_lets_a_client_poll_back_to_back(
    forest: FakeForest, stubs: Stubs
) -> None:
    started = await stubs.users.InitiateDeviceLogin(users_pb2.InitiateDeviceLoginRequest())
    poll = users_pb2.PollDeviceLoginRequest(device_code=started.device_code)

    answers = [(await stubs.users.PollDeviceLogin(poll)).status for _ in range(3)]

    assert answers == [users_pb2.DEVICE_LOGIN_STATUS_PENDING] * 3
    assert [c.method for c in forest.calls] == ["InitiateDeviceLogin"] + ["PollDeviceLogin"] * 3


async def test_an_unknown_device_code_is_not_found(stubs: Stubs) -> None:
    error = await refused(
        stubs.users.PollDeviceLogin(users_pb2.PollDeviceLoginRequest(device_code="nope"))
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND


# tokens


async def test_refresh_rotates_the_refresh_token(forest: FakeForest, stubs: Stubs) -> None:
    first = forest.issue_user_tokens("bob")

    # no authorization header: the access token may already have expired
    rotated = await stubs.users.RefreshToken(
        users_pb2.RefreshTokenRequest(refresh_token=first.refresh_token)
    )
    replayed = await refused(
        stubs.users.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
    )

    assert rotated.tokens.refresh_token not in ("", first.refresh_token)
    assert rotated.tokens.access_token not in ("", first.access_token)
    assert (replayed.code(), replayed.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "refresh token is invalid or expired",
    )
    info = await stubs.users.TokenInfo(
        users_pb2.TokenInfoRequest(), metadata=bearer(rotated.tokens.access_token)
    )
    assert info.user_id == forest.world.users["bob"].user_id


async def test_revoked_refresh_tokens_no_longer_refresh(forest: FakeForest, stubs: Stubs) -> None:
    tokens = forest.issue_user_tokens("bob")

    assert forest.revoke_refresh_tokens("bob") == 1
    error = await refused(
        stubs.users.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=tokens.refresh_token))
    )

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_expired_refresh_token_does_not_refresh(
    clock: ManualClock,
) -> None:
    async with (
        seeded(clock, refresh_token_lifetime=60) as forest,
        grpc.aio.insecure_channel(forest.address) as channel,
    ):
        tokens = forest.issue_user_tokens("bob")
        clock.advance(60)
        error = await refused(
            users_pb2_grpc.UsersServiceStub(channel).RefreshToken(
                users_pb2.RefreshTokenRequest(refresh_token=tokens.refresh_token)
            )
        )

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


# organisations and users


async def test_list_my_organisations_with_roles_and_role_filter(
    forest: FakeForest, stubs: Stubs, clock: ManualClock
) -> None:
    alice = forest.issue_user_token("alice")

    everything = await stubs.organisations.ListMyOrganisations(
        organisations_pb2.ListMyOrganisationsRequest(), metadata=bearer(alice)
    )
    admin_only = await stubs.organisations.ListMyOrganisations(
        organisations_pb2.ListMyOrganisationsRequest(role="admin"), metadata=bearer(alice)
    )

    assert [o.name for o in everything.organisations] == [ORG, "globex"]
    assert list(everything.roles) == ["admin", "member"]
    assert (
        everything.organisations[0].organisation_id
        == forest.world.organisations[ORG].organisation_id
    )
    assert everything.organisations[0].created_at.seconds == int(clock.now)
    assert [o.name for o in admin_only.organisations] == [ORG]
    assert list(admin_only.roles) == ["admin"]


async def test_list_my_organisations_needs_a_user(forest: FakeForest, stubs: Stubs) -> None:
    app = forest.issue_app_token(ORG)

    error = await refused(
        stubs.organisations.ListMyOrganisations(
            organisations_pb2.ListMyOrganisationsRequest(), metadata=bearer(app)
        )
    )

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("field", ["user_id", "username", "email"])
async def test_get_user_by_any_identifier(forest: FakeForest, stubs: Stubs, field: str) -> None:
    carol = forest.world.users["carol"]
    value = {"user_id": carol.user_id, "username": "carol", "email": "CAROL@acme.io"}[field]

    response = await stubs.users.GetUser(
        users_pb2.GetUserRequest(**{field: value}), metadata=bearer(forest.issue_user_token("bob"))
    )

    assert (response.user.user_id, response.user.username) == (carol.user_id, "carol")
    assert [(e.email, e.verified) for e in response.user.emails] == [("carol@acme.io", True)]


async def test_get_user_answers_not_found_and_invalid_argument(
    forest: FakeForest, stubs: Stubs
) -> None:
    token = bearer(forest.issue_user_token("bob"))

    missing = await refused(
        stubs.users.GetUser(users_pb2.GetUserRequest(username="zed"), metadata=token)
    )
    malformed = await refused(
        stubs.users.GetUser(users_pb2.GetUserRequest(user_id="x"), metadata=token)
    )

    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT


# faults and lifecycle


async def test_fail_next_fails_that_many_calls_before_anything_happens(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    bob = forest.issue_user_token("bob")
    forest.fail_next("ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "forest is down")

    failed = await refused(
        stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(bob))
    )
    assert forest.approval_state(intent, ENV).decisions == ()
    retried = await stubs.policies.ExternalApproveRelease(approve(intent), metadata=bearer(bob))

    assert (failed.code(), failed.details()) == (grpc.StatusCode.UNAVAILABLE, "forest is down")
    assert votes(retried.state) == [("bob", "approved")]
    assert len(forest.calls_to("ExternalApproveRelease")) == 2


async def test_a_fault_after_processing_keeps_the_vote(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    bob = forest.issue_user_token("bob")
    forest.fail_next(
        "ExternalRejectRelease", grpc.StatusCode.UNAVAILABLE, "reset", after_processing=True
    )

    error = await refused(
        stubs.policies.ExternalRejectRelease(reject(intent), metadata=bearer(bob))
    )

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert [(d.username, d.decision) for d in forest.approval_state(intent, ENV).decisions] == [
        ("bob", "rejected")
    ]


async def test_a_delay_longer_than_the_deadline_times_the_caller_out(
    forest: FakeForest, stubs: Stubs, intent: str
) -> None:
    bob = forest.issue_user_token("bob")
    forest.delay("GetExternalApprovalState", 0.5)

    slow = await refused(
        stubs.policies.GetExternalApprovalState(
            get_state(intent), metadata=bearer(bob), timeout=0.1
        )
    )
    forest.delay("GetExternalApprovalState", 0)
    fast = await stubs.policies.GetExternalApprovalState(get_state(intent), metadata=bearer(bob))

    assert slow.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert fast.state.required_approvals == 2


async def test_fault_injection_rejects_unknown_method_names(forest: FakeForest) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        forest.fail_next("ApproveRelease", grpc.StatusCode.UNAVAILABLE, "typo")


async def test_forest_can_stop_and_come_back_on_the_same_port(
    forest: FakeForest, intent: str
) -> None:
    bob = forest.issue_user_token("bob")
    port = forest.port
    await forest.stop()

    async with grpc.aio.insecure_channel(forest.address) as channel:
        stub = policies_pb2_grpc.PolicyServiceStub(channel)
        down = await refused(
            stub.GetExternalApprovalState(get_state(intent), metadata=bearer(bob), timeout=1)
        )
        await forest.start(port=port)
        up = await stub.GetExternalApprovalState(
            get_state(intent), metadata=bearer(bob), timeout=5, wait_for_ready=True
        )

    assert down.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert forest.port == port
    assert up.state.required_approvals == 2


# NATS


async def test_every_decision_publishes_intent_evaluate_on_nats(
    nats_server: NatsServer, clock: ManualClock
) -> None:
    listener = await nats.connect(nats_server.url)
    heard = await listener.subscribe("forest.intent.evaluate")
    statuses = await listener.subscribe("forest.release.status.>")
    await listener.flush()
    try:
        async with (
            seeded(clock, nats_url=nats_server.url) as forest,
            grpc.aio.insecure_channel(forest.address) as channel,
        ):
            intent = forest.add_release_intent(ORG, PROJECT, author="alice")
            stub = policies_pb2_grpc.PolicyServiceStub(channel)
            bob = forest.issue_user_token("bob")
            await stub.ExternalApproveRelease(approve(intent), metadata=bearer(bob))
            await forest.record_decision(intent, ENV, "carol", "rejected")
            release = {"release_id": "r-1", "status": "SUCCEEDED"}
            await forest.publish_release_status(intent, release)

            evaluations = [await heard.next_msg(timeout=2) for _ in range(2)]
            status = await statuses.next_msg(timeout=2)
    finally:
        await listener.close()

    assert [m.data.decode() for m in evaluations] == [intent, intent]
    assert status.subject == f"forest.release.status.{intent}"
    assert json.loads(status.data) == release


async def test_the_nats_server_restarts_on_its_port_with_its_jetstream_state(
    tmp_path: Path,
) -> None:
    async with run_nats_server(tmp_path / "nats") as server:
        first_url = server.url
        client = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        try:
            await client.jetstream().add_stream(name="KEEP", subjects=["keep.>"])
            await server.restart()
            info = await asyncio.wait_for(client.jetstream().stream_info("KEEP"), timeout=10)
        finally:
            await client.close()

    assert server.url == first_url
    assert info.config.subjects == ["keep.>"]
    assert not server.running
