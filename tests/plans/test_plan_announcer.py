"""A plan stage shows up in Slack as exactly one message, however many replicas see it waiting,
and a claim left by a process that died after posting is taken over without a second post."""

import asyncio
import time

from bot.approvals.one_message import Announced
from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack
from bot.plans.plan import PlanStage
from bot.plans.plan_store import PlanRecord
from bot.slack.web import build_slack
from bot.state.records import Phase

STAGE = PlanStage(ORGANISATION, PROJECT, "intent-plan-1", "stage-plan", environment="production")


async def test_two_replicas_that_see_one_plan_stage_post_one_message(stack: LocalStack):
    first, second = await stack.start_bot(), await stack.start_bot()
    assert first.plans is not None and second.plans is not None

    results = await asyncio.gather(
        first.plans.announcer.announce(STAGE), second.plans.announcer.announce(STAGE)
    )

    assert Announced.POSTED in results
    [message] = stack.slack.messages(CHANNEL)
    assert message.metadata == {
        "event_type": "forest_plan",
        "event_payload": {"release_intent_id": "intent-plan-1", "stage_id": "stage-plan"},
    }
    assert await second.plans.announcer.announce(STAGE) == Announced.ALREADY_POSTED
    stored = await first.plans.store.get(STAGE.key)
    assert stored is not None and stored.record.phase == Phase.POSTED
    assert stored.record.ts == message.ts
    assert await first.plans.store.plan_of_message(CHANNEL, message.ts) == STAGE.key


async def test_a_dead_processs_posted_plan_message_is_kept_not_posted_again(stack: LocalStack):
    bot = await stack.start_bot()
    assert bot.plans is not None
    # A process claimed the stage, posted its message, and died before recording it.
    dead = PlanRecord(STAGE, CHANNEL, Phase.CLAIMED, "dead-process", claimed_at=time.time() - 120)
    assert await bot.plans.store.claim(dead) is not None
    slack = build_slack(stack.slack.bot_token, stack.slack.api_url, stack.session)
    orphan = await slack.post_message(
        CHANNEL,
        "plan waiting",
        metadata={
            "event_type": "forest_plan",
            "event_payload": {"release_intent_id": "intent-plan-1", "stage_id": "stage-plan"},
        },
    )

    assert await bot.plans.announcer.announce(STAGE) == Announced.POSTED

    assert [m.ts for m in stack.slack.messages(CHANNEL)] == [orphan]
    stored = await bot.plans.store.get(STAGE.key)
    assert stored is not None and stored.record.ts == orphan
    assert stored.record.owner == bot.owner
