"""Plan records survive the bucket as they were written, and one claim wins."""

from datetime import UTC, datetime

import nats

from bot.approval import Author, Release
from bot.local.nats_server import NatsServer
from bot.plans.plan import Decided, PlanDecision, PlanKey, PlanStage, StageEnd
from bot.plans.plan_store import Deciding, PlanRecord, PlanStore, decode, encode
from bot.state.approval_store import Phase, open_bucket


def record(**overrides) -> PlanRecord:
    values = {
        "stage": PlanStage(
            "acme",
            "infra",
            "intent-1",
            "plan prod/ü",
            "production",
            Release(slug="otter", title="t", author=Author("u1", "alice", "a@acme.io")),
            "2026-11-26T10:15:00+00:00",
        ),
        "channel": "C1",
        "phase": Phase.POSTED,
        "owner": "me",
        "claimed_at": 1.5,
        "ts": "1.000",
        "decision": PlanDecision(
            Decided.REJECTED, "U0BOB", "bob", datetime(2026, 11, 26, tzinfo=UTC), "why"
        ),
        "deciding": Deciding(Decided.APPROVED, "U0C", "carol", 3.0, None),
        "end": StageEnd.REJECTED,
        "end_at": 4.0,
        "reported": ("decision",),
    }
    values.update(overrides)
    return PlanRecord(**values)


def test_a_record_reads_back_as_written():
    for written in (record(), record(decision=None, deciding=None, end=None, end_at=None)):
        assert decode(encode(written)) == written


def test_keys_survive_any_stage_id():
    for stage_id in ("plan-prod", "a.b/c d", "ü€", ""):
        key = PlanKey("intent", stage_id or "x")
        assert PlanKey.from_token(key.token) == key


async def test_one_claim_wins_and_messages_map_back(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    try:
        store = PlanStore(await open_bucket(nc.jetstream(), "plans_test", history=1))
        claim = record(stage=record().stage, phase=Phase.CLAIMED, ts="", end=None)
        first = await store.claim(claim)
        assert first is not None
        assert await store.claim(claim) is None
        await store.remember_message("C1", "1.000", claim.key)
        assert await store.plan_of_message("C1", "1.000") == claim.key
        assert await store.plan_of_message("C1", "2.000") is None
        stored = await store.get(claim.key)
        assert stored is not None and stored.record == claim
    finally:
        await nc.close()
