import json

import pytest

from bot.events.approval_required import PoisonEvent, parse_approval_required

EVENT = {
    "event_id": "5b0c6a1e-8d6f-4f57-9d8e-0f6f1b0d9a11",
    "organisation": "acme",
    "project": "payments-api",
    "release_intent_id": "0F8E3B9E-2C47-4C55-8D7E-7A3F4B6D2E10",
    "target_environment": "production",
    "policy_name": "prod-needs-two",
    "required_approvals": 2,
    "blocked_at": "2026-11-26T10:15:00Z",
    "unknown_key": {"is": "ignored"},
    "release": {
        "slug": "evidently-assisting-ladybeetle",
        "title": "fix: retry card captures on timeout (#812)",
        "commit_sha": "9f2c1e7",
        "commit_branch": "main",
        "author": {"user_id": "c6b0", "username": "alice", "email": "alice@acme.io"},
    },
}


def test_the_contract_example_parses():
    request = parse_approval_required(json.dumps(EVENT).encode())
    assert request.organisation == "acme"
    assert request.release_intent_id == "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10"
    assert request.required_approvals == 2
    assert request.release.title.startswith("fix: retry")
    assert request.release.author is not None
    assert request.release.author.username == "alice"


def test_release_is_optional():
    minimal = {k: v for k, v in EVENT.items() if k not in ("release", "policy_name", "blocked_at")}
    request = parse_approval_required(json.dumps(minimal).encode())
    assert request.release.title == ""
    assert request.release.author is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not UTF-8 JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({**EVENT, "required_approvals": 0}).encode(), "at least 1"),
        (json.dumps({**EVENT, "required_approvals": "2"}).encode(), "whole number"),
        (json.dumps({**EVENT, "required_approvals": True}).encode(), "whole number"),
        (json.dumps({**EVENT, "release_intent_id": "nope"}).encode(), "not a UUID"),
        (json.dumps({**EVENT, "organisation": ""}).encode(), "organisation must be"),
        (json.dumps({k: v for k, v in EVENT.items() if k != "project"}).encode(), "project"),
        (b"[" * 100_000, "not UTF-8 JSON"),
    ],
)
def test_unusable_payloads_are_poison_with_a_reason(payload, reason):
    with pytest.raises(PoisonEvent) as caught:
        parse_approval_required(payload)
    assert reason in str(caught.value)
