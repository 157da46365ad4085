"""The demo's releases are forest pipelines: the bot finds a blocked one by watching forest (no
approval-required event), and the page plays forest's runner, so a visitor sees a release wait,
get its approvals and deploy."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import nats.js.errors
import pytest_asyncio
from tests_support import all_text, wait_until

from bot.events.consumer import STREAM
from bot.forest.client import ForestClient
from bot.local.demo.command import RunningDemo, running_demo
from bot.local.demo.releases import INFRA_PROJECT
from bot.local.local_stack import CHANNEL, FAST, ORGANISATION


@pytest_asyncio.fixture
async def demo(tmp_path: Path) -> AsyncIterator[RunningDemo]:
    async with running_demo(tmp_path, tuning=FAST) as running:
        yield running


async def call(demo: RunningDemo, method: str, path: str, **body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{demo.page_url}{path}", json=body or None) as reply,
    ):
        return reply.status, await reply.json()


async def pipeline(demo: RunningDemo, intent_id: str) -> dict[str, Any]:
    status, shown = await call(demo, "GET", "/api/forest")
    assert status == 200
    return next(r for r in shown["releases"] if r["release_intent_id"] == intent_id)


def stages(shown: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {s["stage_id"]: (s["status"], s["can_finish"]) for s in shown["stages"]}


def message_text(demo: RunningDemo, intent_id: str) -> str:
    message = demo.stack.message_of(intent_id)
    assert message is not None
    return all_text(demo.stack.slack.message(CHANNEL, message.ts))


async def test_the_first_release_is_found_in_forest_with_its_real_waiting_time(
    demo: RunningDemo,
) -> None:
    await wait_until(lambda: len(demo.stack.slack.messages(CHANNEL)) == 1, 15.0)
    (first,) = demo.stack.slack.messages(CHANNEL)
    shown = all_text(first)
    assert "payments-api → production needs 2 approvals" in shown
    assert "fix: retry card captures on timeout (#812)" in shown
    assert "alice (cli)" in shown  # who annotated the artifact
    # No approval-required event was published: the bot's stream holds nothing.
    js = demo.stack.nc.jetstream()
    try:
        info = await js.stream_info(STREAM)
        assert info.state.messages == 0
    except nats.js.errors.NotFoundError:
        pass
    # `/forest pending` says since when it waits: now, not a fixed sample date.
    await demo.stack.link("bob")
    response_url = await demo.stack.command("bob", "pending")
    await wait_until(lambda: "waiting" in str(demo.stack.slack.responses(response_url)), 10.0)
    answer = json.dumps([r.body for r in demo.stack.slack.responses(response_url)])
    stamps = [int(part.split("^")[0]) for part in answer.split("<!date^")[1:]]
    assert stamps, answer
    assert all(abs(stamp - time.time()) < 120 for stamp in stamps), answer


async def test_a_new_release_waits_for_staging_then_votes_then_deploys(demo: RunningDemo) -> None:
    forest = demo.stack.forest
    await wait_until(lambda: len(demo.stack.slack.messages(CHANNEL)) == 1, 15.0)
    status, published = await call(demo, "POST", "/api/release", author="dave", kind="app")
    assert status == 200
    intent = published["release_intent_id"]

    shown = await pipeline(demo, intent)
    assert shown["title"] == "hotfix: stop double refunds on partial captures (#819)"
    assert stages(shown) == {
        "deploy-staging": ("ACTIVE", True),
        "deploy-production": ("PENDING", False),
    }
    assert demo.stack.message_of(intent) is None  # waiting for staging is not waiting for votes

    status, _ = await call(
        demo, "POST", "/api/forest/finish", release_intent_id=intent, stage_id="deploy-staging"
    )
    assert status == 200
    await wait_until(lambda: demo.stack.message_of(intent) is not None, 15.0)
    assert "needs 2 approvals" in message_text(demo, intent)
    assert stages(await pipeline(demo, intent))["deploy-production"] == ("PENDING", False)

    await forest.record_decision(intent, "production", "bob", "approved")
    await forest.record_decision(intent, "production", "carol", "approved")
    await wait_until(lambda: "Deploying" in message_text(demo, intent), 15.0)
    assert stages(await pipeline(demo, intent))["deploy-production"] == ("ACTIVE", True)

    status, _ = await call(
        demo, "POST", "/api/forest/finish", release_intent_id=intent, stage_id="deploy-production"
    )
    assert status == 200
    await wait_until(lambda: "Deployed to production" in message_text(demo, intent), 15.0)
    assert (await pipeline(demo, intent))["status"] == "SUCCEEDED"


async def test_a_failed_deploy_shows_as_failed(demo: RunningDemo) -> None:
    await wait_until(lambda: len(demo.stack.slack.messages(CHANNEL)) == 1, 15.0)
    (first,) = demo.stack.slack.messages(CHANNEL)
    intent = first.metadata["event_payload"]["release_intent_id"]  # type: ignore[index]
    forest = demo.stack.forest
    await forest.record_decision(intent, "production", "bob", "approved")
    await forest.record_decision(intent, "production", "carol", "approved")
    await wait_until(lambda: forest.stage_status(intent, "deploy-production") == "ACTIVE")

    status, _ = await call(
        demo,
        "POST",
        "/api/forest/finish",
        release_intent_id=intent,
        stage_id="deploy-production",
        outcome="failed",
    )

    assert status == 200
    assert (await pipeline(demo, intent))["status"] == "FAILED"
    await wait_until(lambda: "Deploy to production failed" in message_text(demo, intent), 15.0)


async def test_an_infra_release_plans_production_and_waits_for_the_plan_decision(
    demo: RunningDemo,
) -> None:
    status, published = await call(demo, "POST", "/api/release", author="alice", kind="infra")
    assert status == 200
    intent = published["release_intent_id"]
    assert stages(await pipeline(demo, intent)) == {
        "plan-production": ("ACTIVE", True),
        "deploy-production": ("PENDING", False),
    }

    await call(
        demo, "POST", "/api/forest/finish", release_intent_id=intent, stage_id="plan-production"
    )

    shown = await pipeline(demo, intent)
    plan = next(s for s in shown["stages"] if s["stage_id"] == "plan-production")
    assert (plan["status"], plan["approval_status"], plan["can_finish"]) == (
        "ACTIVE",
        "AWAITING_APPROVAL",
        False,
    )
    forest = demo.stack.forest
    client = ForestClient(forest.url, forest.issue_app_token(ORGANISATION))
    await client.open()
    try:
        reading = await client.plan_output(intent, "plan-production")
    finally:
        await client.close()
    assert reading.status == "AWAITING_APPROVAL"
    outputs = {o.destination_name: o.plan_output for o in reading.outputs}
    assert set(outputs) == {"production-eu-1", "production-us-1"}
    assert all("Plan: 1 to add, 1 to change, 0 to destroy." in text for text in outputs.values())
    assert forest.intent(intent).project == INFRA_PROJECT


async def test_the_runner_cannot_finish_a_stage_that_does_not_run(demo: RunningDemo) -> None:
    status, published = await call(demo, "POST", "/api/release", author="alice", kind="app")
    intent = published["release_intent_id"]

    status, refusal = await call(
        demo, "POST", "/api/forest/finish", release_intent_id=intent, stage_id="deploy-production"
    )
    assert status == 409
    assert refusal["ok"] is False and "PENDING" in refusal["error"]
    status, refusal = await call(demo, "POST", "/api/release", author="mallory", kind="app")
    assert status == 400 and "alice or dave" in refusal["error"]
    status, refusal = await call(demo, "POST", "/api/release", author="alice", kind="mobile")
    assert status == 400

