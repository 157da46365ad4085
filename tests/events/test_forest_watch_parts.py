"""The parts of the forest watch: forest's rule, the lease between replicas, the cursor."""

import uuid
from datetime import UTC, datetime

import nats

from bot.forest.releases import PipelineStage, ReleaseIntent, StageStatus, StageType
from bot.local.nats_server import NatsServer
from bot.state.approval_store import open_bucket
from bot.watch.cursor import Cursor
from bot.watch.lease import WatchLease
from bot.watch.rule import ready_since, waiting_deploy_stages

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def stage(stage_id: str, status: StageStatus, *depends_on: str, **fields) -> PipelineStage:
    return PipelineStage(
        stage_id,
        fields.pop("stage_type", StageType.DEPLOY),
        status,
        depends_on=depends_on,
        environment=fields.pop("environment", stage_id.removeprefix("deploy-")),
        **fields,
    )


def intent(*stages: PipelineStage) -> ReleaseIntent:
    return ReleaseIntent("i-1", "a-1", "checkout", created_at=T0, stages=stages)


def test_a_stage_waiting_for_an_earlier_one_is_not_held_for_votes():
    running = intent(
        stage("deploy-staging", StageStatus.ACTIVE),
        stage("deploy-production", StageStatus.PENDING, "deploy-staging"),
    )
    assert waiting_deploy_stages(running) == []


def test_a_ready_deploy_stage_is_a_candidate_and_waits_since_its_last_dependency():
    ready = intent(
        stage("deploy-staging", StageStatus.SUCCEEDED, completed_at=T1),
        stage("wait-soak", StageStatus.SUCCEEDED, stage_type=StageType.WAIT, completed_at=T0),
        stage("deploy-production", StageStatus.PENDING, "deploy-staging", "wait-soak"),
    )
    [production] = waiting_deploy_stages(ready)
    assert production.stage_id == "deploy-production"
    assert ready_since(ready, production) == T1


def test_first_stages_wait_since_the_release_and_plans_or_waits_are_not_deploy_gates():
    first = intent(
        stage("deploy-production", StageStatus.PENDING),
        stage("plan-production", StageStatus.PENDING, stage_type=StageType.PLAN),
        stage("wait-an-hour", StageStatus.PENDING, stage_type=StageType.WAIT, environment=None),
    )
    [production] = waiting_deploy_stages(first)
    assert production.stage_id == "deploy-production"
    assert ready_since(first, production) == T0


async def test_one_replica_holds_the_lease_and_another_takes_it_once_it_runs_out(
    nats_server: NatsServer,
):
    nc = await nats.connect(nats_server.url)
    try:
        kv = await open_bucket(nc.jetstream(), f"watch_{uuid.uuid4().hex[:8]}", history=1)
        now = [1000.0]
        first = WatchLease(kv, "acme", "first", seconds=15, clock=lambda: now[0])
        second = WatchLease(kv, "acme", "second", seconds=15, clock=lambda: now[0])

        assert await first.hold(connected=True)
        assert not await second.hold(connected=False)
        assert second.other_is_connected()
        now[0] += 10
        assert await first.hold(connected=False)  # renewed, and says it lost forest
        assert not await second.hold(connected=False)
        assert not second.other_is_connected()

        now[0] += 16  # the first stopped renewing: it died
        assert await second.hold(connected=True)
        assert not await first.hold(connected=True)

        await second.give_up()  # a clean stop: the first takes over at once
        assert await first.hold(connected=True)
    finally:
        await nc.close()


async def test_the_cursor_only_moves_forward(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    try:
        kv = await open_bucket(nc.jetstream(), f"watch_{uuid.uuid4().hex[:8]}", history=1)
        cursor = Cursor(kv, "acme")
        assert await cursor.load() == 0
        await cursor.save(41)
        await cursor.save(40)  # a slower replica's late write
        assert await Cursor(kv, "acme").load() == 41
        assert await Cursor(kv, "globex").load() == 0
    finally:
        await nc.close()
