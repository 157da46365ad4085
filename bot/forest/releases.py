"""Forest's release intents, their pipeline stages, artifacts and plan outputs, as plain data.

The forest client builds these from forest's ReleaseService replies, so nothing outside
bot/forest sees generated protobuf types. Times are parsed from forest's RFC 3339 strings;
a time forest left out (or wrote unreadably) is None.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.forest.client import ProjectRef


class StageType(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    DEPLOY = "deploy"
    WAIT = "wait"
    PLAN = "plan"


class StageStatus(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # In forest's enum, but its server never sends it: a plan stage waiting for a decision is
    # ACTIVE with ``approval_status`` AWAITING_APPROVAL.
    AWAITING_APPROVAL = "awaiting_approval"


class PlanApproval(enum.StrEnum):
    """A plan stage's decision state (``PipelineStageState.approval_status``)."""

    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"

    @classmethod
    def parse(cls, raw: str | None) -> PlanApproval | None:
        """Forest's server writes these with its enum's debug name upper-cased
        (``AWAITINGAPPROVAL``); its proto comment says ``AWAITING_APPROVAL``. Both are read."""
        if not raw:
            return None
        plain = raw.strip().upper().replace("_", "")
        return next((member for member in cls if member.value.replace("_", "") == plain), None)


@dataclass(frozen=True)
class PipelineStage:
    stage_id: str
    stage_type: StageType
    status: StageStatus
    depends_on: tuple[str, ...] = ()
    environment: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str | None = None
    duration_seconds: int | None = None
    wait_until: datetime | None = None
    release_ids: tuple[str, ...] = ()
    approval_status: PlanApproval | None = None
    auto_approve: bool | None = None

    @property
    def awaiting_plan_approval(self) -> bool:
        """A plan stage whose plan ran and now waits for a person's approve or reject."""
        return (
            self.stage_type == StageType.PLAN
            and self.status == StageStatus.ACTIVE
            and self.approval_status == PlanApproval.AWAITING_APPROVAL
        )


@dataclass(frozen=True)
class ReleaseStep:
    """One release to one destination (a row of forest's release_states)."""

    release_id: str
    destination_name: str
    environment: str
    # forest's release status: QUEUED, ASSIGNED, RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT
    status: str
    stage_id: str | None = None
    queued_at: datetime | None = None
    assigned_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ReleaseIntent:
    """A release intent with its pipeline (``stages`` is empty for a non-pipeline release)."""

    release_intent_id: str
    artifact_id: str
    project: str
    created_at: datetime | None = None
    stages: tuple[PipelineStage, ...] = ()
    steps: tuple[ReleaseStep, ...] = ()

    def stage(self, stage_id: str) -> PipelineStage | None:
        return next((s for s in self.stages if s.stage_id == stage_id), None)

    def ready_stages(self) -> list[PipelineStage]:
        """Forest's coordinator's "ready": PENDING, and every stage it depends on SUCCEEDED."""
        status = {s.stage_id: s.status for s in self.stages}
        return [
            s
            for s in self.stages
            if s.status == StageStatus.PENDING
            and all(status.get(d) == StageStatus.SUCCEEDED for d in s.depends_on)
        ]


@dataclass(frozen=True)
class ArtifactSource:
    """Who annotated the artifact: often a CI app, not the person who released."""

    user: str | None = None
    email: str | None = None
    source_type: str | None = None
    run_url: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class ArtifactRef:
    commit_sha: str = ""
    branch: str | None = None
    commit_message: str | None = None
    version: str | None = None
    repo_url: str | None = None


@dataclass(frozen=True)
class Artifact:
    # the annotation's id
    id: str
    # what ReleaseIntent.artifact_id names
    artifact_id: str
    slug: str
    title: str = ""
    description: str | None = None
    # forage's page for the release, and the pull request
    web: str | None = None
    pr: str | None = None
    source: ArtifactSource = field(default_factory=ArtifactSource)
    ref: ArtifactRef = field(default_factory=ArtifactRef)
    project: ProjectRef | None = None
    created_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class PlanDestinationOutput:
    destination_id: str
    destination_name: str
    plan_output: str
    # the plan run's release status: SUCCEEDED, FAILED, RUNNING, ...
    status: str


@dataclass(frozen=True)
class PlanOutput:
    # RUNNING / AWAITING_APPROVAL / APPROVED / REJECTED, or the stage's status when no decision
    status: str
    outputs: tuple[PlanDestinationOutput, ...] = ()
    # forest's deprecated single text: the first destination's non-empty output
    plan_output: str = ""
