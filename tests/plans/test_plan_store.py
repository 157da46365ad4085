"""Plan records survive the bucket as they were written, and one claim wins."""

import asyncio
import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import nats
from tests_support import wait_until

from bot.approval import Author, Release
from bot.local.nats_server import NatsServer
from bot.plans.open_plans import OpenPlans
from bot.plans.plan import Decided, PlanDecision, PlanKey, PlanStage, StageEnd
from bot.plans.plan_store import Deciding, PlanRecord, PlanStore, decode, encode
from bot.state.approval_store import Phase, open_bucket
from bot.state.owed import OwedReply, write_over_settled

OWED = (
    OwedReply("r1", "✅ <@U0BOB> approved the plan.", True, "bot-1", 1700000099.5),
    OwedReply("r2", "❌ The release stops here.", True, "bot-2", 1700000100.5, attempts=2),
)


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


def test_the_replies_a_thread_is_owed_read_back_in_order():
    written = record(owed=OWED)
    assert decode(encode(written)) == written
    assert decode(encode(written)).owed == OWED


def test_a_record_written_before_plans_owed_replies_owes_none():
    document = json.loads(encode(record(owed=OWED)))
    del document["owed"]
    assert decode(json.dumps(document).encode()) == record()


def test_keys_a_newer_version_adds_to_an_owed_reply_are_left_out():
    document = json.loads(encode(record(owed=OWED[:1])))
    document["owed"][0]["posted_by"] = "a later version"
    assert decode(json.dumps(document).encode()).owed == OWED[:1]


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
        owing = await store.replace(stored, replace(stored.record, owed=OWED))
        assert (await store.get(claim.key)) == owing and owing.record.owed == OWED
    finally:
        await nc.close()


async def test_the_index_lists_plans_owing_replies_held_too_long_even_once_ended(
    nats_server: NatsServer,
):
    nc = await nats.connect(nats_server.url)
    following = None
    try:
        store = PlanStore(await open_bucket(nc.jetstream(), "plans_owed_test", history=1))
        index = OpenPlans(store)
        following = asyncio.create_task(index.follow())
        ended = record(end=StageEnd.REJECTED, owed=OWED)
        stored = await store.claim(ended)
        assert stored is not None
        await wait_until(lambda: index.owed_held_before(1700000100.0) == [ended.key])
        assert index.owed_held_before(1700000099.0) == []  # the holder is still within its grace
        assert ended.key not in index.all()  # the plan ended: only its replies are left
        await store.replace(stored, replace(ended, owed=()))
        await wait_until(lambda: index.owed_held_before(float("inf")) == [])
    finally:
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        await nc.close()


async def test_a_change_is_written_over_a_write_that_only_settled_replies(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    try:
        store = PlanStore(await open_bucket(nc.jetstream(), "plans_settled", history=1))
        claimed = await store.claim(record(owed=OWED))
        assert claimed is not None
        first, second = OWED
        mine = OwedReply("r3", "✅ Approved.", True, "bot-1", 1700000200.0)
        changed = replace(claimed.record, digest="new", owed=(*claimed.record.owed, mine))
        # Meanwhile the outbox removed the reply Slack took and renewed the other.
        renewed = replace(second, held_at=1700000150.0)
        await store.replace(claimed, replace(claimed.record, owed=(renewed,)))

        written = await write_over_settled(store, claimed.record.key, claimed, changed, (mine,))
        assert written is not None
        assert written.record.digest == "new" and written.record.owed == (renewed, mine)
        assert first not in written.record.owed  # what Slack took stays removed

        # A change of anything else is someone else's view: not written over.
        await store.replace(written, replace(written.record, digest="theirs"))
        stale = replace(written.record, digest="mine")
        assert await write_over_settled(store, claimed.record.key, written, stale, ()) is None
        assert (await store.get(claimed.record.key)).record.digest == "theirs"
    finally:
        await nc.close()
