"""Plan stages and artifacts in the fake forest, over a real socket with the bot's client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import nats
import pytest
import pytest_asyncio
from fake_forest_support import INFRA, ORG, PROJECT, Forest, running_forest
from tests_support import wait_until

from bot.forest.client import ProjectRef
from bot.forest.errors import (
    ForestError,
    ForestNotFound,
    ForestPermissionDenied,
    ForestRejectedRequest,
)
from bot.forest.releases import PlanApproval, ReleaseIntent, StageStatus, StageType
from bot.local.fake_forest import ForestError as Refusal
from bot.local.fake_forest import deploy, plan
from bot.local.nats_server import run_nats_server

PLAN_THEN_DEPLOY = (plan("production"), deploy("production", depends_on=["plan-production"]))
TERRAFORM = "Terraform will perform the following actions:\n  # aws_s3_bucket.logs will be created"


@pytest_asyncio.fixture
async def forest() -> AsyncIterator[Forest]:
    async with running_forest() as running:
        yield running


async def read(forest: Forest, intent_id: str) -> ReleaseIntent:
    intents = await forest.client.release_intents(ORG, include_completed=True)
    return next(i for i in intents if i.release_intent_id == intent_id)


async def planned(forest: Forest, **stage: bool) -> str:
    """An infra release whose production plan ran and waits for a decision."""
    stages = (plan("production", **stage), PLAN_THEN_DEPLOY[1])
    intent_id = await forest.fake.release(ORG, INFRA, stages, author="alice")
    await forest.fake.finish_stage(
        intent_id,
        "plan-production",
        plan_output={"production-eu-1": TERRAFORM, "production-us-1": "No changes."},
    )
    return intent_id


async def test_a_plan_runs_then_waits_for_approval_with_its_output_per_destination(
    forest: Forest,
) -> None:
    intent_id = await forest.fake.release(ORG, INFRA, PLAN_THEN_DEPLOY, author="alice")
    running = (await read(forest, intent_id)).stage("plan-production")
    assert running is not None and running.stage_type == StageType.PLAN
    assert (running.status, running.approval_status) == (StageStatus.ACTIVE, None)

    await forest.fake.finish_stage(
        intent_id,
        "plan-production",
        plan_output={"production-eu-1": TERRAFORM, "production-us-1": "No changes."},
    )

    waiting = (await read(forest, intent_id)).stage("plan-production")
    assert waiting is not None and waiting.awaiting_plan_approval
    assert waiting.approval_status == PlanApproval.AWAITING_APPROVAL
    assert waiting.auto_approve is False
    output = await forest.client.plan_output(intent_id, "plan-production")
    assert output.status == "AWAITING_APPROVAL"
    assert sorted((o.destination_name, o.plan_output, o.status) for o in output.outputs) == [
        ("production-eu-1", TERRAFORM, "SUCCEEDED"),
        ("production-us-1", "No changes.", "SUCCEEDED"),
    ]
    assert output.plan_output in (TERRAFORM, "No changes.")
    assert forest.fake.calls_to("GetPlanOutput")[-1].actor_kind == "app"


async def test_approving_a_plan_succeeds_the_stage_and_the_deploy_starts(forest: Forest) -> None:
    intent_id = await planned(forest)

    await forest.client.approve_plan_stage(forest.token("bob"), intent_id, "plan-production")

    intent = await read(forest, intent_id)
    stage = intent.stage("plan-production")
    assert stage is not None
    assert (stage.status, stage.approval_status) == (StageStatus.SUCCEEDED, PlanApproval.APPROVED)
    assert intent.stage("deploy-production").status == StageStatus.ACTIVE  # type: ignore[union-attr]
    assert (await forest.client.plan_output(intent_id, "plan-production")).status == "APPROVED"
    call = forest.fake.calls_to("ApprovePlanStage")[-1]
    assert (call.actor, call.actor_kind) == ("bob", "user")


async def test_the_author_may_approve_their_own_plan(forest: Forest) -> None:
    intent_id = await planned(forest)

    await forest.client.approve_plan_stage(forest.token("alice"), intent_id, "plan-production")

    assert forest.fake.stage_status(intent_id, "plan-production") == "SUCCEEDED"


async def test_rejecting_a_plan_fails_it_and_cancels_the_deploy(forest: Forest) -> None:
    intent_id = await planned(forest)

    await forest.client.reject_plan_stage(
        forest.token("carol"), intent_id, "plan-production", reason="drops the logs bucket"
    )

    intent = await read(forest, intent_id)
    stage, after = intent.stage("plan-production"), intent.stage("deploy-production")
    assert stage is not None and after is not None
    assert (stage.status, stage.error_message, stage.approval_status) == (
        StageStatus.FAILED,
        "plan rejected",
        PlanApproval.REJECTED,
    )
    assert after.status == StageStatus.CANCELLED
    assert forest.fake.calls_to("RejectPlanStage")[-1].request.reason == "drops the logs bucket"


async def test_an_auto_approved_plan_does_not_wait(forest: Forest) -> None:
    intent_id = await planned(forest, auto_approve=True)

    stage = (await read(forest, intent_id)).stage("plan-production")

    assert stage is not None and stage.auto_approve is True
    assert (stage.status, stage.approval_status) == (StageStatus.SUCCEEDED, PlanApproval.APPROVED)


async def test_a_plan_ignores_approval_policies_for_its_environment(forest: Forest) -> None:
    # payments-api's production needs two approvals; a plan there still runs at once
    intent_id = await forest.fake.release(ORG, PROJECT, [plan("production")])

    assert forest.fake.stage_status(intent_id, "plan-production") == "ACTIVE"


async def test_a_plan_decided_in_forage_follows_the_same_rules(forest: Forest) -> None:
    intent_id = await planned(forest)

    await forest.fake.decide_plan(intent_id, "plan-production", "bob", approve=True)
    with pytest.raises(Refusal) as second:
        await forest.fake.decide_plan(intent_id, "plan-production", "carol", approve=False)

    assert forest.fake.stage_status(intent_id, "plan-production") == "SUCCEEDED"
    assert second.value.code == grpc.StatusCode.FAILED_PRECONDITION


async def test_plan_decisions_are_refused_as_forest_refuses_them(forest: Forest) -> None:
    intent_id = await planned(forest)
    gated = await forest.fake.release(ORG, PROJECT, [deploy("production")])
    still_planning = await forest.fake.release(ORG, INFRA, [plan("staging")])
    bob = forest.token("bob")
    approve = forest.client.approve_plan_stage

    async def refusal(call: object) -> ForestError:
        with pytest.raises(ForestError) as caught:
            await call  # type: ignore[misc]
        return caught.value

    unknown = await refusal(approve(bob, "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10", "plan-production"))
    no_stage = await refusal(approve(bob, intent_id, "plan-nowhere"))
    deploy_stage = await refusal(approve(bob, gated, "deploy-production"))
    not_waiting = await refusal(approve(bob, still_planning, "plan-staging"))
    stranger = await refusal(approve(forest.token("mallory"), intent_id, "plan-production"))
    bad_id = await refusal(approve(bob, "not-a-uuid", "plan-production"))
    await approve(bob, intent_id, "plan-production")
    await forest.fake.finish_stage(intent_id, "deploy-production")
    finished = await refusal(approve(bob, intent_id, "plan-production"))

    assert isinstance(unknown, ForestNotFound) and unknown.details == "release intent not found"
    assert isinstance(no_stage, ForestNotFound)
    assert no_stage.details == "stage 'plan-nowhere' not found"
    assert (deploy_stage.code, deploy_stage.details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "stage is not a plan stage",
    )
    assert (not_waiting.code, not_waiting.details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "stage is not awaiting approval",
    )
    assert isinstance(stranger, ForestPermissionDenied)
    assert isinstance(bad_id, ForestRejectedRequest)
    assert (finished.code, finished.details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "intent is not active",
    )


# artifacts


async def test_artifacts_read_by_slug_and_by_project(forest: Forest) -> None:
    artifact = forest.fake.add_artifact(
        ORG,
        PROJECT,
        title="fix: retry card captures on timeout (#812)",
        slug="evidently-assisting-ladybeetle",
        description="Retries the capture call twice with jitter.",
        web="https://forage.test/orgs/acme/projects/payments-api/releases/evidently",
        pr="https://git.test/acme/payments-api/pull/812",
        source_user="ci-bot",
        source_type="github-actions",
        run_url="https://git.test/acme/payments-api/actions/runs/77",
        commit_sha="9f2c1e7",
        branch="main",
        commit_message="fix: retry card captures on timeout",
        metadata={"team": "payments"},
    )
    forest.fake.add_artifact(ORG, INFRA, title="elsewhere")

    by_slug = await forest.client.artifact_by_slug("evidently-assisting-ladybeetle")
    by_project = await forest.client.artifacts_of_project(ProjectRef(ORG, PROJECT))

    assert by_project == [by_slug]
    assert (by_slug.artifact_id, by_slug.title, by_slug.pr) == (
        artifact.artifact_id,
        "fix: retry card captures on timeout (#812)",
        "https://git.test/acme/payments-api/pull/812",
    )
    assert (by_slug.source.user, by_slug.source.source_type) == ("ci-bot", "github-actions")
    assert (by_slug.ref.commit_sha, by_slug.ref.branch) == ("9f2c1e7", "main")
    assert by_slug.ref.version is None and by_slug.source.email is None
    assert by_slug.project == ProjectRef(ORG, PROJECT)
    assert by_slug.metadata == {"team": "payments"}
    assert by_slug.created_at is not None


async def test_artifacts_of_another_organisation_or_unknown_are_refused(forest: Forest) -> None:
    forest.fake.add_artifact("globex", "rockets", title="liftoff", slug="boldly-charting-wren")

    with pytest.raises(ForestPermissionDenied):
        await forest.client.artifact_by_slug("boldly-charting-wren")
    with pytest.raises(ForestPermissionDenied):
        await forest.client.artifacts_of_project(ProjectRef("globex", "rockets"))
    with pytest.raises(ForestRejectedRequest):
        await forest.client.artifact_by_slug("no-such-slug")


async def test_a_plan_awaiting_approval_is_said_only_on_core_nats_not_in_the_event_log(
    tmp_path: Path,
) -> None:
    # As in forest's coordinator: org events are written for stages that ended, so a plan that
    # starts waiting for a decision shows only as a pipeline update of its intent.
    async with run_nats_server(tmp_path / "forest-nats", jetstream=False) as server:
        listener = await nats.connect(server.url)
        heard: list[bytes] = []

        async def keep(message: nats.aio.msg.Msg) -> None:
            heard.append(message.data)

        try:
            async with running_forest(nats_url=server.url) as forest:
                intent_id = await forest.fake.release(ORG, INFRA, PLAN_THEN_DEPLOY)
                await listener.subscribe(f"forest.release.status.{intent_id}", cb=keep)
                await listener.flush()
                logged = len(forest.fake.events.events(ORG))

                await forest.fake.finish_stage(intent_id, "plan-production", plan_output=TERRAFORM)

                assert forest.fake.events.events(ORG)[logged:] == []
                update = {"pipeline_update": True, "pipeline_complete": False}
                await wait_until(
                    lambda: any(
                        json.loads(data).items() >= {**update, "intent_status": "ACTIVE"}.items()
                        for data in heard
                    )
                )
        finally:
            await listener.close()
