"""The fake forest runs pipeline releases as forest's intent coordinator does, read over a real
socket with the bot's own forest client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
import pytest_asyncio
from fake_forest_support import (
    INFRA,
    ORG,
    PROJECT,
    STAGING_THEN_PRODUCTION,
    Forest,
    running_forest,
    seeded,
)
from tests_support import wait_until

from bot.approval import ApprovalKey
from bot.forest.client import ProjectRef
from bot.forest.errors import ForestPermissionDenied, ForestRejectedRequest
from bot.forest.releases import ReleaseIntent, StageStatus, StageType
from bot.local.fake_forest import deploy, wait
from bot.local.nats_server import run_nats_server


@pytest_asyncio.fixture
async def forest() -> AsyncIterator[Forest]:
    async with running_forest() as running:
        yield running


async def read(forest: Forest, intent_id: str, **options: bool) -> ReleaseIntent:
    intents = await forest.client.release_intents(ORG, **options)
    return next(i for i in intents if i.release_intent_id == intent_id)


def statuses(intent: ReleaseIntent) -> dict[str, StageStatus]:
    return {stage.stage_id: stage.status for stage in intent.stages}


async def vote(forest: Forest, intent_id: str, *usernames: str) -> None:
    key = ApprovalKey(intent_id, "production")
    for username in usernames:
        await forest.client.approve(forest.token(username), ProjectRef(ORG, PROJECT), key, None)


async def test_production_waits_for_staging_then_for_its_approvals_then_deploys(
    forest: Forest,
) -> None:
    intent_id = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION, author="alice")

    running = await read(forest, intent_id)
    assert statuses(running) == {
        "deploy-staging": StageStatus.ACTIVE,
        "deploy-production": StageStatus.PENDING,
    }
    staging = running.stage("deploy-staging")
    assert staging is not None and staging.stage_type == StageType.DEPLOY
    assert staging.environment == "staging" and staging.started_at is not None
    assert [(s.destination_name, s.status) for s in running.steps] == [("staging-eu-1", "QUEUED")]
    assert running.ready_stages() == []

    await forest.fake.finish_stage(intent_id, "deploy-staging")
    blocked = await read(forest, intent_id)
    assert statuses(blocked)["deploy-staging"] == StageStatus.SUCCEEDED
    assert [s.stage_id for s in blocked.ready_stages()] == ["deploy-production"]
    production = blocked.stage("deploy-production")
    assert production is not None and production.depends_on == ("deploy-staging",)

    await vote(forest, intent_id, "bob")
    assert statuses(await read(forest, intent_id))["deploy-production"] == StageStatus.PENDING
    await vote(forest, intent_id, "carol")
    deploying = await read(forest, intent_id)
    assert statuses(deploying)["deploy-production"] == StageStatus.ACTIVE
    assert sorted(s.destination_name for s in deploying.steps if s.environment == "production") == [
        "production-eu-1",
        "production-us-1",
    ]

    await forest.fake.finish_stage(intent_id, "deploy-production")
    assert intent_id not in [i.release_intent_id for i in await forest.client.release_intents(ORG)]
    done = await read(forest, intent_id, include_completed=True)
    assert set(statuses(done).values()) == {StageStatus.SUCCEEDED}
    assert forest.fake.intent(intent_id).status == "SUCCEEDED"


async def test_a_first_stage_gated_by_a_policy_stays_pending_from_the_start(
    forest: Forest,
) -> None:
    intent_id = await forest.fake.release(ORG, PROJECT, [deploy("production")], author="alice")

    intent = await read(forest, intent_id)

    assert statuses(intent) == {"deploy-production": StageStatus.PENDING}
    assert [s.stage_id for s in intent.ready_stages()] == ["deploy-production"]
    assert intent.steps == ()


async def test_a_stage_without_a_policy_deploys_without_votes(forest: Forest) -> None:
    intent_id = await forest.fake.release(ORG, INFRA, [deploy("production")])

    assert forest.fake.stage_status(intent_id, "deploy-production") == "ACTIVE"


async def test_the_sweep_starts_a_stage_whose_policy_went_away(tmp_path: Path) -> None:
    async with running_forest(sweep_interval=0.1) as forest:
        intent_id = await forest.fake.release(ORG, PROJECT, [deploy("production")])
        policy = forest.fake.world.policies[0]

        policy.enabled = False  # changed behind the coordinator's back: only a sweep sees it

        await wait_until(
            lambda: forest.fake.stage_status(intent_id, "deploy-production") == "ACTIVE", 2.0
        )


async def test_a_failed_stage_cancels_what_depends_on_it_and_fails_the_intent(
    forest: Forest,
) -> None:
    intent_id = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)

    await forest.fake.finish_stage(
        intent_id, "deploy-staging", status="FAILED", error_message="helm upgrade timed out"
    )

    intent = await read(forest, intent_id, include_completed=True)
    staging, production = intent.stage("deploy-staging"), intent.stage("deploy-production")
    assert staging is not None and production is not None
    assert (staging.status, staging.error_message) == (
        StageStatus.FAILED,
        "helm upgrade timed out",
    )
    assert (production.status, production.error_message) == (
        StageStatus.CANCELLED,
        "upstream stage failed",
    )
    assert forest.fake.intent(intent_id).status == "FAILED"


async def test_an_environment_without_destinations_fails_its_stage(forest: Forest) -> None:
    intent_id = await forest.fake.release(ORG, INFRA, [deploy("qa")])

    intent = await read(forest, intent_id, include_completed=True)

    stage = intent.stage("deploy-qa")
    assert stage is not None and stage.status == StageStatus.FAILED
    assert stage.error_message == "no destinations configured for environment 'qa'"


async def test_a_wait_stage_ends_on_time_and_the_next_stage_starts(forest: Forest) -> None:
    intent_id = await forest.fake.release(
        ORG, INFRA, [wait(1), deploy("production", depends_on=["wait-1s"])]
    )
    waiting = await read(forest, intent_id)
    stage = waiting.stage("wait-1s")
    assert stage is not None and stage.stage_type == StageType.WAIT
    assert (stage.status, stage.duration_seconds) == (StageStatus.ACTIVE, 1)
    assert stage.wait_until is not None

    await wait_until(
        lambda: forest.fake.stage_status(intent_id, "deploy-production") == "ACTIVE", 3.0
    )


async def test_only_active_intents_are_listed_unless_completed_ones_are_asked_for(
    forest: Forest,
) -> None:
    old_style = forest.fake.add_release_intent(ORG, PROJECT, author="alice")
    done = await forest.fake.release(ORG, INFRA, [deploy("staging")])
    await forest.fake.finish_stage(done, "deploy-staging")
    active = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)

    listed = [i.release_intent_id for i in await forest.client.release_intents(ORG)]
    everything = [
        i.release_intent_id
        for i in await forest.client.release_intents(ORG, include_completed=True)
    ]
    one_project = await forest.client.release_intents(ORG, project=INFRA, include_completed=True)

    assert listed == [active]
    assert everything == [active, done, old_style]  # newest first
    assert [i.release_intent_id for i in one_project] == [done]


async def test_reading_intents_needs_access_to_the_organisation(forest: Forest) -> None:
    with pytest.raises(ForestPermissionDenied):
        await forest.client.release_intents("globex")
    with pytest.raises(ForestRejectedRequest):
        await forest.client.release_intents(ORG, project="no-such-project")


async def test_releasing_an_artifact_twice_gives_its_active_intent(forest: Forest) -> None:
    artifact = forest.fake.add_artifact(ORG, PROJECT, title="fix: retry captures (#812)")

    first = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION, artifact=artifact)
    second = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION, artifact=artifact)

    assert first == second
    assert (await read(forest, first)).artifact_id == artifact.artifact_id


async def test_a_release_seeded_before_start_has_already_run_its_passes() -> None:
    fake = seeded()

    intent_id = fake.add_pipeline_release(ORG, PROJECT, STAGING_THEN_PRODUCTION, author="alice")

    assert fake.stage_status(intent_id, "deploy-staging") == "ACTIVE"
    assert [e.action for e in fake.events.events(ORG) if e.resource_type == "release"] == [
        "created"
    ]
    assert fake.published == []


async def test_forest_publishes_its_core_subjects_on_a_nats_without_jetstream(
    tmp_path: Path,
) -> None:
    async with run_nats_server(tmp_path / "forest-nats", jetstream=False) as server:
        listener = await nats.connect(server.url)
        try:
            with pytest.raises(nats.js.errors.ServiceUnavailableError):
                await listener.jetstream().account_info()
            heard: list[tuple[str, bytes]] = []

            async def keep(message: nats.aio.msg.Msg) -> None:
                heard.append((message.subject, message.data))

            for subject in ("forest.intent.evaluate", "forest.release.status.*", "forest.events.*"):
                await listener.subscribe(subject, cb=keep)
            await listener.flush()
            async with running_forest(nats_url=server.url) as forest:
                intent_id = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)
                await forest.fake.finish_stage(intent_id, "deploy-staging")
                await vote(forest, intent_id, "bob", "carol")
                assert forest.fake.stage_status(intent_id, "deploy-production") == "ACTIVE"
                sent = [p for p in forest.fake.published if p[0] != "forest.release.queued"]
                await wait_until(lambda: len(heard) >= len(sent), 3.0)
                assert heard == sent  # everything forest published, in order
        finally:
            await listener.close()

    subjects = {subject for subject, _ in heard}
    assert {
        "forest.intent.evaluate",
        f"forest.release.status.{intent_id}",
        f"forest.events.{ORG}",
    } <= subjects
    evaluated = [p.decode() for s, p in heard if s == "forest.intent.evaluate"]
    assert evaluated.count(intent_id) >= 3  # the release, the runner, and each vote
    updates = [json.loads(p) for s, p in heard if s == f"forest.release.status.{intent_id}"]
    assert {"pipeline_update": True, "pipeline_complete": False, "intent_status": "ACTIVE"} in (
        updates
    )
    assert any(u.get("status") == "SUCCEEDED" and "release_id" in u for u in updates)
    assert all(p == b"" for s, p in heard if s == f"forest.events.{ORG}")
