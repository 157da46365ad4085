"""A fake forest: a real gRPC server on a real socket that answers like forest does.

Seed it from code, point the bot at `forest.address`, and read back what it received from
`forest.calls`. With a NATS URL it also publishes what forest publishes on core NATS.

    forest = FakeForest(web_url="http://127.0.0.1:8080", nats_url=nats_url)
    forest.add_organisation("acme")
    forest.add_user("alice", email="alice@acme.io")
    forest.add_member("acme", "alice", role="admin")
    forest.add_project("acme", "payments-api")
    forest.add_policy("acme", "payments-api", "production", name="prod-needs-two",
                      required_approvals=2)
    intent_id = forest.add_release_intent("acme", "payments-api", author="alice")
    async with forest:
        ...
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import grpc
import nats
import nats.errors
from nats.aio.client import Client as NatsClient

from bot.local.fake_forest_credentials import Credentials, DeviceGrant, IssuedTokens
from bot.local.fake_forest_records import (
    Actor,
    ApprovalSnapshot,
    ForestError,
    ManualClock,
    Organisation,
    Policy,
    Project,
    ReceivedCall,
    User,
)
from bot.local.fake_forest_services import FaultPlan, add_services
from bot.local.fake_forest_world import ForestWorld, ProjectRef

__all__ = [
    "ApprovalSnapshot",
    "DeviceGrant",
    "FakeForest",
    "ForestError",
    "IssuedTokens",
    "ManualClock",
    "ReceivedCall",
]

log = logging.getLogger(__name__)

EVALUATE_SUBJECT = "forest.intent.evaluate"
RELEASE_STATUS_SUBJECT = "forest.release.status.{intent_id}"
EVENTS_SUBJECT = "forest.events.{organisation}"


class FakeForest:
    def __init__(
        self,
        *,
        web_url: str = "http://127.0.0.1:8080",
        nats_url: str | None = None,
        clock: Callable[[], float] = time.time,
        access_token_lifetime: float = 3600,
        refresh_token_lifetime: float = 30 * 24 * 3600,
        device_login_lifetime: int = 900,
        device_poll_interval: int = 5,
    ) -> None:
        self.web_url = web_url.rstrip("/")
        self.nats_url = nats_url
        self.clock = clock
        self.world = ForestWorld(clock)
        self.credentials = Credentials(
            clock,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            device_login_lifetime=device_login_lifetime,
            device_poll_interval=device_poll_interval,
        )
        self.faults = FaultPlan()
        self.calls: list[ReceivedCall] = []
        # per method: calls being served now, and the most ever served at once
        self.serving: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        # every publish forest attempted, also without NATS: (subject, payload)
        self.published: list[tuple[str, bytes]] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._nats: NatsClient | None = None

    # lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on host:port (0 picks a free port); returns the port. Seeded state survives
        a stop() and start(), so a test can take forest away and bring it back on the same port.
        """
        if self._server is not None:
            raise RuntimeError("the fake forest is already running")
        if self.nats_url and self._nats is None:
            self._nats = await _connect_nats(self.nats_url)
        server = grpc.aio.server()
        add_services(self, server)
        self.port = server.add_insecure_port(f"{host}:{port}")
        self.host = host
        await server.start()
        self._server = server
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
        connection, self._nats = self._nats, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """host:port, the target for grpc.aio.insecure_channel."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # seeding

    def add_organisation(self, name: str, organisation_id: str | None = None) -> Organisation:
        return self.world.add_organisation(name, organisation_id)

    def add_user(self, username: str, email: str | None = None, user_id: str | None = None) -> User:
        return self.world.add_user(username, email, user_id)

    def add_member(self, organisation: str, username: str, role: str = "member") -> None:
        self.world.add_member(organisation, username, role)

    def remove_member(self, organisation: str, username: str) -> None:
        self.world.remove_member(organisation, username)

    def add_project(self, organisation: str, project: str) -> Project:
        return self.world.add_project(organisation, project)

    def add_policy(
        self,
        organisation: str,
        project: str,
        target_environment: str,
        *,
        name: str,
        required_approvals: int = 1,
        enabled: bool = True,
    ) -> Policy:
        return self.world.add_policy(
            organisation,
            project,
            target_environment,
            name=name,
            required_approvals=required_approvals,
            enabled=enabled,
        )

    def add_release_intent(
        self, organisation: str, project: str, author: str | None, intent_id: str | None = None
    ) -> str:
        return self.world.add_release_intent(organisation, project, author, intent_id)

    # tokens and device login

    def issue_user_token(self, username: str, lifetime: float | None = None) -> str:
        self._existing_user(username)
        return self.credentials.issue_access_token(username, lifetime)

    def issue_user_tokens(self, username: str) -> IssuedTokens:
        """An access and refresh token pair, as a finished device login would hand out."""
        self._existing_user(username)
        return self.credentials.issue_user_tokens(username)

    def issue_app_token(self, organisation: str) -> str:
        if organisation not in self.world.organisations:
            raise KeyError(f"no organisation {organisation!r}; add_organisation first")
        return self.credentials.issue_app_token(organisation)

    def revoke_refresh_tokens(self, username: str) -> int:
        return self.credentials.revoke_refresh_tokens(username)

    def revoke_access_tokens(self, username: str) -> int:
        return self.credentials.revoke_access_tokens(username)

    def approve_device_code(self, user_code: str, username: str) -> DeviceGrant:
        """The person opened the verification link, signed in as `username`, and approved."""
        self._existing_user(username)
        return self.credentials.approve_device_code(user_code, username)

    def deny_device_code(self, user_code: str) -> DeviceGrant:
        return self.credentials.deny_device_code(user_code)

    def pending_device_logins(self) -> list[DeviceGrant]:
        return self.credentials.pending_device_logins()

    # votes

    async def record_decision(
        self,
        intent_id: str,
        target_environment: str,
        username: str,
        decision: str,
        comment: str | None = None,
        *,
        force_bypass: bool = False,
    ) -> ApprovalSnapshot:
        """A vote cast in forage's web UI: forest's rules apply, and forest publishes the nudge.
        Raises ForestError where forest would refuse.
        """
        intent = self.world.intent(intent_id)
        return await self.cast_vote(
            Actor("user", username, token=""),
            (intent.organisation, intent.project),
            intent.intent_id,
            target_environment,
            decision,
            comment=comment,
            force_bypass=force_bypass,
        )

    def approval_state(self, intent_id: str, target_environment: str) -> ApprovalSnapshot:
        intent = self.world.intent(intent_id)
        policy = self.world.approval_policy_of(intent.intent_id, target_environment)
        return self.world.snapshot(intent.intent_id, target_environment, policy)

    async def cast_vote(
        self,
        actor: Actor,
        project: ProjectRef,
        release_intent_id: str,
        target_environment: str,
        decision: str,
        *,
        comment: str | None = None,
        force_bypass: bool = False,
    ) -> ApprovalSnapshot:
        intent_id, state = self.world.cast_vote(
            actor,
            project,
            release_intent_id,
            target_environment,
            decision,
            comment=comment,
            force_bypass=force_bypass,
        )
        await self.nudge(intent_id)
        return state

    # what forest publishes

    async def nudge(self, intent_id: str) -> None:
        """`forest.intent.evaluate`: forest's signal that an intent may have progressed."""
        await self._publish(EVALUATE_SUBJECT, intent_id.encode())

    async def publish_release_status(self, intent_id: str, payload: dict[str, Any]) -> None:
        subject = RELEASE_STATUS_SUBJECT.format(intent_id=intent_id)
        await self._publish(subject, json.dumps(payload).encode())

    async def nudge_events(self, organisation: str) -> None:
        await self._publish(EVENTS_SUBJECT.format(organisation=organisation), b"")

    # observation and faults

    def calls_to(self, method: str) -> list[ReceivedCall]:
        return [call for call in self.calls if call.method == method]

    def fail_next(
        self,
        method: str,
        code: grpc.StatusCode,
        details: str,
        times: int = 1,
        *,
        after_processing: bool = False,
    ) -> None:
        self.faults.fail_next(method, code, details, times, after_processing=after_processing)

    def delay(self, method: str, seconds: float, *, after_processing: bool = False) -> None:
        """Hold every call to `method` for `seconds` (0 removes the delay)."""
        self.faults.delay(method, seconds, after_processing=after_processing)

    def _existing_user(self, username: str) -> User:
        if username not in self.world.users:
            raise KeyError(f"no user {username!r}; add_user first")
        return self.world.users[username]

    async def _publish(self, subject: str, payload: bytes) -> None:
        self.published.append((subject, payload))
        connection = self._nats
        if connection is None:
            return
        # Forest publishes on core NATS and ignores failures; so does the fake.
        try:
            await connection.publish(subject, payload)
            if connection.is_connected:
                await connection.flush(timeout=1)
        except (nats.errors.Error, OSError) as error:
            log.debug("fake forest could not publish %s: %s", subject, error)


async def _connect_nats(url: str) -> NatsClient:
    async def on_error(error: Exception) -> None:
        log.debug("fake forest NATS connection: %s", error)

    return await nats.connect(
        url,
        name="fake-forest",
        error_cb=on_error,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
    )
