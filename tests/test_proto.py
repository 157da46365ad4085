"""The committed generated code matches the .proto files, and keeps forest's names and numbers."""

import importlib.util
import sys
from pathlib import Path

from forest.v1 import organisations_pb2, policies_pb2, users_pb2

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
        for f in (policies_pb2, users_pb2, organisations_pb2)
        for s in f.DESCRIPTOR.services_by_name.values()
    }
    assert services == {
        "forest.v1.PolicyService",
        "forest.v1.UsersService",
        "forest.v1.OrganisationService",
    }
