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

Pipeline releases run the way forest's intent coordinator runs them (see
bot/local/fake_forest_pipelines.py); the test plays forest's runner:

    forest.add_destination("acme", "staging")
    forest.add_destination("acme", "production")
    async with forest:
        intent_id = await forest.release("acme", "payments-api",
                                         [deploy("staging"), deploy("production",
                                          depends_on=["deploy-staging"])], author="alice")
        await forest.finish_stage(intent_id, "deploy-staging")   # production is now blocked
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
import nats
import nats.errors
from nats.aio.client import Client as NatsClient

from bot.local.fake_forest_credentials import Credentials, DeviceGrant, IssuedTokens
from bot.local.fake_forest_events import EventLog
from bot.local.fake_forest_pipelines import Destination, Evaluation, Stage, deploy, plan, wait
from bot.local.fake_forest_records import (
    Actor,
    ApprovalSnapshot,
    Artifact,
    ForestError,
    ManualClock,
    Organisation,
    Policy,
    Project,
    ReceivedCall,
    ReleaseIntent,
    User,
)
from bot.local.fake_forest_release_services import (
    EventStream,
    add_release_services,
    wait_until_set,
)
from bot.local.fake_forest_releases import Releases
from bot.local.fake_forest_services import FaultPlan, add_services
from bot.local.fake_forest_world import ForestWorld, ProjectRef

__all__ = [
    "ApprovalSnapshot",
    "Artifact",
    "DeviceGrant",
    "FakeForest",
    "ForestError",
    "IssuedTokens",
    "ManualClock",
    "ReceivedCall",
    "ReleaseIntent",
    "Stage",
    "deploy",
    "plan",
    "wait",
]

log = logging.getLogger(__name__)

EVALUATE_SUBJECT = "forest.intent.evaluate"
RELEASE_STATUS_SUBJECT = "forest.release.status.{intent_id}"
EVENTS_SUBJECT = "forest.events.{organisation}"
RELEASE_QUEUED_SUBJECT = "forest.release.queued"
# forest's coordinator sweeps its ACTIVE intents, and its event streams poll, this often
SWEEP_INTERVAL = 5.0
EVENT_POLL_INTERVAL = 5.0


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
        sweep_interval: float = SWEEP_INTERVAL,
        event_poll_interval: float = EVENT_POLL_INTERVAL,
        world: Callable[[Callable[[], float]], ForestWorld] = ForestWorld,
    ) -> None:
        self.web_url = web_url.rstrip("/")
        self.nats_url = nats_url
        self.clock = clock
        # Every part of the fake shares this one world (the benchmark times its votes).
        self.world = world(clock)
        self.credentials = Credentials(
            clock,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            device_login_lifetime=device_login_lifetime,
            device_poll_interval=device_poll_interval,
        )
        self.events = EventLog(clock)
        self.releases = Releases(self.world, self.events, clock)
        self.sweep_interval = sweep_interval
        self.event_poll_interval = event_poll_interval
        self.faults = FaultPlan()
        self.calls: list[ReceivedCall] = []
        # per method: calls being served now, and the most ever served at once
        self.serving: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        # every publish forest attempted, also without NATS: (subject, payload)
        self.published: list[tuple[str, bytes]] = []
        # every vote forest recorded, in order: (intent id, username, decision); a vote cast
        # twice is here twice, though forest's state keeps one decision per person
        self.recorded_votes: list[tuple[str, str, str]] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._nats: NatsClient | None = None
        self._streams: set[EventStream] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self._artifacts_made = 0

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
        add_release_services(self, server)
        self.port = server.add_insecure_port(f"{host}:{port}")
        self.host = host
        await server.start()
        self._server = server
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="fake-forest-sweep")
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving. Open event streams end cleanly first, as forest's do on shutdown."""
        sweeper, self._sweeper = self._sweeper, None
        for task in [t for t in (sweeper,) if t is not None] + list(self._timers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._timers.clear()
        self.end_event_streams()
        # let the streams' handlers return, so that clients see a clean end of stream
        deadline = time.monotonic() + 1.0
        while self.serving["Subscribe"] and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
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

    def add_user(
        self,
        username: str,
        email: str | None = None,
        user_id: str | None = None,
        email_verified: bool = True,
    ) -> User:
        return self.world.add_user(username, email, user_id, email_verified)

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

    # release pipelines: seeding

    def add_destination(
        self, organisation: str, environment: str, name: str | None = None
    ) -> Destination:
        """A place forest deploys to; a deploy or plan stage runs on every destination of its
        environment (and fails when there is none, as in forest)."""
        return self.releases.add_destination(organisation, environment, name)

    def add_artifact(
        self,
        organisation: str,
        project: str,
        *,
        title: str = "",
        slug: str | None = None,
        artifact_id: str | None = None,
        **fields: object,
    ) -> Artifact:
        """An annotated artifact. ``fields``: description, web, pr, source_user, source_email,
        source_type, run_url, source_user_id, commit_sha, branch, commit_message, version,
        repo_url, metadata."""
        self._artifacts_made += 1
        return self.releases.add_artifact(
            organisation,
            project,
            title=title or f"Release {self._artifacts_made}",
            slug=slug,
            artifact_id=artifact_id,
            **fields,
        )

    def add_pipeline_release(
        self,
        organisation: str,
        project: str,
        stages: Sequence[Stage],
        *,
        artifact: Artifact | str | None = None,
        author: str | None = None,
        intent_id: str | None = None,
    ) -> str:
        """A pipeline release that happened before anyone watched: the coordinator has already
        run its passes, the events are in the log, and nothing is published."""
        intent = self._create_pipeline_intent(
            organisation, project, stages, artifact, author, intent_id
        )
        while True:
            result = self.releases.evaluate(intent.intent_id)
            if result is None or not result.changed or result.complete:
                return intent.intent_id

    # release pipelines: what happens while forest runs

    async def release(
        self,
        organisation: str,
        project: str,
        stages: Sequence[Stage],
        *,
        artifact: Artifact | str | None = None,
        author: str | None = None,
        intent_id: str | None = None,
    ) -> str:
        """Forest's Release with the project's pipeline (``use_pipeline``): the intent starts
        with every stage PENDING, forest records `release/created`, and its coordinator runs.
        Returns the release intent id."""
        intent = self._create_pipeline_intent(
            organisation, project, stages, artifact, author, intent_id
        )
        await self.nudge_events(organisation)
        await self.nudge(intent.intent_id)
        await self.evaluate(intent.intent_id)
        return intent.intent_id

    async def run_stage(self, intent_id: str, stage_id: str) -> None:
        """Forest's runner picked up the stage's releases (QUEUED -> RUNNING)."""
        for step in self.releases.run_stage(intent_id, stage_id):
            await self.publish_release_status(
                intent_id, {"release_id": step.release_id, "status": step.status}
            )

    async def finish_stage(
        self,
        intent_id: str,
        stage_id: str,
        *,
        status: str = "SUCCEEDED",
        error_message: str | None = None,
        plan_output: str | Mapping[str, str] | None = None,
    ) -> None:
        """Forest's runner finished every release of an ACTIVE deploy or plan stage (with
        ``status`` SUCCEEDED, FAILED, CANCELLED or TIMED_OUT); forest then re-evaluates the
        intent. ``plan_output``: what a plan printed, one text or one per destination name."""
        steps = self.releases.finish_stage(intent_id, stage_id, status, error_message, plan_output)
        for step in steps:
            await self.publish_release_status(
                intent_id, {"release_id": step.release_id, "status": step.status}
            )
        await self.nudge(intent_id)
        await self.evaluate(intent_id)

    def set_plan_output(
        self, intent_id: str, stage_id: str, text: str, destination: str | None = None
    ) -> None:
        """Seed what GetPlanOutput returns for a started plan stage."""
        self.releases.set_plan_output(intent_id, stage_id, text, destination)

    async def decide_plan(
        self, intent_id: str, stage_id: str, username: str, *, approve: bool
    ) -> ReleaseIntent:
        """A plan approved or rejected in forage's web UI: forest's rules apply."""
        return await self.decide_plan_as(
            Actor("user", username, token=""), intent_id, stage_id, approve=approve
        )

    async def decide_plan_as(
        self, actor: Actor, release_intent_id: str, stage_id: str, *, approve: bool
    ) -> ReleaseIntent:
        intent = self.releases.decide_plan(actor, release_intent_id, stage_id, approve)
        await self.nudge(intent.intent_id)
        await self.evaluate(intent.intent_id)
        return intent

    def intent(self, intent_id: str) -> ReleaseIntent:
        return self.world.intent(intent_id)

    def stage_status(self, intent_id: str, stage_id: str) -> str:
        """PENDING, ACTIVE, SUCCEEDED, FAILED or CANCELLED."""
        pipeline = self.world.intent(intent_id).pipeline
        if pipeline is None or stage_id not in pipeline.runs:
            raise KeyError(f"{intent_id} has no stage {stage_id!r}")
        return pipeline.runs[stage_id].status

    # forest's intent coordinator

    async def evaluate(self, intent_id: str) -> None:
        """The coordinator's passes over one intent, until one changes nothing, with what
        forest publishes after each."""
        while True:
            result = self.releases.evaluate(intent_id)
            if result is None:
                return
            await self._published_after(intent_id, result)
            if result.complete or not result.changed:
                self._schedule(intent_id, result)
                return
            # forest asks itself for another pass at once, so one change cascades
            await self.nudge(intent_id)

    async def sweep(self) -> None:
        """One sweep: every ACTIVE pipeline intent is evaluated."""
        for intent_id in self.releases.active_pipeline_intents():
            await self.evaluate(intent_id)

    async def _published_after(self, intent_id: str, result: Evaluation) -> None:
        for release_id in result.new_release_ids:
            await self._publish(RELEASE_QUEUED_SUBJECT, release_id.encode())
        if result.changed:
            await self.publish_release_status(
                intent_id,
                {
                    "pipeline_update": True,
                    "pipeline_complete": result.complete,
                    "intent_status": result.intent_status,
                },
            )
        await self.nudge_events(self.world.intent(intent_id).organisation)

    def _schedule(self, intent_id: str, result: Evaluation) -> None:
        """A wait stage ends at a known time: evaluate then, not only at the next sweep."""
        if result.complete or result.next_timer is None or not self.running:
            return
        delay = max(0.0, result.next_timer - self.clock())

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.evaluate(intent_id)

        task = asyncio.create_task(later(), name=f"fake-forest-timer-{intent_id}")
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep()
            except Exception:  # a sweep must never stop the sweeper, as in forest
                log.exception("fake forest sweep failed")

    def _create_pipeline_intent(
        self,
        organisation: str,
        project: str,
        stages: Sequence[Stage],
        artifact: Artifact | str | None,
        author: str | None,
        intent_id: str | None,
    ) -> ReleaseIntent:
        if artifact is None:
            artifact = self.add_artifact(organisation, project)
        artifact_id = artifact if isinstance(artifact, str) else artifact.artifact_id
        return self.releases.create_pipeline_intent(
            organisation, project, stages, artifact_id=artifact_id, author=author,
            intent_id=intent_id,
        )  # fmt: skip

    # the org event log's streams

    def open_event_stream(self) -> EventStream:
        stream = EventStream(self.events.waker())
        self._streams.add(stream)
        return stream

    def close_event_stream(self, stream: EventStream) -> None:
        self.events.forget(stream.waker)
        self._streams.discard(stream)

    async def wait_for_events(self, waker: asyncio.Event) -> None:
        await wait_until_set(waker, self.event_poll_interval)

    def end_event_streams(
        self, code: grpc.StatusCode = grpc.StatusCode.OK, details: str = ""
    ) -> int:
        """End every open Subscribe stream: cleanly (OK) or failing with ``code``. Returns how
        many were open."""
        streams = list(self._streams)
        for stream in streams:
            stream.end(code, details)
        return len(streams)

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
        self.recorded_votes.append((intent_id, actor.name, decision))
        await self.nudge(intent_id)
        # forest's coordinator hears the nudge and re-evaluates a pipeline intent at once
        await self.evaluate(intent_id)
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
        url.split(","),  # one server, or a cluster's
        name="fake-forest",
        error_cb=on_error,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
    )
