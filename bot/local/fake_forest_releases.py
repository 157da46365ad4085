"""The fake forest's release side: artifacts, destinations, pipeline intents, and forest's rules
for reading them and for deciding plan stages.

Errors, their codes and their order follow forest's ReleaseService. Every change that forest
records in its org event log is recorded here too (`EventLog`); publishing on NATS is the
caller's job (bot/local/fake_forest.py), because this module has no I/O.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc

from bot.local.fake_forest_events import EventLog
from bot.local.fake_forest_pipelines import (
    ACTIVE,
    APPROVED,
    AWAITING_APPROVAL,
    PENDING,
    PLAN,
    REJECTED,
    RELEASE_ENDS,
    RUNNING,
    Destination,
    Evaluation,
    Pipeline,
    Stage,
    Step,
    evaluate,
)
from bot.local.fake_forest_records import (
    APPROVED as VOTE_APPROVED,
)
from bot.local.fake_forest_records import (
    Actor,
    Artifact,
    ForestError,
    ReleaseIntent,
)
from bot.local.fake_forest_world import ForestWorld, ProjectRef

# GetReleaseIntentStates answers with the newest 50.
INTENT_STATES_LIMIT = 50

_SLUG_WORDS = (
    ("evidently", "briskly", "calmly", "quietly", "boldly", "gently", "swiftly", "neatly"),
    ("assisting", "sorting", "mending", "tuning", "planting", "charting", "weaving", "guarding"),
    ("ladybeetle", "heron", "otter", "lynx", "badger", "falcon", "marten", "wren"),
)


@dataclass(frozen=True)
class PlanReading:
    status: str
    steps: tuple[Step, ...]


class Releases:
    def __init__(self, world: ForestWorld, events: EventLog, clock: Callable[[], float]) -> None:
        self._world = world
        self._events = events
        self._clock = clock
        self.destinations: list[Destination] = []
        self.artifacts: dict[str, Artifact] = {}

    # seeding

    def add_destination(
        self, organisation: str, environment: str, name: str | None = None
    ) -> Destination:
        self._world.organisation(organisation)
        name = name or f"{environment}-1"
        for existing in self.destinations_of(organisation, environment):
            if existing.name == name:
                return existing
        destination = Destination(
            str(uuid.uuid4()), organisation, name, environment
        )
        self.destinations.append(destination)
        self._events.record(
            organisation,
            "",
            "destination",
            "created",
            destination.destination_id,
            {"environment": environment},
        )
        return destination

    def add_artifact(
        self,
        organisation: str,
        project: str,
        *,
        title: str,
        slug: str | None = None,
        artifact_id: str | None = None,
        **fields: object,
    ) -> Artifact:
        """An annotated artifact; ``fields`` are Artifact's optional fields (description, web,
        pr, source_user, commit_sha, branch, ...)."""
        self._world.project(organisation, project)
        artifact = Artifact(
            annotation_id=str(uuid.uuid4()),
            artifact_id=artifact_id or str(uuid.uuid4()),
            slug=slug or self._new_slug(),
            organisation=organisation,
            project=project,
            title=title,
            created_at=self._clock(),
            **fields,  # type: ignore[arg-type]
        )
        if any(a.slug == artifact.slug for a in self.artifacts.values()):
            raise ValueError(f"an artifact is already called {artifact.slug!r}")
        self.artifacts[artifact.artifact_id] = artifact
        self._events.record(
            organisation, project, "artifact", "created", artifact.artifact_id,
            {"slug": artifact.slug},
        )  # fmt: skip
        return artifact

    def create_pipeline_intent(
        self,
        organisation: str,
        project: str,
        stages: Sequence[Stage],
        *,
        artifact_id: str,
        author: str | None,
        intent_id: str | None = None,
    ) -> ReleaseIntent:
        """Forest's Release with its project's pipeline: all stages PENDING, the coordinator
        starts them. Like forest, one ACTIVE pipeline intent per artifact: a second release of
        the same artifact returns the first intent."""
        self._world.project(organisation, project)
        artifact = self.artifacts.get(artifact_id)
        if artifact is None or (artifact.organisation, artifact.project) != (organisation, project):
            raise KeyError(f"no artifact {artifact_id} in {organisation}/{project}; add_artifact")
        for existing in self._world.intents.values():
            same = existing.artifact_id == artifact_id and existing.pipeline is not None
            if same and existing.status == ACTIVE:
                return existing
        pipeline = Pipeline.of(list(stages))
        canonical = self._world.add_release_intent(organisation, project, author, intent_id)
        intent = self._world.intents[canonical]
        intent.artifact_id = artifact_id
        intent.pipeline = pipeline
        # Forest names the destinations released to; a pipeline release has none yet.
        self._events.record(
            organisation, project, "release", "created", canonical, {"destinations": ""}
        )
        return intent

    # forest's coordinator

    def evaluate(self, intent_id: str) -> Evaluation | None:
        """One coordinator pass; None when the intent is not an ACTIVE pipeline intent."""
        intent = self._world.intents.get(intent_id)
        if intent is None or intent.pipeline is None or intent.status != ACTIVE:
            return None
        result = evaluate(intent.pipeline, _Gate(self, intent), self._clock())
        intent.status = result.intent_status
        for ended in result.ended:
            self._events.record(
                intent.organisation,
                intent.project,
                "pipeline",
                "stage_changed",
                intent.intent_id,
                {
                    "intent_id": intent.intent_id,
                    "stage_id": ended.stage_id,
                    "stage_status": ended.status,
                },
            )
        if result.complete:
            self._events.record(
                intent.organisation,
                intent.project,
                "pipeline",
                "completed",
                intent.intent_id,
                {"intent_id": intent.intent_id, "pipeline_status": result.intent_status},
            )
        return result

    def active_pipeline_intents(self) -> list[str]:
        return [
            i.intent_id
            for i in self._world.intents.values()
            if i.pipeline is not None and i.status == ACTIVE
        ]

    # forest's runner

    def run_stage(self, intent_id: str, stage_id: str) -> list[Step]:
        """The runner picked the stage's releases up: QUEUED becomes RUNNING."""
        steps = [s for s in self._active_steps(intent_id, stage_id) if not s.ended]
        now = self._clock()
        for step in steps:
            step.status = RUNNING
            step.assigned_at = step.assigned_at or now
            step.started_at = step.started_at or now
        return steps

    def finish_stage(
        self,
        intent_id: str,
        stage_id: str,
        status: str,
        error_message: str | None = None,
        plan_output: str | Mapping[str, str] | None = None,
    ) -> list[Step]:
        """The runner finished every open release of an ACTIVE deploy or plan stage."""
        if status not in RELEASE_ENDS:
            raise ValueError(f"a release ends as one of {RELEASE_ENDS}, not {status!r}")
        steps = [s for s in self._active_steps(intent_id, stage_id) if not s.ended]
        if not steps:
            raise ValueError(f"{stage_id} of {intent_id} has no open releases to finish")
        now = self._clock()
        for step in steps:
            step.status = status
            step.assigned_at = step.assigned_at or now
            step.started_at = step.started_at or now
            step.completed_at = now
            if status != "SUCCEEDED":
                step.error_message = error_message or f"release {status.lower()}"
            if plan_output is not None and step.mode == "plan":
                step.plan_output = _output_for(plan_output, step.destination_name)
        return steps

    def set_plan_output(
        self, intent_id: str, stage_id: str, text: str, destination: str | None = None
    ) -> None:
        """Seed what a plan stage's plan printed, for one destination or all of them."""
        steps = self._pipeline(intent_id).steps_of(stage_id)
        if not steps:
            raise ValueError(f"{stage_id} of {intent_id} has not started; no plan runs yet")
        for step in steps:
            if destination is None or step.destination_name == destination:
                step.plan_output = text

    # the ReleaseService rpcs

    def intent_states(
        self, actor: Actor, organisation: str, project: str | None, include_completed: bool
    ) -> list[ReleaseIntent]:
        self._world.authorize(actor, organisation)
        if project is not None and (organisation, project) not in self._world.projects:
            raise ForestError(grpc.StatusCode.INTERNAL, "resolve project")
        found = [
            i
            for i in self._world.intents.values()
            if i.organisation == organisation
            and (project is None or i.project == project)
            and (include_completed or _active(i))
        ]
        found.sort(key=lambda i: i.created_at, reverse=True)
        return found[:INTENT_STATES_LIMIT]

    def artifact_by_slug(self, actor: Actor, slug: str) -> Artifact:
        artifact = next((a for a in self.artifacts.values() if a.slug == slug), None)
        if artifact is None:
            raise ForestError(grpc.StatusCode.INTERNAL, "get release annotation by slug")
        self._world.authorize(actor, artifact.organisation)
        return artifact

    def artifacts_of_project(self, actor: Actor, project: ProjectRef) -> list[Artifact]:
        if project is None:
            raise ForestError(grpc.StatusCode.INTERNAL, "project is required")
        organisation, name = project
        self._world.authorize(actor, organisation)
        found = [
            a
            for a in self.artifacts.values()
            if (a.organisation, a.project) == (organisation, name)
        ]
        return sorted(found, key=lambda a: a.created_at, reverse=True)

    def decide_plan(
        self, actor: Actor, release_intent_id: str, stage_id: str, approve: bool
    ) -> ReleaseIntent:
        """Forest's ApprovePlanStage / RejectPlanStage: one decision ends the wait."""
        intent = self._member_intent(actor, release_intent_id)
        if intent.status != ACTIVE:
            raise ForestError(grpc.StatusCode.FAILED_PRECONDITION, "intent is not active")
        pipeline = _pipeline_of(intent)
        stage = pipeline.stages.get(stage_id)
        if stage is None:
            raise ForestError(grpc.StatusCode.NOT_FOUND, f"stage '{stage_id}' not found")
        if stage.stage_type != PLAN:
            raise ForestError(grpc.StatusCode.FAILED_PRECONDITION, "stage is not a plan stage")
        run = pipeline.runs[stage_id]
        if run.approval_status != AWAITING_APPROVAL:
            raise ForestError(grpc.StatusCode.FAILED_PRECONDITION, "stage is not awaiting approval")
        run.approval_status = APPROVED if approve else REJECTED
        return intent

    def plan_output(self, actor: Actor, release_intent_id: str, stage_id: str) -> PlanReading:
        intent = self._member_intent(actor, release_intent_id)
        pipeline = _pipeline_of(intent)
        stage = pipeline.stages.get(stage_id)
        if stage is None:
            raise ForestError(grpc.StatusCode.NOT_FOUND, f"stage '{stage_id}' not found")
        if stage.stage_type != PLAN:
            raise ForestError(grpc.StatusCode.FAILED_PRECONDITION, "stage is not a plan stage")
        run = pipeline.runs[stage_id]
        status = run.approval_status or run.status
        steps = tuple(s for s in pipeline.steps_of(stage_id) if s.mode == "plan")
        return PlanReading(status, steps)

    # helpers

    def intent(self, intent_id: str) -> ReleaseIntent:
        return self._world.intent(intent_id)

    def _pipeline(self, intent_id: str) -> Pipeline:
        intent = self._world.intent(intent_id)
        if intent.pipeline is None:
            raise ValueError(f"{intent_id} is not a pipeline release")
        return intent.pipeline

    def _active_steps(self, intent_id: str, stage_id: str) -> list[Step]:
        pipeline = self._pipeline(intent_id)
        if stage_id not in pipeline.runs:
            raise KeyError(f"no stage {stage_id!r}; stages: {sorted(pipeline.runs)}")
        run = pipeline.runs[stage_id]
        if run.status != ACTIVE:
            raise ValueError(f"{stage_id} is {run.status}, not ACTIVE: the runner has nothing")
        return pipeline.steps_of(stage_id)

    def _member_intent(self, actor: Actor, raw_id: str) -> ReleaseIntent:
        try:
            intent_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise ForestError(grpc.StatusCode.INTERNAL, "invalid release_intent_id") from None
        intent = self._world.intents.get(intent_id)
        if intent is None:
            raise ForestError(grpc.StatusCode.NOT_FOUND, "release intent not found")
        self._world.authorize(actor, intent.organisation)
        return intent

    def destinations_of(self, organisation: str, environment: str) -> list[Destination]:
        return [
            d
            for d in self.destinations
            if d.organisation == organisation and d.environment == environment
        ]

    def lacks_approvals(self, intent: ReleaseIntent, environment: str) -> bool:
        """Forest's check_approval_policies: an enabled approval policy of the project for the
        environment with fewer approved decisions than it requires."""
        for policy in self._world.policies:
            if (
                policy.enabled
                and (policy.organisation, policy.project) == (intent.organisation, intent.project)
                and policy.target_environment == environment
            ):
                decisions = self._world.decisions.get((intent.intent_id, environment), [])
                approved = sum(1 for d in decisions if d.decision == VOTE_APPROVED)
                if approved < policy.required_approvals:
                    return True
        return False

    def _new_slug(self) -> str:
        taken = {a.slug for a in self.artifacts.values()}
        while True:
            slug = "-".join(secrets.choice(words) for words in _SLUG_WORDS)
            if slug not in taken:
                return slug


class _Gate:
    def __init__(self, releases: Releases, intent: ReleaseIntent) -> None:
        self._releases = releases
        self._intent = intent

    def blocked(self, environment: str) -> bool:
        return self._releases.lacks_approvals(self._intent, environment)

    def destinations(self, environment: str) -> list[Destination]:
        return self._releases.destinations_of(self._intent.organisation, environment)


def _active(intent: ReleaseIntent) -> bool:
    """Forest lists an intent as active while a release of it runs or a stage is not done."""
    pipeline = intent.pipeline
    if pipeline is None:
        return False
    if any(not step.ended for step in pipeline.steps):
        return True
    return any(run.status in (PENDING, ACTIVE) for run in pipeline.runs.values())


def _pipeline_of(intent: ReleaseIntent) -> Pipeline:
    if intent.pipeline is None:
        raise ForestError(grpc.StatusCode.INTERNAL, "intent has no pipeline stages")
    return intent.pipeline


def _output_for(plan_output: str | Mapping[str, str], destination: str) -> str:
    if isinstance(plan_output, str):
        return plan_output
    return plan_output.get(destination, "")
