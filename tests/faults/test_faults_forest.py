"""Forest faults: a vote that did not go through says so; reads retry; start-up survives."""

import asyncio
import logging

import grpc
import pytest
from tests_support import all_text, buttons, wait_until

from bot.approval import ApprovalKey
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestNotFound
from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack


async def test_an_unavailable_forest_tells_the_voter_and_lets_them_try_again(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _, ts = await stack.open_approval()
    # More failures than the channel's own retries of reads; votes are never retried silently.
    stack.forest.fail_next("ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "down")
    await stack.click("bob", ts, "approval_approve")
    await wait_until(
        lambda: (
            stack.slack.ephemerals(CHANNEL, "U0BOB")[-1:]
            and "NOT" in all_text(stack.slack.ephemerals(CHANNEL, "U0BOB")[-1])
        )
    )
    failed = stack.slack.ephemerals(CHANNEL, "U0BOB")[-1]
    assert "your vote was *NOT* recorded" in all_text(failed)
    assert "0 of 2" in all_text(stack.slack.message(CHANNEL, ts))
    assert stack.slack.thread(CHANNEL, ts) == []

    retry = buttons(failed)["vote_resume"]
    from bot.local.slack_signing import block_action_payload, form_payload

    payload = block_action_payload(
        stack.slack.identity.team_id,
        "U0BOB",
        CHANNEL,
        failed.message_ts,
        "vote_resume",
        retry["value"],
        response_url=stack.slack.new_response_url(CHANNEL, "U0BOB"),
        trigger_id=stack.slack.new_trigger_id("U0BOB"),
    )
    await stack.post(form_payload(payload))
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
    assert [c.actor for c in stack.forest.calls_to("ExternalApproveRelease")] == ["bob", "bob"]


async def test_a_deadline_on_a_vote_is_reported_as_not_recorded(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _, ts = await stack.open_approval()
    stack.forest.fail_next("ExternalApproveRelease", grpc.StatusCode.DEADLINE_EXCEEDED, "slow")
    await stack.click("bob", ts, "approval_approve")
    await wait_until(
        lambda: any("NOT" in all_text(e) for e in stack.slack.ephemerals(CHANNEL, "U0BOB"))
    )


async def test_reads_are_retried_when_forest_blips(stack: LocalStack):
    await stack.start_bot()
    stack.forest.fail_next("GetExternalApprovalState", grpc.StatusCode.UNAVAILABLE, "blip", times=2)
    intent = stack.new_release()
    await stack.forest.record_decision(intent, "production", "bob", "approved")
    await stack.announce(intent)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    # The read behind the first post was retried, so the message shows bob's vote at once.
    assert "1 of 2" in all_text(stack.slack.messages(CHANNEL)[0])


async def test_forest_down_at_start_is_not_ready_and_recovers(stack: LocalStack):
    port = stack.forest.port
    await stack.forest.stop()
    bot = await stack.start_bot()
    ready = await stack.session.get(f"{stack.bot_url(bot)}/readyz")
    assert ready.status == 503
    checks = (await ready.json())["checks"]
    assert checks == {"nats": "ok", "forest_nats": "ok", "forest": "unreachable"}

    await stack.forest.start(port=port)
    await asyncio.sleep(0.2)
    ready = await stack.session.get(f"{stack.bot_url(bot)}/readyz")
    assert ready.status == 200, await ready.text()
    # And the bot works: an approval is posted with forest's state.
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)


async def test_forests_own_error_text_is_logged_never_shown(stack: LocalStack, caplog):
    await stack.start_bot()
    await stack.link("bob")
    _, ts = await stack.open_approval()
    leaks = {
        grpc.StatusCode.INTERNAL: "panic: stack trace at foo.go:12",
        grpc.StatusCode.UNKNOWN: "db at 10.0.0.7:5432 refused: pq: password auth failed",
    }
    seen = len(stack.slack.ephemerals(CHANNEL, "U0BOB"))
    for attempt, (code, details) in enumerate(leaks.items(), start=seen + 1):
        stack.forest.fail_next("ExternalApproveRelease", code, details)
        await stack.click("bob", ts, "approval_approve")
        await wait_until(
            lambda: len(stack.slack.ephemerals(CHANNEL, "U0BOB")) == attempt,  # noqa: B023
        )
        told = all_text(stack.slack.ephemerals(CHANNEL, "U0BOB")[-1])
        assert "NOT recorded" in told and "try again" in told, told
        for fragment in ("panic", "foo.go", "10.0.0.7", "pq:", details):
            assert fragment not in told
        assert any(getattr(r, "forest_details", "") == details for r in caplog.records)
    assert stack.slack.thread(CHANNEL, ts) == []


async def test_an_environment_without_a_policy_is_an_answer_not_a_warning(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
):
    # Forest answers NOT_FOUND for the votes of an environment without an approval policy; the
    # bot asks for every stage forest runs, so a warning each time would bury the real ones.
    client = ForestClient(stack.forest.url, stack.forest.issue_app_token(ORGANISATION))
    await client.open()
    try:
        with caplog.at_level(logging.DEBUG, logger="bot.forest"), pytest.raises(ForestNotFound):
            await client.approval_state(
                ProjectRef(ORGANISATION, PROJECT), ApprovalKey(stack.new_release(), "qa")
            )
        # A refusal that is not an answer still warns.
        stack.forest.fail_next(
            "GetExternalApprovalState", grpc.StatusCode.NOT_FOUND, "release intent not found"
        )
        with caplog.at_level(logging.DEBUG, logger="bot.forest"), pytest.raises(ForestNotFound):
            await client.approval_state(
                ProjectRef(ORGANISATION, PROJECT), ApprovalKey(stack.new_release(), "production")
            )
    finally:
        await client.close()
    levels = [(record.levelname, record.forest_details) for record in caplog.records]
    assert [level for level, details in levels if "no approval policy" in details] == ["DEBUG"]
    assert [level for level, details in levels if "no approval policy" not in details] == [
        "WARNING"
    ]
