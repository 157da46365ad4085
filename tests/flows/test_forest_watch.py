"""A release forest holds for votes gets its approval message from forest itself: no relay, no
approval-required event, only the org event log and forest's read API."""

import asyncio
import json
import logging
import re
import time
from dataclasses import replace

import grpc
import pytest
from tests_support import all_text, buttons

from bot.local.fake_forest import deploy
from bot.local.local_stack import CHANNEL, FAST, ORGANISATION, PROJECT, LocalStack, wait_for
from bot.wiring import Bot
from tests.flows.test_app_home import home_text, open_home

CHECKOUT = "checkout"
STAGING_THEN_PRODUCTION = (
    deploy("staging"),
    deploy("production", depends_on=["deploy-staging"]),
)


def pipeline_project(stack: LocalStack) -> None:
    """``checkout``: production needs two approvals, staging has no policy."""
    forest = stack.forest
    forest.add_project(ORGANISATION, CHECKOUT)
    forest.add_policy(ORGANISATION, CHECKOUT, "production", name="prod-two", required_approvals=2)
    forest.add_destination(ORGANISATION, "staging", "staging-eu-1")
    forest.add_destination(ORGANISATION, "production", "production-eu-1")


def artifact(stack: LocalStack, **fields: object) -> str:
    made = stack.forest.add_artifact(
        ORGANISATION,
        CHECKOUT,
        title="feat: one-click checkout (#91)",
        description="Stores the card token for returning customers.",
        pr="https://github.com/acme/checkout/pull/91",
        run_url="https://ci.acme.io/runs/4711",
        source_user="github-actions",
        source_type="ci",
        commit_sha="4be1c0ffee",
        branch="main",
        **fields,
    )
    return made.artifact_id


def posted(stack: LocalStack) -> list:
    """The messages the bot posted in the channel (not its replies in threads)."""
    return [c for c in stack.slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]


async def test_production_waiting_for_staging_is_announced_once_staging_succeeded(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bot.watch")
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, STAGING_THEN_PRODUCTION, artifact=artifact(stack)
    )
    # Staging runs (no policy); production waits for it, which is not waiting for votes.
    await asyncio.sleep(1.5)
    assert stack.forest.stage_status(intent, "deploy-staging") == "ACTIVE"
    assert posted(stack) == []

    await stack.forest.finish_stage(intent, "deploy-staging")
    await wait_for(lambda: stack.message_of(intent) is not None, "the production message")
    await asyncio.sleep(1.0)
    assert len(posted(stack)) == 1
    message = stack.message_of(intent)
    assert message is not None
    shown = all_text(message)
    assert "checkout → production" in shown
    assert "needs 2 approvals" in shown
    assert "feat: one-click checkout (#91)" in shown
    assert "4be1c0f on main" in shown
    assert "github-actions (ci)" in shown  # who annotated it, not called the author
    # Logged and counted like a message for forest's approval-required event.
    said = [r for r in caplog.records if r.getMessage() == "approval posted"]
    assert [(r.release_intent_id, r.environment) for r in said] == [(intent, "production")]
    assert bot.metrics.registry.get_sample_value("approvals_messages_posted_total") == 1
    assert "https://github.com/acme/checkout/pull/91" in shown
    assert "https://ci.acme.io/runs/4711" in shown
    assert stack.message_of(intent, "staging") is None
    assert [m.channel for m in stack.slack.messages(CHANNEL)] == [CHANNEL]


WATCH = replace(FAST, watch_lease=3.0)


async def following(bot: Bot) -> None:
    assert bot.watch is not None
    watch = bot.watch
    await wait_for(lambda: watch.status == "ok", "the watch to follow forest", 10.0)


async def test_a_release_held_at_its_first_stage_is_announced_from_its_created_event(
    stack: LocalStack,
):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    # The next full scan is minutes away: the event log told the bot.
    await wait_for(lambda: stack.message_of(intent) is not None, "the message", 5.0)
    assert stack.forest.stage_status(intent, "deploy-production") == "PENDING"
    assert len(posted(stack)) == 1


async def test_a_release_held_while_the_bot_was_down_is_announced_when_it_starts(
    stack: LocalStack,
):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    first = await stack.forest.release(
        ORGANISATION, CHECKOUT, STAGING_THEN_PRODUCTION, artifact=artifact(stack)
    )
    await stack.stop_bot(bot)
    # While no bot runs: staging finishes, production is held; a second release is held too.
    await stack.forest.finish_stage(first, "deploy-staging")
    second = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    assert posted(stack) == []

    await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await wait_for(
        lambda: stack.message_of(first) is not None and stack.message_of(second) is not None,
        "both messages",
        10.0,
    )
    await asyncio.sleep(1.0)
    assert len(posted(stack)) == 2


async def test_a_stage_without_an_approval_policy_never_gets_a_message(stack: LocalStack):
    pipeline_project(stack)
    stack.forest.add_project(ORGANISATION, "infra")
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    intent = await stack.forest.release(ORGANISATION, "infra", STAGING_THEN_PRODUCTION)
    await asyncio.sleep(1.0)
    await stack.forest.finish_stage(intent, "deploy-staging")
    await wait_for(
        lambda: stack.forest.stage_status(intent, "deploy-production") == "ACTIVE",
        "production to start",
    )
    await stack.forest.finish_stage(intent, "deploy-production")
    await asyncio.sleep(1.5)
    assert posted(stack) == []


async def test_votes_from_slack_let_forest_deploy_and_the_message_ends_with_the_outcome(
    stack: LocalStack,
):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    await wait_for(lambda: stack.message_of(intent) is not None, "the message")
    message = stack.message_of(intent)
    assert message is not None
    for voter in ("bob", "carol"):
        await stack.link(voter)
        await stack.click(voter, message.ts, "approval_approve")
    # Forest's coordinator starts the stage once the votes suffice; its runner deploys it.
    await wait_for(
        lambda: stack.forest.stage_status(intent, "deploy-production") == "ACTIVE",
        "forest to start production",
    )
    await stack.forest.finish_stage(intent, "deploy-production")
    await wait_for(
        lambda: "Deployed to production" in all_text(stack.message_of(intent)),
        "the outcome on the message",
        10.0,
    )
    final = stack.message_of(intent)
    assert final is not None
    assert not buttons(final)
    assert len(posted(stack)) == 1


async def test_a_release_approved_in_forage_shows_it_and_then_its_failure(stack: LocalStack):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    await wait_for(lambda: stack.message_of(intent) is not None, "the message")
    for voter in ("bob", "carol"):
        await stack.forest.record_decision(intent, "production", voter, "approved")
    await wait_for(
        lambda: "approved" in all_text(stack.message_of(intent)), "approved from forage", 10.0
    )
    await stack.forest.finish_stage(intent, "deploy-production", status="FAILED")
    await wait_for(
        lambda: "Deploy to production failed" in all_text(stack.message_of(intent)),
        "the failure on the message",
        10.0,
    )


async def test_two_replicas_and_restarts_leave_one_message_per_release_and_environment(
    stack: LocalStack,
):
    pipeline_project(stack)
    bots = [
        await stack.start_bot(WATCH, FOREST_ORGANISATION=ORGANISATION),
        await stack.start_bot(WATCH, FOREST_ORGANISATION=ORGANISATION),
    ]
    await wait_for(lambda: sum(b.watch.leading for b in bots if b.watch) == 1, "one follower")
    for bot in bots:
        await following(bot)
    intents = [
        await stack.forest.release(
            ORGANISATION, CHECKOUT, STAGING_THEN_PRODUCTION, artifact=artifact(stack)
        )
        for _ in range(3)
    ]
    for intent in intents:
        await stack.forest.finish_stage(intent, "deploy-staging")
    await wait_for(lambda: len(posted(stack)) == 3, "three messages", 10.0)
    # One replica follows forest: one event stream, not one per replica.
    assert len(stack.forest.calls_to("Subscribe")) == 1
    gauges = [b.metrics.registry.get_sample_value("approvals_watch_following") for b in bots]
    assert sorted(gauges) == [0.0, 1.0]
    events = [
        b.metrics.registry.get_sample_value(
            "approvals_watch_events_total", {"resource_type": "pipeline"}
        )
        or 0.0
        for b in bots
    ]
    assert min(events) == 0.0 and max(events) >= 3.0

    leader = next(b for b in bots if b.watch and b.watch.leading)
    await stack.stop_bot(leader)
    more = [
        await stack.forest.release(
            ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
        )
        for _ in range(2)
    ]
    await wait_for(lambda: len(posted(stack)) == 5, "the other replica takes over", 15.0)
    await stack.start_bot(WATCH, FOREST_ORGANISATION=ORGANISATION)
    await asyncio.sleep(2.0)
    posts = posted(stack)
    keys = [
        (c.args["metadata"]["event_payload"]["release_intent_id"],
         c.args["metadata"]["event_payload"]["target_environment"])
        for c in posts
    ]  # fmt: skip
    assert sorted(keys) == sorted((intent, "production") for intent in intents + more)


async def test_forest_down_at_start_leaves_the_bot_running_not_ready_and_catching_up(
    stack: LocalStack,
):
    pipeline_project(stack)
    port = stack.forest.port
    await stack.forest.stop()
    # Held while no bot could see it: forest's coordinator ran, nothing was published.
    intent = stack.forest.add_pipeline_release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    bot = await stack.start_bot(WATCH, FOREST_ORGANISATION=ORGANISATION)
    ready = await stack.session.get(f"{stack.bot_url(bot)}/readyz")
    assert ready.status == 503
    checks = (await ready.json())["checks"]
    assert checks["forest"] == "unreachable"
    assert checks["forest_watch"] != "ok"

    await stack.forest.start(port=port)
    await wait_for(lambda: stack.message_of(intent) is not None, "the message", 15.0)
    await following(bot)
    ready = await stack.session.get(f"{stack.bot_url(bot)}/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"]["forest_watch"] == "ok"


async def test_the_watch_resumes_after_forest_restarts(stack: LocalStack):
    pipeline_project(stack)
    bot = await stack.start_bot(WATCH, FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    port = stack.forest.port
    await stack.forest.stop()
    await stack.forest.start(port=port)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    await wait_for(lambda: stack.message_of(intent) is not None, "the message", 15.0)
    await following(bot)


async def test_a_release_whose_artifact_cannot_be_read_still_gets_a_message(stack: LocalStack):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    # Enough failures for every read while the test looks: the release's events and a scan
    # may each read the artifact, with up to four attempts apiece, and a loaded machine lets
    # them overlap, so a few failures could leave one read that succeeds.
    stack.forest.fail_next("GetArtifactsByProject", grpc.StatusCode.UNAVAILABLE, "db down", 100)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    await wait_for(lambda: stack.message_of(intent) is not None, "the message")
    shown = all_text(stack.message_of(intent))
    assert "checkout → production" in shown
    assert "needs 2 approvals" in shown
    assert f"Release {intent[:8]}" in shown


async def test_each_stage_ends_with_its_own_outcome_not_another_stages_release(
    stack: LocalStack,
):
    # payments-api gates both environments; here they deploy side by side.
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    stack.forest.add_destination(ORGANISATION, "staging", "staging-eu-1")
    stack.forest.add_destination(ORGANISATION, "production", "production-eu-1")
    intent = await stack.forest.release(
        ORGANISATION, PROJECT, (deploy("staging"), deploy("production"))
    )
    await wait_for(
        lambda: (
            stack.message_of(intent, "staging") is not None and stack.message_of(intent) is not None
        ),
        "both messages",
    )
    for voter, environment in (("bob", "staging"), ("bob", "production"), ("carol", "production")):
        await stack.forest.record_decision(intent, environment, voter, "approved")
    await wait_for(
        lambda: (
            stack.forest.stage_status(intent, "deploy-production") == "ACTIVE"
            and stack.forest.stage_status(intent, "deploy-staging") == "ACTIVE"
        ),
        "both stages to start",
    )
    # Staging's release succeeding is not production's.
    await stack.forest.finish_stage(intent, "deploy-staging")
    await wait_for(
        lambda: "Deployed to staging" in all_text(stack.message_of(intent, "staging")),
        "staging's outcome",
        10.0,
    )
    await asyncio.sleep(1.0)
    production = all_text(stack.message_of(intent))
    assert "Deployed" not in production and "approved" in production
    await stack.forest.finish_stage(intent, "deploy-production")
    await wait_for(
        lambda: "Deployed to production" in all_text(stack.message_of(intent)),
        "production's outcome",
        10.0,
    )


async def test_pending_lists_a_held_release_waiting_since_forest_held_it(stack: LocalStack):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    await stack.link("bob")
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, STAGING_THEN_PRODUCTION, artifact=artifact(stack)
    )
    await stack.forest.finish_stage(intent, "deploy-staging")
    await wait_for(lambda: stack.message_of(intent) is not None, "the message")
    response_url = await stack.command("bob", "pending")
    await wait_for(lambda: bool(stack.slack.responses(response_url)), "the answer")
    [answer] = stack.slack.responses(response_url)
    text = json.dumps(answer.body, ensure_ascii=False)
    assert "1 approval waits for your vote." in text
    assert "feat: one-click checkout (#91)" in text
    assert "checkout \u2192 production in acme" in text
    # Waiting since staging finished, as forest reports it: now, not a sample's fixed time.
    [since] = [int(ts) for ts in re.findall(r"<!date\^(\d+)\^", text)]
    assert abs(since - time.time()) < 60


async def test_a_held_release_gets_its_reminder_and_shows_on_the_home_tab(stack: LocalStack):
    pipeline_project(stack)
    bot = await stack.start_bot(
        replace(FAST, reminder_check_interval=0.1),
        FOREST_ORGANISATION=ORGANISATION,
        APPROVALS_REMIND_AFTER="2s",
    )
    await following(bot)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    await wait_for(lambda: stack.message_of(intent) is not None, "the message")
    message = stack.message_of(intent)
    assert message is not None

    def reminders() -> list[str]:
        return [r.text for r in stack.slack.thread(CHANNEL, message.ts) if r.text.startswith("⏰")]

    await wait_for(lambda: bool(reminders()), "the reminder", 6.0)
    [reminder] = reminders()
    assert reminder.startswith("⏰ Still needs 2 more approvals (0 of 2). Waiting since <!date^")

    await stack.link("bob")
    await open_home(stack, "bob")
    await wait_for(
        lambda: stack.slack.home_view(stack.person("bob").slack_user_id) is not None, "home"
    )
    shown = home_text(stack, "bob")
    assert "feat: one-click checkout (#91)" in shown
    assert "checkout → production" in shown


async def test_the_approval_required_event_stays_a_second_way_in_for_the_same_message(
    stack: LocalStack,
):
    pipeline_project(stack)
    bot = await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)
    await following(bot)
    intent = await stack.forest.release(
        ORGANISATION, CHECKOUT, (deploy("production"),), artifact=artifact(stack)
    )
    for _ in range(3):
        await stack.announce(intent, project=CHECKOUT)
    await wait_for(lambda: stack.message_of(intent) is not None, "the message")
    await asyncio.sleep(1.5)
    assert len(posted(stack)) == 1
    # A release the watch sees nothing held in (no pipeline) still gets the event's message.
    other = stack.new_release()
    await stack.announce(other)
    await wait_for(lambda: stack.message_of(other) is not None, "the event's message")
    assert len(posted(stack)) == 2
