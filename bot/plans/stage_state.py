"""Where a plan stage stands, read from forest's view of its release intent (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.forest.releases import PlanApproval, ReleaseIntent, StageStatus, StageType
from bot.plans.plan import Decided, StageEnd

_REJECTED_MESSAGE = "plan rejected"


@dataclass(frozen=True)
class StageState:
    """``decided`` None and ``end`` None: the plan still waits for a decision."""

    decided: Decided | None = None
    end: StageEnd | None = None
    decided_at: datetime | None = None
    end_at: datetime | None = None

    @property
    def waiting(self) -> bool:
        return self.decided is None and self.end is None


def stage_state(intent: ReleaseIntent, stage_id: str) -> StageState | None:
    """The plan stage's decision and end; None when the intent has no such stage."""
    stage = intent.stage(stage_id)
    if stage is None:
        return None
    if stage.awaiting_plan_approval:
        return StageState()
    at = stage.completed_at
    rejected = stage.approval_status == PlanApproval.REJECTED or (
        stage.status == StageStatus.FAILED
        and _REJECTED_MESSAGE in (stage.error_message or "").lower()
    )
    if rejected:
        return StageState(Decided.REJECTED, StageEnd.REJECTED, at, at)
    if stage.status == StageStatus.CANCELLED:
        return StageState(None, StageEnd.CANCELLED, None, at)
    if stage.status == StageStatus.FAILED:
        return StageState(None, StageEnd.FAILED, None, at)
    if stage.approval_status != PlanApproval.APPROVED and stage.status != StageStatus.SUCCEEDED:
        return StageState()  # still planning, or waiting: nothing decided yet
    # Approved: what follows is the deploy stages that depend on this plan.
    follows = [
        s for s in intent.stages if stage_id in s.depends_on and s.stage_type == StageType.DEPLOY
    ]
    if not follows:
        return StageState(Decided.APPROVED, StageEnd.APPROVED, at, at)
    statuses = {s.status for s in follows}
    ended = max((s.completed_at for s in follows if s.completed_at), default=None)
    if StageStatus.FAILED in statuses:
        return StageState(Decided.APPROVED, StageEnd.DEPLOY_FAILED, at, ended)
    if statuses == {StageStatus.SUCCEEDED}:
        return StageState(Decided.APPROVED, StageEnd.DEPLOYED, at, ended)
    if StageStatus.CANCELLED in statuses and not statuses & {
        StageStatus.PENDING,
        StageStatus.ACTIVE,
    }:
        return StageState(Decided.APPROVED, StageEnd.CANCELLED, at, ended)
    return StageState(Decided.APPROVED, StageEnd.DEPLOYING, at, None)
