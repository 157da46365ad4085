"""Plan stages reviewed, approved and rejected from Slack, against the fake forest's pipelines
and the fake Slack on real sockets."""

from __future__ import annotations

import asyncio

from tests_support import all_text, buttons
from tests_support import wait_until as _wait_until

from blocks.plan_message import text_size
from bot.local.fake_forest_pipelines import deploy, plan
from bot.local.fake_slack_model import SlackMessage
from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack

# Generous: these tests share two cores with others.
WAIT = 15.0
ENV = "infra-prod"


async def wait_until(condition, timeout: float = WAIT) -> None:
    await _wait_until(condition, timeout)


STAGE = f"plan-{ENV}"
PLAN = """\
Terraform will perform the following actions:

  # aws_instance.web will be destroyed
  - resource "aws_instance" "web" {}

  # aws_s3_bucket.logs will be created
  + resource "aws_s3_bucket" "logs" {}

Plan: 1 to add, 0 to change, 1 to destroy.
"""


def plan_messages(stack: LocalStack) -> list[SlackMessage]:
    return [
        m
        for m in stack.slack.messages(CHANNEL)
        if (m.metadata or {}).get("event_type") == "forest_plan"
    ]


def plan_message_of(stack: LocalStack, intent: str) -> SlackMessage | None:
    for message in plan_messages(stack):
        if message.metadata["event_payload"].get("release_intent_id") == intent:
            return message
    return None


def thread_texts(stack: LocalStack, ts: str) -> list[str]:
    return [reply.text for reply in stack.slack.thread(CHANNEL, ts)]


def ephemeral_texts(stack: LocalStack, username: str) -> list[str]:
    user = stack.person(username).slack_user_id
    return [all_text(e) for e in stack.slack.ephemerals(CHANNEL, user)]


async def start(stack: LocalStack):
    """A bot that watches the organisation in forest itself."""
    return await stack.start_bot(FOREST_ORGANISATION=ORGANISATION)


async def planned_release(stack: LocalStack, output: str = PLAN, then_deploy: bool = True) -> str:
    """An infra release: plan infra-prod, then deploy infra-prod; returns the intent once the
    plan ran and waits for a decision."""
    forest = stack.forest
    if not any(d.environment == ENV for d in forest.releases.destinations):
        forest.add_destination(ORGANISATION, ENV, "prod-eu")
    artifact = forest.add_artifact(
        ORGANISATION,
        PROJECT,
        title="feat: logs bucket (#91)",
        description="Adds a bucket for access logs.",
        commit_sha="9f2c1e7aa",
        branch="main",
    )
    stages = [plan(ENV)]
    if then_deploy:
        stages.append(deploy(ENV, depends_on=[STAGE]))
    intent = await forest.release(ORGANISATION, PROJECT, stages, artifact=artifact)
    await forest.run_stage(intent, STAGE)
    await forest.finish_stage(intent, STAGE, plan_output=output)
    return intent


async def posted(stack: LocalStack, intent: str) -> SlackMessage:
    await wait_until(lambda: plan_message_of(stack, intent) is not None, timeout=WAIT)
    message = plan_message_of(stack, intent)
    assert message is not None
    return message


async def test_a_plan_awaiting_approval_yields_one_message_with_its_summary(stack: LocalStack):
    await start(stack)
    await start(stack)  # a second replica sees the same plan
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    text = all_text(message)
    assert "📋 Plan for payments-api → infra-prod needs approval" in text
    assert "feat: logs bucket (#91)" in text
    assert "`Plan: 1 to add, 0 to change, 1 to destroy.`" in text
    assert "*Destroys* `aws_instance.web`" in text
    assert set(buttons(message)) == {"plan_approve", "plan_reject", "plan_view"}
    # Seen again and again (events, nudges, scans): still one message.
    await stack.forest.evaluate(intent)
    await asyncio.sleep(1.0)
    assert (
        len(
            [
                m
                for m in plan_messages(stack)
                if m.metadata["event_payload"]["release_intent_id"] == intent
            ]
        )
        == 1
    )


async def test_approve_by_a_linked_member_decides_as_them_and_the_buttons_go(stack: LocalStack):
    await start(stack)
    await stack.link("bob")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(lambda: stack.forest.calls_to("ApprovePlanStage"), timeout=WAIT)
    [call] = stack.forest.calls_to("ApprovePlanStage")
    assert call.actor == "bob" and call.actor_kind == "user"
    assert (call.request.release_intent_id, call.request.stage_id) == (intent, STAGE)
    await wait_until(lambda: buttons(stack.slack.message(CHANNEL, message.ts)) == {})
    shown = all_text(stack.slack.message(CHANNEL, message.ts))
    assert "*Approved* by <@U0BOB>" in shown
    await wait_until(lambda: thread_texts(stack, message.ts))
    assert thread_texts(stack, message.ts)[0].startswith("✅ <@U0BOB> approved the plan.")
    # The deploy that follows ends it.
    await wait_until(lambda: stack.forest.stage_status(intent, f"deploy-{ENV}") == "ACTIVE")
    await stack.forest.finish_stage(intent, f"deploy-{ENV}")
    await wait_until(
        lambda: "🚀 Deployed to infra-prod" in all_text(stack.slack.message(CHANNEL, message.ts)),
        timeout=WAIT,
    )
    await wait_until(lambda: any("🚀 Deployed" in t for t in thread_texts(stack, message.ts)))


async def test_reject_asks_for_a_reason_and_sends_it(stack: LocalStack):
    await start(stack)
    await stack.link("carol")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await stack.click("carol", message.ts, "plan_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    view = stack.slack.views[0]
    assert view.view["title"]["text"] == "Reject plan"
    empty = await stack.submit("carol", view.id, "  ")
    assert "Please give a reason" in empty.body
    await stack.submit("carol", view.id, "it destroys the web server")
    await wait_until(lambda: stack.forest.calls_to("RejectPlanStage"), timeout=WAIT)
    [call] = stack.forest.calls_to("RejectPlanStage")
    assert call.actor == "carol" and call.request.reason == "it destroys the web server"
    await wait_until(
        lambda: (
            "Plan rejected: the release stops here."
            in all_text(stack.slack.message(CHANNEL, message.ts))
        ),
        timeout=WAIT,
    )
    assert buttons(stack.slack.message(CHANNEL, message.ts)) == {}
    shown = all_text(stack.slack.message(CHANNEL, message.ts))
    assert "❌ Plan for payments-api → infra-prod rejected" in shown
    assert "> it destroys the web server" in shown
    assert "Plan rejected: the release stops here." in shown
    await wait_until(lambda: thread_texts(stack, message.ts))
    assert thread_texts(stack, message.ts)[0].startswith(
        "❌ <@U0CAROL> rejected the plan: it destroys the web server"
    )


async def test_a_plan_decided_in_forage_updates_the_message(stack: LocalStack):
    await start(stack)
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await stack.forest.decide_plan(intent, STAGE, "carol", approve=True)
    await wait_until(lambda: buttons(stack.slack.message(CHANNEL, message.ts)) == {}, timeout=WAIT)
    shown = all_text(stack.slack.message(CHANNEL, message.ts))
    assert "*Approved* in forage" in shown
    await wait_until(lambda: thread_texts(stack, message.ts))
    assert thread_texts(stack, message.ts)[0].startswith("✅ The plan was approved in forage.")


async def test_a_second_click_answers_already_decided_and_forest_is_asked_once(stack: LocalStack):
    await start(stack)
    await stack.link("bob")
    await stack.link("carol")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    value = buttons(message)["plan_approve"]["value"]
    # A double click: the same button twice at once, and Slack's retry of the first.
    await asyncio.gather(
        stack.click("bob", message.ts, "plan_approve"),
        stack.click("bob", message.ts, "plan_approve"),
        stack.click("bob", message.ts, "plan_approve", retry_num=1),
    )
    await wait_until(lambda: buttons(stack.slack.message(CHANNEL, message.ts)) == {}, timeout=WAIT)
    assert len(stack.forest.calls_to("ApprovePlanStage")) == 1
    # Carol still had the message with its buttons open.
    payload = stack_click_on_stale(stack, "carol", message.ts, value)
    await stack.post(payload)
    await wait_until(lambda: any("Already decided" in t for t in ephemeral_texts(stack, "carol")))
    assert len(stack.forest.calls_to("ApprovePlanStage")) == 1


def stack_click_on_stale(
    stack: LocalStack, username: str, ts: str, value: str, action_id: str = "plan_approve"
) -> bytes:
    """``username`` clicks a button (Approve plan, by default) as it was when they saw it."""
    from bot.local.slack_signing import block_action_payload, form_payload

    user = stack.person(username).slack_user_id
    payload = block_action_payload(
        stack.slack.identity.team_id,
        user,
        CHANNEL,
        ts,
        action_id,
        value,
        response_url=stack.slack.new_response_url(CHANNEL, user),
    )
    return form_payload(payload)


async def test_forest_refusing_a_stage_no_longer_waiting_is_already_decided(stack: LocalStack):
    await start(stack)
    await stack.link("bob")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    # Decided in forage a moment ago; the bot has not seen it yet.
    stack.forest.releases.decide_plan(
        _actor("dave"),
        intent,
        STAGE,
        True,
    )
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(
        lambda: any("Already decided" in t for t in ephemeral_texts(stack, "bob")), timeout=WAIT
    )
    await wait_until(lambda: buttons(stack.slack.message(CHANNEL, message.ts)) == {}, timeout=WAIT)


def _actor(username: str):
    from bot.local.fake_forest_records import Actor

    return Actor("user", username, token="")


async def test_an_unlinked_member_is_asked_to_link_and_forest_never_called(stack: LocalStack):
    await start(stack)
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(lambda: stack.slack.ephemerals(CHANNEL, "U0BOB"))
    [ephemeral] = stack.slack.ephemerals(CHANNEL, "U0BOB")
    assert "not linked" in all_text(ephemeral)
    assert buttons(ephemeral)["link_start"]["value"].startswith("plan-approve|")
    assert stack.forest.calls_to("ApprovePlanStage") == []


async def test_plan_decisions_are_counted_by_kind_and_outcome(stack: LocalStack):
    bot = await start(stack)
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(lambda: stack.slack.ephemerals(CHANNEL, "U0BOB"))
    await stack.link("bob")
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(lambda: stack.forest.calls_to("ApprovePlanStage"))
    await wait_until(
        lambda: (
            bot.metrics.registry.get_sample_value(
                "approvals_plan_decisions_total", {"kind": "approve", "outcome": "recorded"}
            )
            == 1
        )
    )
    reply = await stack.session.get(f"{stack.bot_url(bot)}/metrics")
    text = await reply.text()
    assert 'approvals_plan_decisions_total{kind="approve",outcome="not_linked"} 1.0' in text
    assert 'approvals_plan_decisions_total{kind="approve",outcome="recorded"} 1.0' in text


async def test_a_non_member_is_told_so(stack: LocalStack):
    await start(stack)
    await stack.link("mallory")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await stack.click("mallory", message.ts, "plan_approve")
    await wait_until(
        lambda: (
            ephemeral_texts(stack, "mallory")
            and any("not a member" in t for t in ephemeral_texts(stack, "mallory"))
        ),
        timeout=WAIT,
    )
    assert buttons(stack.slack.message(CHANNEL, message.ts))


async def test_thread_replies_approve_and_reject_a_plan(stack: LocalStack):
    await start(stack)
    await stack.link("bob")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    reply_ts, _ = await stack.reply_in_thread("bob", message.ts, "reject")
    await wait_until(lambda: any("needs a reason" in t for t in ephemeral_texts(stack, "bob")))
    reply_ts, _ = await stack.reply_in_thread("bob", message.ts, "reject the web server goes")
    await wait_until(lambda: stack.forest.calls_to("RejectPlanStage"), timeout=WAIT)
    [call] = stack.forest.calls_to("RejectPlanStage")
    assert call.actor == "bob" and call.request.reason == "the web server goes"
    await wait_until(lambda: "x" in stack.slack.reactions(CHANNEL, reply_ts))


async def test_a_plan_rejection_typed_in_the_thread_reaches_forest_as_typed(stack: LocalStack):
    await start(stack)
    await stack.link("bob")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    # Slack delivers it encoded: "&amp;", "&lt;…&gt;", "<https://…>", "<@U0ALICE>".
    await stack.reply_in_thread(
        "bob", message.ts, "reject drops <logs> & more, see https://ci.example/1 cc @alice"
    )
    await wait_until(lambda: stack.forest.calls_to("RejectPlanStage"), timeout=WAIT)
    [call] = stack.forest.calls_to("RejectPlanStage")
    assert call.request.reason == "drops <logs> & more, see https://ci.example/1 cc @alice"


async def test_a_huge_plan_stays_within_slacks_limits(stack: LocalStack):
    await start(stack)
    huge = "".join(
        f'  + resource "aws_instance" "n{i}" {{ ami = "<!channel> & ```" }}\n'
        for i in range(100_000)
    )
    huge += "Plan: 100000 to add, 0 to change, 0 to destroy.\n"
    assert len(huge) > 5_000_000
    intent = await planned_release(stack, output=huge)
    message = await posted(stack, intent)
    assert len(message.blocks) <= 50
    assert text_size(message.blocks) < 12_000
    text = all_text(message)
    assert "<!channel>" not in text
    assert "`Plan: 100000 to add, 0 to change, 0 to destroy.`" in text
    assert "more lines not shown here" in text
    assert "*View plan* shows more" in text
    await stack.click("bob", message.ts, "plan_view")
    await wait_until(lambda: stack.slack.views and "Reading" not in str(stack.slack.views[-1].view))
    modal = stack.slack.views[-1].view
    assert len(modal["blocks"]) <= 100
    assert "read all of it in" in str(modal)


async def test_empty_plan_output_still_renders(stack: LocalStack):
    await start(stack)
    intent = await planned_release(stack, output="")
    message = await posted(stack, intent)
    assert buttons(message)
    assert "no output" in all_text(message)


async def test_forest_not_answering_offers_try_again_and_the_plan_is_decided_once(
    stack: LocalStack,
):
    import grpc

    await start(stack)
    await stack.link("bob")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    # Forest decides, then its answer is lost on the way back.
    stack.forest.fail_next(
        "ApprovePlanStage", grpc.StatusCode.UNAVAILABLE, "connection reset", after_processing=True
    )
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(lambda: any("Try again" in t for t in ephemeral_texts(stack, "bob")))
    retry = next(e for e in stack.slack.ephemerals(CHANNEL, "U0BOB") if "Try again" in all_text(e))
    assert "may *not* have been recorded" in all_text(retry)
    # The decision shows, named after bob, once forest's state comes in.
    await wait_until(
        lambda: "*Approved* by <@U0BOB>" in all_text(stack.slack.message(CHANNEL, message.ts))
    )
    value = buttons(retry)["vote_resume"]["value"]
    await stack.post(stack_click_on_stale(stack, "bob", message.ts, value, "vote_resume"))
    await wait_until(
        lambda: any("You already approved this plan." in t for t in ephemeral_texts(stack, "bob"))
    )
    assert stack.forest.stage_status(intent, STAGE) == "SUCCEEDED"
    assert len(thread_texts(stack, message.ts)) >= 1
    assert sum("approved the plan" in t for t in thread_texts(stack, message.ts)) == 1


async def test_a_waiting_plan_is_in_forest_pending_and_the_home_tab_until_decided(
    stack: LocalStack,
):
    from tests.flows.test_app_home import home_text, open_home
    from tests.flows.test_pending import pending_answer

    await start(stack)
    await stack.link("alice")
    await stack.link("bob")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    listed = await pending_answer(stack, "alice")
    assert "📋 plan for payments-api → infra-prod in acme" in listed
    assert "feat: logs bucket (#91)" in listed
    await open_home(stack, "alice")
    await wait_until(lambda: stack.slack.home_view(stack.person("alice").slack_user_id))
    assert "📋 plan for payments-api → infra-prod" in home_text(stack, "alice")
    # Decided: no longer waiting for anyone.
    await stack.click("bob", message.ts, "plan_approve")
    await wait_until(lambda: buttons(stack.slack.message(CHANNEL, message.ts)) == {})
    assert "📋 plan" not in await pending_answer(stack, "alice")


async def test_a_plan_that_waits_too_long_is_recalled_in_its_thread_once_per_period(
    stack: LocalStack,
):
    from dataclasses import replace

    from bot.local.local_stack import FAST

    tuning = replace(FAST, reminder_check_interval=0.2)
    await stack.start_bot(tuning, FOREST_ORGANISATION=ORGANISATION, APPROVALS_REMIND_AFTER="2s")
    await stack.start_bot(tuning, FOREST_ORGANISATION=ORGANISATION, APPROVALS_REMIND_AFTER="2s")
    intent = await planned_release(stack)
    message = await posted(stack, intent)
    await wait_until(
        lambda: any("⏰ This plan still waits" in t for t in thread_texts(stack, message.ts))
    )
    await asyncio.sleep(0.8)  # both replicas checked again within the same period
    reminders = [t for t in thread_texts(stack, message.ts) if t.startswith("⏰")]
    assert len(reminders) == 1
