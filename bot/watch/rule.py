"""Forest's rule for a deploy stage blocked on approval, on the intent as forest reports it.

Pure functions, no I/O: whether a policy lacks votes is read from forest by the caller.
"""

from __future__ import annotations

from datetime import datetime

from bot.approval import Outcome
from bot.forest.releases import PipelineStage, ReleaseIntent, StageStatus, StageType

_OUTCOMES = {
    StageStatus.SUCCEEDED: Outcome.SUCCEEDED,
    StageStatus.FAILED: Outcome.FAILED,
    StageStatus.CANCELLED: Outcome.CANCELLED,
}


def waiting_deploy_stages(intent: ReleaseIntent) -> list[PipelineStage]:
    """The deploy stages forest's coordinator would start now if no policy held them: PENDING,
    every stage they depend on SUCCEEDED. A stage still waiting for an earlier one is not
    held by a policy (yet)."""
    return [
        stage
        for stage in intent.ready_stages()
        if stage.stage_type == StageType.DEPLOY and stage.environment
    ]


def deploy_stage(intent: ReleaseIntent, environment: str) -> PipelineStage | None:
    """The intent's deploy stage for ``environment``, if it has one."""
    return next(
        (
            stage
            for stage in intent.stages
            if stage.stage_type == StageType.DEPLOY and stage.environment == environment
        ),
        None,
    )


def stage_outcome(stage: PipelineStage) -> Outcome | None:
    """How a finished stage ended; None while it has not."""
    return _OUTCOMES.get(stage.status)


def ready_since(intent: ReleaseIntent, stage: PipelineStage) -> datetime | None:
    """When the stage became ready: the last of its dependencies finished, or the intent was
    created (a first stage)."""
    finished = [
        dependency.completed_at
        for dependency in (intent.stage(d) for d in stage.depends_on)
        if dependency is not None and dependency.completed_at is not None
    ]
    return max(finished) if finished else intent.created_at
