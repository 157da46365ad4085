"""Records are stored as JSON that earlier versions wrote and read the same way."""

import dataclasses
import json

from bot.approval import Outcome, Release
from bot.events.approval_required import parse_approval_required
from bot.local.local_stack import approval_event
from bot.state.approval_store import (
    ApprovalRecord,
    OwedReply,
    Phase,
    _decode,
    _encode,
    _summary,
)

# Forest's sample event, with a title that JSON has to escape.
EVENT = approval_event(
    "acme",
    "payments-api",
    "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10",
    "production",
    2,
    {"user_id": "u1", "username": "alice", "email": "a@acme.io"},
    title="fix: “quotes” & ünïcode",
)
REQUEST = parse_approval_required(json.dumps(EVENT).encode())


def records() -> list[ApprovalRecord]:
    claimed = ApprovalRecord(REQUEST, "C1", Phase.CLAIMED, "bot-1", 1700000000.5)
    posted = dataclasses.replace(
        claimed,
        phase=Phase.POSTED,
        ts="1700000001.000100",
        digest="ab" * 32,
        reported={"u2": "approved:", "u3": "rejected:too risky"},
    )
    ended = dataclasses.replace(posted, outcome=Outcome.CANCELLED, outcome_at=1700000100.0)
    no_author = dataclasses.replace(posted, request=dataclasses.replace(REQUEST, release=Release()))
    owing = dataclasses.replace(
        ended,
        owed=(
            OwedReply("r1", "✅ <@U2> approved", False, "bot-1", 1700000099.5),
            OwedReply("r2", "⏹ Cancelled", True, "bot-2", 1700000100.5, attempts=2),
        ),
    )
    return [claimed, posted, ended, no_author, owing]


def test_a_record_reads_back_as_it_was_written():
    for record in records():
        assert _decode(_encode(record)) == record


def test_the_bytes_are_the_plain_json_of_the_record():
    # The format earlier versions wrote, which replicas of either version must read.
    for record in records():
        expected = json.dumps(dataclasses.asdict(record), separators=(",", ":")).encode()
        assert _encode(record) == expected


def test_the_watch_summary_says_open_and_approved():
    claimed, posted, ended, *_ = records()
    approved = dataclasses.replace(posted, approved=True)
    assert (_summary(_encode(claimed)).open, _summary(_encode(claimed)).approved) == (True, False)
    assert _summary(_encode(approved)).approved
    assert not _summary(_encode(ended)).open


def test_the_watch_summary_says_since_when_the_thread_is_owed_replies():
    _, posted, *_, owing = records()
    assert _summary(_encode(posted)).owed_held_at is None
    # The longest-held reply, of whichever process: the one to take over first.
    assert _summary(_encode(owing)).owed_held_at == 1700000099.5


def test_a_stage_found_by_the_watch_is_staged_and_keys_of_a_newer_version_are_ignored():
    _, posted, *_ = records()
    staged = dataclasses.replace(
        posted,
        request=dataclasses.replace(
            REQUEST,
            stage_id="deploy-production",
            release=Release(title="t", annotated_by="github-actions (ci)", pr_url="https://x/1"),
        ),
    )
    assert _decode(_encode(staged)) == staged
    assert _summary(_encode(staged)).staged and not _summary(_encode(posted)).staged
    document = json.loads(_encode(staged))
    document["request"]["gate_kind"] = "deploy"
    document["request"]["release"]["signed_by"] = "sigstore"
    assert _decode(json.dumps(document).encode()) == staged
    owing = records()[-1]
    document = json.loads(_encode(owing))
    document["owed"][0]["blocks"] = []
    assert _decode(json.dumps(document).encode()) == owing
