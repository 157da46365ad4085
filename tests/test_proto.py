"""The committed generated code matches the .proto files, and keeps forest's names and numbers."""

import importlib.util
import sys
from pathlib import Path

from forest.v1 import events_pb2, organisations_pb2, policies_pb2, releases_pb2, users_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "proto"


def load_generator():
    spec = importlib.util.spec_from_file_location("proto_generate", PROTO_DIR / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["proto_generate"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_the_proto_files(tmp_path: Path):
    generator = load_generator()
    generator.generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    committed_dir = PROTO_DIR / "forest" / "v1"
    assert fresh, "nothing was generated"
    for relative in fresh:
        committed = PROTO_DIR / relative
        assert committed.exists(), f"{relative} is not committed; run python proto/generate.py"
        assert committed.read_bytes() == (tmp_path / relative).read_bytes(), (
            f"{relative} is stale; run python proto/generate.py"
        )
    generated = {p.name for p in committed_dir.iterdir() if "_pb2" in p.name}
    assert generated == {p.name for p in fresh}


def field_numbers(message) -> dict[str, int]:
    return {field.name: field.number for field in message.DESCRIPTOR.fields}


def test_forest_names_and_field_numbers_are_the_contracts():
    assert policies_pb2.DESCRIPTOR.package == "forest.v1"
    assert field_numbers(policies_pb2.ExternalApproveReleaseRequest) == {
        "project": 1,
        "release_intent_id": 2,
        "target_environment": 3,
        "comment": 4,
        "force_bypass": 5,
    }
    assert field_numbers(policies_pb2.ExternalApprovalDecisionEntry) == {
        "user_id": 1,
        "username": 2,
        "decision": 3,
        "decided_at": 4,
        "comment": 5,
    }
    assert field_numbers(policies_pb2.ExternalApprovalState) == {
        "required_approvals": 1,
        "current_approvals": 2,
        "decisions": 3,
    }
    assert field_numbers(users_pb2.PollDeviceLoginResponse) == {"status": 1, "user": 2, "tokens": 3}
    assert field_numbers(users_pb2.InitiateDeviceLoginResponse) == {
        "device_code": 1,
        "user_code": 2,
        "verification_uri": 3,
        "verification_uri_complete": 4,
        "expires_in_seconds": 5,
        "interval_seconds": 6,
    }
    assert users_pb2.DeviceLoginStatus.Value("DEVICE_LOGIN_STATUS_SLOW_DOWN") == 5
    assert field_numbers(organisations_pb2.ListMyOrganisationsResponse) == {
        "organisations": 1,
        "roles": 2,
    }
    services = {
        s.full_name
        for f in (policies_pb2, users_pb2, organisations_pb2, releases_pb2, events_pb2)
        for s in f.DESCRIPTOR.services_by_name.values()
    }
    assert services == {
        "forest.v1.PolicyService",
        "forest.v1.UsersService",
        "forest.v1.OrganisationService",
        "forest.v1.ReleaseService",
        "forest.v1.EventService",
    }


def methods(service) -> dict[str, tuple[str, str, bool]]:
    return {
        m.name: (m.input_type.name, m.output_type.name, m.server_streaming) for m in service.methods
    }


def test_release_and_event_services_are_the_contracts():
    assert releases_pb2.DESCRIPTOR.package == "forest.v1"
    assert events_pb2.DESCRIPTOR.package == "forest.v1"
    releases = releases_pb2.DESCRIPTOR.services_by_name["ReleaseService"]
    assert methods(releases) == {
        name: (f"{name}Request", f"{name}Response", False)
        for name in (
            "GetReleaseIntentStates",
            "GetArtifactBySlug",
            "GetArtifactsByProject",
            "ApprovePlanStage",
            "RejectPlanStage",
            "GetPlanOutput",
        )
    }
    events = events_pb2.DESCRIPTOR.services_by_name["EventService"]
    assert methods(events) == {"Subscribe": ("SubscribeEventsRequest", "OrgEvent", True)}

    assert field_numbers(releases_pb2.GetReleaseIntentStatesRequest) == {
        "organisation": 1,
        "project": 2,
        "include_completed": 3,
    }
    assert field_numbers(releases_pb2.GetReleaseIntentStatesResponse) == {"release_intents": 1}
    assert field_numbers(releases_pb2.ReleaseIntentState) == {
        "release_intent_id": 1,
        "artifact_id": 2,
        "project": 3,
        "created_at": 4,
        "stages": 5,
        "steps": 6,
    }
    assert field_numbers(releases_pb2.PipelineStageState) == {
        "stage_id": 1,
        "depends_on": 2,
        "stage_type": 3,
        "status": 4,
        "queued_at": 5,
        "started_at": 6,
        "completed_at": 7,
        "error_message": 8,
        "environment": 9,
        "duration_seconds": 10,
        "wait_until": 11,
        "release_ids": 12,
        "approval_status": 13,
        "auto_approve": 14,
    }
    assert field_numbers(releases_pb2.ReleaseStepState) == {
        "release_id": 1,
        "stage_id": 2,
        "destination_name": 3,
        "environment": 4,
        "status": 5,
        "queued_at": 6,
        "assigned_at": 7,
        "started_at": 8,
        "completed_at": 9,
        "error_message": 10,
    }
    assert field_numbers(releases_pb2.Artifact) == {
        "id": 1,
        "artifact_id": 2,
        "slug": 3,
        "metadata": 4,
        "source": 5,
        "context": 6,
        "project": 7,
        "created_at": 9,
        "ref": 10,
    }
    assert field_numbers(releases_pb2.Source) == {
        "user": 1,
        "email": 2,
        "source_type": 3,
        "run_url": 4,
        "user_id": 5,
    }
    assert field_numbers(releases_pb2.ArtifactContext) == {
        "title": 1,
        "description": 2,
        "web": 3,
        "pr": 4,
    }
    assert field_numbers(releases_pb2.Ref) == {
        "commit_sha": 1,
        "branch": 2,
        "commit_message": 3,
        "version": 4,
        "repo_url": 5,
    }
    assert field_numbers(releases_pb2.GetArtifactBySlugRequest) == {"slug": 1}
    assert field_numbers(releases_pb2.GetArtifactBySlugResponse) == {"artifact": 1}
    assert field_numbers(releases_pb2.GetArtifactsByProjectRequest) == {"project": 1}
    assert field_numbers(releases_pb2.GetArtifactsByProjectResponse) == {"artifact": 1}
    assert (
        releases_pb2.GetArtifactsByProjectRequest.DESCRIPTOR.fields_by_name[
            "project"
        ].message_type.full_name
        == "forest.v1.Project"
    )
    assert field_numbers(releases_pb2.ApprovePlanStageRequest) == {
        "release_intent_id": 1,
        "stage_id": 2,
    }
    assert field_numbers(releases_pb2.RejectPlanStageRequest) == {
        "release_intent_id": 1,
        "stage_id": 2,
        "reason": 3,
    }
    assert field_numbers(releases_pb2.GetPlanOutputRequest) == {
        "release_intent_id": 1,
        "stage_id": 2,
    }
    assert field_numbers(releases_pb2.GetPlanOutputResponse) == {
        "plan_output": 1,
        "status": 2,
        "outputs": 3,
    }
    assert field_numbers(releases_pb2.PlanDestinationOutput) == {
        "destination_id": 1,
        "destination_name": 2,
        "plan_output": 3,
        "status": 4,
    }
    stage_types = releases_pb2.PipelineRunStageType
    assert dict(stage_types.items()) == {
        "PIPELINE_RUN_STAGE_TYPE_UNSPECIFIED": 0,
        "PIPELINE_RUN_STAGE_TYPE_DEPLOY": 1,
        "PIPELINE_RUN_STAGE_TYPE_WAIT": 2,
        "PIPELINE_RUN_STAGE_TYPE_PLAN": 3,
    }
    statuses = releases_pb2.PipelineRunStageStatus
    assert dict(statuses.items()) == {
        "PIPELINE_RUN_STAGE_STATUS_UNSPECIFIED": 0,
        "PIPELINE_RUN_STAGE_STATUS_PENDING": 1,
        "PIPELINE_RUN_STAGE_STATUS_ACTIVE": 2,
        "PIPELINE_RUN_STAGE_STATUS_SUCCEEDED": 3,
        "PIPELINE_RUN_STAGE_STATUS_FAILED": 4,
        "PIPELINE_RUN_STAGE_STATUS_CANCELLED": 5,
        "PIPELINE_RUN_STAGE_STATUS_AWAITING_APPROVAL": 6,
    }
    assert field_numbers(events_pb2.SubscribeEventsRequest) == {
        "organisation": 1,
        "project": 2,
        "resource_types": 3,
        "actions": 4,
        "since_sequence": 5,
    }
    assert field_numbers(events_pb2.OrgEvent) == {
        "sequence": 1,
        "event_id": 2,
        "timestamp": 3,
        "organisation": 4,
        "project": 5,
        "resource_type": 6,
        "action": 7,
        "resource_id": 8,
        "metadata": 9,
    }
