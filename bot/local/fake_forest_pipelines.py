"""Release pipelines in the fake forest: stage definitions, their runs, and forest's coordinator.

The coordinator's pass follows forest's intent coordinator (one `evaluate` per intent):
1. an ACTIVE deploy stage whose releases all ended becomes SUCCEEDED (all succeeded) or FAILED;
   an ACTIVE wait stage whose time passed SUCCEEDED; an ACTIVE plan stage whose plans all ended
   FAILED, SUCCEEDED (auto approve, or approved), FAILED "plan rejected", or else stays ACTIVE
   with approval_status AWAITING_APPROVAL;
2. a PENDING stage behind a FAILED or CANCELLED one is CANCELLED "upstream stage failed";
3. a ready stage (PENDING, every depends_on SUCCEEDED) starts: a deploy stage only when no
   enabled approval policy of its environment lacks approved votes (else it stays PENDING and
   nothing is said), plan stages skip approval policies, and a stage whose environment has no
   destination FAILED;
4. the intent is SUCCEEDED or FAILED once no stage is PENDING or ACTIVE;
5. every stage that ended in this pass is a `pipeline/stage_changed` event, the end of the
   pipeline a `pipeline/completed` event.
This module is pure: the caller publishes on NATS what `Evaluation` says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

DEPLOY = "DEPLOY"
WAIT = "WAIT"
PLAN = "PLAN"
STAGE_TYPES = (DEPLOY, WAIT, PLAN)

PENDING = "PENDING"
ACTIVE = "ACTIVE"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
STAGE_ENDS = (SUCCEEDED, FAILED, CANCELLED)

AWAITING_APPROVAL = "AWAITING_APPROVAL"
APPROVED = "APPROVED"
REJECTED = "REJECTED"

# A release (one destination) as forest's runner reports it.
QUEUED = "QUEUED"
RUNNING = "RUNNING"
TIMED_OUT = "TIMED_OUT"
RELEASE_ENDS = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)

PLAN_REJECTED = "plan rejected"
UPSTREAM_FAILED = "upstream stage failed"


@dataclass(frozen=True)
class Stage:
    """One stage of a project's release pipeline, as defined (not as it runs)."""

    stage_id: str
    stage_type: str
    environment: str | None = None
    depends_on: tuple[str, ...] = ()
    duration_seconds: int | None = None
    auto_approve: bool | None = None


def deploy(
    environment: str, *, depends_on: tuple[str, ...] | list[str] = (), stage_id: str | None = None
) -> Stage:
    return Stage(stage_id or f"deploy-{environment}", DEPLOY, environment, tuple(depends_on))


def plan(
    environment: str,
    *,
    depends_on: tuple[str, ...] | list[str] = (),
    auto_approve: bool = False,
    stage_id: str | None = None,
) -> Stage:
    return Stage(
        stage_id or f"plan-{environment}",
        PLAN,
        environment,
        tuple(depends_on),
        auto_approve=auto_approve,
    )


def wait(
    seconds: int, *, depends_on: tuple[str, ...] | list[str] = (), stage_id: str | None = None
) -> Stage:
    return Stage(stage_id or f"wait-{seconds}s", WAIT, None, tuple(depends_on), seconds)


@dataclass
class StageRun:
    """A stage's state in one intent (forest's stage_states entry)."""

    status: str = PENDING
    queued_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error_message: str | None = None
    wait_until: float | None = None
    release_ids: list[str] = field(default_factory=list)
    approval_status: str | None = None


@dataclass
class Step:
    """One release to one destination (forest's release_states row); plan mode for plan stages."""

    release_id: str
    stage_id: str | None
    destination_id: str
    destination_name: str
    environment: str
    queued_at: float
    status: str = QUEUED
    mode: str = "deploy"
    assigned_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error_message: str | None = None
    plan_output: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in RELEASE_ENDS


@dataclass
class Destination:
    destination_id: str
    organisation: str
    name: str
    environment: str


@dataclass
class Pipeline:
    """The stages of a pipeline intent and how far each got."""

    stages: dict[str, Stage]
    runs: dict[str, StageRun]
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def of(cls, stages: list[Stage] | tuple[Stage, ...]) -> Pipeline:
        defined: dict[str, Stage] = {}
        for stage in stages:
            if stage.stage_type not in STAGE_TYPES:
                raise ValueError(f"stage type must be one of {STAGE_TYPES}: {stage}")
            if stage.stage_id in defined:
                raise ValueError(f"two stages are called {stage.stage_id!r}")
            if stage.stage_type in (DEPLOY, PLAN) and not stage.environment:
                raise ValueError(f"{stage.stage_id} needs an environment")
            defined[stage.stage_id] = stage
        for stage in defined.values():
            unknown = [d for d in stage.depends_on if d not in defined]
            if unknown:
                raise ValueError(f"{stage.stage_id} depends on unknown stages {unknown}")
        if not defined:
            raise ValueError("a pipeline needs at least one stage")
        return cls(defined, {stage_id: StageRun() for stage_id in defined})

    def steps_of(self, stage_id: str) -> list[Step]:
        return [s for s in self.steps if s.stage_id == stage_id]

    @property
    def complete(self) -> bool:
        return all(run.status in STAGE_ENDS for run in self.runs.values())


@dataclass(frozen=True)
class StageEnded:
    stage_id: str
    status: str


@dataclass
class Evaluation:
    """What one coordinator pass did, for the caller to record and publish."""

    changed: bool = False
    complete: bool = False
    intent_status: str = ACTIVE
    ended: list[StageEnded] = field(default_factory=list)
    new_release_ids: list[str] = field(default_factory=list)
    # soonest wait stage end, when the pass left one running
    next_timer: float | None = None


class Gate(Protocol):
    """What the coordinator asks the rest of forest about one intent."""

    def blocked(self, environment: str) -> bool:
        """Whether an enabled approval policy of the environment lacks approved votes."""
        ...

    def destinations(self, environment: str) -> list[Destination]: ...


def evaluate(pipeline: Pipeline, gate: Gate, now: float) -> Evaluation:
    """One pass of forest's coordinator over an ACTIVE pipeline intent."""
    result = Evaluation()
    _settle_active_stages(pipeline, now, result)
    _cancel_behind_failures(pipeline, now, result)
    for stage_id in ready_stages(pipeline):
        _start(pipeline, pipeline.stages[stage_id], gate, now, result)
    result.complete = pipeline.complete
    if result.complete:
        succeeded = all(run.status == SUCCEEDED for run in pipeline.runs.values())
        result.intent_status = SUCCEEDED if succeeded else FAILED
    for stage_id, run in pipeline.runs.items():
        if run.completed_at == now and run.status in STAGE_ENDS:
            result.ended.append(StageEnded(stage_id, run.status))
    return result


def ready_stages(pipeline: Pipeline) -> list[str]:
    return [
        stage_id
        for stage_id, stage in pipeline.stages.items()
        if pipeline.runs[stage_id].status == PENDING
        and all(pipeline.runs[d].status == SUCCEEDED for d in stage.depends_on)
    ]


def _settle_active_stages(pipeline: Pipeline, now: float, result: Evaluation) -> None:
    for stage_id, run in pipeline.runs.items():
        if run.status != ACTIVE:
            continue
        stage = pipeline.stages[stage_id]
        if stage.stage_type == WAIT:
            if run.wait_until is not None and run.wait_until <= now:
                _end(run, SUCCEEDED, now)
                result.changed = True
            elif run.wait_until is not None:
                result.next_timer = min(result.next_timer or run.wait_until, run.wait_until)
            continue
        steps = pipeline.steps_of(stage_id)
        if not steps or not all(step.ended for step in steps):
            continue
        failed = [s for s in steps if s.status != SUCCEEDED]
        if failed:
            errors = [s.error_message for s in failed if s.error_message]
            _end(run, FAILED, now, "; ".join(errors) or None)
            result.changed = True
        elif stage.stage_type == DEPLOY:
            _end(run, SUCCEEDED, now)
            result.changed = True
        elif stage.auto_approve:
            run.approval_status = APPROVED
            _end(run, SUCCEEDED, now)
            result.changed = True
        elif run.approval_status == APPROVED:
            _end(run, SUCCEEDED, now)
            result.changed = True
        elif run.approval_status == REJECTED:
            _end(run, FAILED, now, PLAN_REJECTED)
            result.changed = True
        elif run.approval_status is None:
            run.approval_status = AWAITING_APPROVAL
            result.changed = True


def _cancel_behind_failures(pipeline: Pipeline, now: float, result: Evaluation) -> None:
    while True:
        cancelled = False
        for stage_id, stage in pipeline.stages.items():
            run = pipeline.runs[stage_id]
            if run.status != PENDING:
                continue
            if any(pipeline.runs[d].status in (FAILED, CANCELLED) for d in stage.depends_on):
                pipeline.runs[stage_id] = StageRun(
                    CANCELLED, completed_at=now, error_message=UPSTREAM_FAILED
                )
                cancelled = True
                result.changed = True
        if not cancelled:
            return


def _start(pipeline: Pipeline, stage: Stage, gate: Gate, now: float, result: Evaluation) -> None:
    if stage.stage_type == WAIT:
        seconds = stage.duration_seconds or 0
        pipeline.runs[stage.stage_id] = StageRun(
            ACTIVE, queued_at=now, started_at=now, wait_until=now + seconds
        )
        result.next_timer = min(result.next_timer or now + seconds, now + seconds)
        result.changed = True
        return
    environment = stage.environment or ""
    # Plan stages skip approval policies: the plan is a dry run people review before deciding.
    if stage.stage_type == DEPLOY and gate.blocked(environment):
        return
    destinations = gate.destinations(environment)
    if not destinations:
        pipeline.runs[stage.stage_id] = StageRun(
            FAILED,
            completed_at=now,
            error_message=f"no destinations configured for environment '{environment}'",
        )
        result.changed = True
        return
    release_ids = []
    for destination in destinations:
        step = Step(
            release_id=str(uuid.uuid4()),
            stage_id=stage.stage_id,
            destination_id=destination.destination_id,
            destination_name=destination.name,
            environment=destination.environment,
            queued_at=now,
            mode="plan" if stage.stage_type == PLAN else "deploy",
        )
        pipeline.steps.append(step)
        release_ids.append(step.release_id)
    pipeline.runs[stage.stage_id] = StageRun(
        ACTIVE, queued_at=now, started_at=now, release_ids=release_ids
    )
    result.new_release_ids.extend(release_ids)
    result.changed = True


def _end(run: StageRun, status: str, now: float, error: str | None = None) -> None:
    run.status = status
    run.completed_at = now
    if error is not None:
        run.error_message = error
