"""Where a plan stage stands, read from forest's view of its intent."""

from datetime import UTC, datetime

from bot.forest.releases import (
    PipelineStage,
    PlanApproval,
    ReleaseIntent,
    StageStatus,
    StageType,
)
from bot.plans.plan import Decided, StageEnd
from bot.plans.stage_state import stage_state

T0 = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
T1 = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


def intent(plan: PipelineStage, *deploys: PipelineStage) -> ReleaseIntent:
    return ReleaseIntent("intent-1", "artifact-1", "infra", stages=(plan, *deploys))


def plan(status: StageStatus, approval: PlanApproval | None, **more) -> PipelineStage:
    return PipelineStage(
        "plan-prod",
        StageType.PLAN,
        status,
        environment="production",
        approval_status=approval,
        **more,
    )


def deploy(status: StageStatus, **more) -> PipelineStage:
    return PipelineStage(
        "deploy-prod",
        StageType.DEPLOY,
        status,
        depends_on=("plan-prod",),
        environment="production",
        **more,
    )


def test_awaiting_approval_waits():
    state = stage_state(
        intent(plan(StageStatus.ACTIVE, PlanApproval.AWAITING_APPROVAL)), "plan-prod"
    )
    assert state is not None and state.waiting


def test_unknown_stage_is_none():
    assert stage_state(intent(plan(StageStatus.ACTIVE, None)), "other") is None


def test_approved_then_the_deploy_that_follows_ends_it():
    approved = plan(StageStatus.SUCCEEDED, PlanApproval.APPROVED, completed_at=T0)
    deploying = stage_state(intent(approved, deploy(StageStatus.ACTIVE)), "plan-prod")
    assert deploying is not None
    assert (deploying.decided, deploying.end, deploying.decided_at) == (
        Decided.APPROVED,
        StageEnd.DEPLOYING,
        T0,
    )
    done = stage_state(
        intent(approved, deploy(StageStatus.SUCCEEDED, completed_at=T1)), "plan-prod"
    )
    assert done is not None and (done.end, done.end_at) == (StageEnd.DEPLOYED, T1)
    failed = stage_state(intent(approved, deploy(StageStatus.FAILED)), "plan-prod")
    assert failed is not None and failed.end == StageEnd.DEPLOY_FAILED


def test_approved_with_nothing_after_it():
    state = stage_state(intent(plan(StageStatus.SUCCEEDED, PlanApproval.APPROVED)), "plan-prod")
    assert state is not None and state.end == StageEnd.APPROVED


def test_rejected_by_status_or_by_forest_message():
    for stage in (
        plan(StageStatus.FAILED, PlanApproval.REJECTED),
        plan(StageStatus.FAILED, None, error_message="plan rejected"),
    ):
        state = stage_state(intent(stage, deploy(StageStatus.CANCELLED)), "plan-prod")
        assert state is not None
        assert (state.decided, state.end) == (Decided.REJECTED, StageEnd.REJECTED)


def test_cancelled_or_failed_without_a_decision():
    cancelled = stage_state(intent(plan(StageStatus.CANCELLED, None)), "plan-prod")
    assert cancelled is not None and (cancelled.decided, cancelled.end) == (
        None,
        StageEnd.CANCELLED,
    )
    failed = stage_state(intent(plan(StageStatus.FAILED, None, error_message="boom")), "plan-prod")
    assert failed is not None and failed.end == StageEnd.FAILED
