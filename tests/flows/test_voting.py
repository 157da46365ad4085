"""Acting from Slack: people vote as themselves, under forest's rules and ours."""

import asyncio
import dataclasses
import json
import logging

import pytest
from tests_support import all_text, buttons, wait_until

from bot.local.fake_forest_records import Actor
from bot.local.local_stack import (
    CHANNEL,
    FAST,
    ORGANISATION,
    PROJECT,
    LocalStack,
    approval_event,
)


def votes_line(stack: LocalStack, ts: str) -> str:
    return all_text(stack.slack.message(CHANNEL, ts))


def thread_texts(stack: LocalStack, ts: str) -> list[str]:
    return [reply.text for reply in stack.slack.thread(CHANNEL, ts)]


def ephemerals_for(stack: LocalStack, username: str) -> list[str]:
    """What the bot told ``username`` privately about votes (linking chatter left out)."""
    user = stack.person(username).slack_user_id
    return [
        all_text(e)
        for e in stack.slack.ephemerals(CHANNEL, user)
        if "linked to forest as" not in all_text(e)
        and "Link your forest account*" not in all_text(e)
    ]


async def test_two_reviewers_approve_as_themselves(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    await stack.link("carol")
    intent, ts = await stack.open_approval()
    assert "0 of 2" in votes_line(stack, ts)

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: "1 of 2" in votes_line(stack, ts))
    await stack.click("carol", ts, "approval_approve")
    await wait_until(
        lambda: "approved" in stack.slack.message(CHANNEL, ts).blocks[0]["text"]["text"]
    )

    approvals = stack.forest.calls_to("ExternalApproveRelease")
    assert [call.actor for call in approvals] == ["bob", "carol"]
    assert all(call.actor_kind == "user" for call in approvals)
    assert not any(call.request.force_bypass for call in approvals)
    assert buttons(stack.slack.message(CHANNEL, ts)) == {}
    await wait_until(lambda: len(thread_texts(stack, ts)) == 3)
    first, second, summary = thread_texts(stack, ts)
    assert first.startswith("✅ <@U0BOB> approved")
    assert second.startswith("✅ <@U0CAROL> approved")
    assert summary == (
        "✅ Approved by <@U0BOB> and <@U0CAROL>. <@U0ALICE>, your release is on its way."
    )
    state = stack.forest.approval_state(intent, "production")
    assert state.current_approvals == 2


async def test_the_author_cannot_approve_their_own_release(stack: LocalStack):
    await stack.start_bot()
    await stack.link("alice")
    intent, ts = await stack.open_approval(author="alice")
    await stack.click("alice", ts, "approval_approve")
    await wait_until(lambda: ephemerals_for(stack, "alice"))
    assert "You can't approve your own release" in ephemerals_for(stack, "alice")[0]
    assert len(stack.forest.approval_state(intent, "production").decisions) == 0
    assert thread_texts(stack, ts) == []
    assert "0 of 2" in votes_line(stack, ts)


async def test_a_non_admin_author_cannot_bypass_and_forest_never_sees_force_bypass(
    stack: LocalStack,
):
    await stack.start_bot()
    await stack.link("alice")
    intent, ts = await stack.open_approval(author="alice")
    await stack.click("alice", ts, "approval_bypass")
    await wait_until(lambda: "Only org admins can bypass" in all_text_of_view(stack))
    assert "You are a member of acme." in all_text_of_view(stack)
    assert not any(c.request.force_bypass for c in stack.forest.calls_to("ExternalApproveRelease"))
    assert len(stack.forest.approval_state(intent, "production").decisions) == 0


def all_text_of_view(stack: LocalStack) -> str:
    if not stack.slack.views:
        return ""
    view = stack.slack.views[-1].view
    return "\n".join(
        block["text"]["text"]
        for block in view.get("blocks", [])
        if isinstance(block.get("text"), dict)
    )


async def test_an_admin_author_bypasses_with_a_reason(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
):
    await stack.start_bot()
    await stack.link("dave")
    _intent, ts = await stack.open_approval(author="dave")
    await stack.click("dave", ts, "approval_bypass")
    await wait_until(lambda: len(stack.slack.views) == 1)
    view = stack.slack.views[0]
    assert view.view["title"]["text"] == "Bypass approval"
    await asyncio.sleep(0.3)  # the admin check leaves the modal as it is
    assert stack.slack.views[-1].view.get("submit")

    delivery = await stack.submit("dave", view.id, "hotfix for the outage")
    assert delivery.status == 200
    await wait_until(lambda: any("bypass" in t for t in thread_texts(stack, ts)))
    # Forest's refusal of a plain approval proved dave the author; then the bypass.
    probe, call = stack.forest.calls_to("ExternalApproveRelease")
    assert probe.request.force_bypass is False
    assert call.actor == "dave"
    assert call.request.force_bypass is True
    assert call.request.comment == "hotfix for the outage"
    assert thread_texts(stack, ts)[0] == (
        "⚠️ <@U0DAVE> approved their own release as an org admin (bypass);"
        " it counts as one approval: hotfix for the outage"
    )
    # The tally is Slack's last priority: it may follow the thread's reply.
    await wait_until(lambda: "1 of 2 (1 by the author's bypass)" in votes_line(stack, ts))
    shown = votes_line(stack, ts)
    assert "⚠️ <@U0DAVE> bypassed as author" in shown and "“hotfix for the outage”" in shown
    assert "✅ <@U0DAVE> approved" not in shown
    # The refusal that proves authorship is asked for on purpose: nothing for an operator.
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warned if r.name.startswith("bot.")] == []


async def test_reject_asks_for_a_reason_that_reaches_forest_and_the_thread(stack: LocalStack):
    await stack.start_bot()
    await stack.link("carol")
    intent, ts = await stack.open_approval()
    await stack.click("carol", ts, "approval_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    view = stack.slack.views[0]
    assert view.view["title"]["text"] == "Reject release"
    await stack.submit("carol", view.id, "needs a rollback plan")
    await wait_until(lambda: thread_texts(stack, ts))
    [call] = stack.forest.calls_to("ExternalRejectRelease")
    assert call.actor == "carol" and call.request.comment == "needs a rollback plan"
    assert thread_texts(stack, ts)[0] == (
        "❌ <@U0CAROL> rejected: needs a rollback plan\n"
        "<@U0ALICE>, your release to production still needs 2 more approvals."
    )
    # A changed vote replaces the rejection.
    await stack.click("carol", ts, "approval_approve")
    await wait_until(lambda: len(thread_texts(stack, ts)) == 2)
    assert thread_texts(stack, ts)[1].startswith("✅ <@U0CAROL> changed their vote to approve")
    await wait_until(lambda: "1 of 2" in votes_line(stack, ts))
    [decision] = stack.forest.approval_state(intent, "production").decisions
    assert decision.decision == "approved"


async def test_an_unlinked_reviewer_links_and_finishes_the_vote(stack: LocalStack):
    await stack.start_bot()
    _intent, ts = await stack.open_approval()
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: ephemerals_for(stack, "bob"))
    [ephemeral] = stack.slack.ephemerals(CHANNEL, "U0BOB")
    assert "not linked" in all_text(ephemeral)
    assert stack.forest.calls_to("ExternalApproveRelease") == []

    link_button = buttons(ephemeral)["link_start"]
    response_url = stack.slack.new_response_url(CHANNEL, "U0BOB")
    body = stack_click_on_ephemeral(stack, "bob", ephemeral, link_button, response_url)
    await stack.post(body)
    grant = await stack.pending_login("bob")
    assert "U0BOB" in grant.client_name and "T0ACME" in grant.client_name
    stack.forest.approve_device_code(grant.user_code, "bob")
    await wait_until(
        lambda: any(
            "Finish your approval" in str(p.body) for p in stack.slack.responses(response_url)
        )
    )
    finished = next(p.body for p in stack.slack.responses(response_url) if "Finish" in str(p.body))
    resume = next(e for b in finished["blocks"] if b["type"] == "actions" for e in b["elements"])
    await stack.post(stack_click_value(stack, "bob", resume["action_id"], resume["value"], ts))
    await wait_until(lambda: "1 of 2" in votes_line(stack, ts))
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert call.actor == "bob"


def stack_click_on_ephemeral(stack, username, ephemeral, button, response_url) -> bytes:
    from bot.local.slack_signing import block_action_payload, form_payload

    user = stack.person(username).slack_user_id
    payload = block_action_payload(
        stack.slack.identity.team_id,
        user,
        CHANNEL,
        ephemeral.message_ts,
        button["action_id"],
        button["value"],
        response_url=response_url,
    )
    return form_payload(payload)


def stack_click_value(stack, username, action_id, value, ts) -> bytes:
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
        trigger_id=stack.slack.new_trigger_id(user),
    )
    return form_payload(payload)


async def test_double_clicks_and_slack_retries_record_one_vote_and_one_reply(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    await asyncio.gather(*(stack.click("bob", ts, "approval_approve") for _ in range(3)))
    await stack.click("bob", ts, "approval_approve", retry_num=1)
    await wait_until(lambda: "1 of 2" in votes_line(stack, ts))
    await asyncio.sleep(0.8)
    assert len(stack.forest.calls_to("ExternalApproveRelease")) == 1
    assert len(thread_texts(stack, ts)) == 1


async def test_approving_again_is_answered_privately_and_records_nothing_new(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: len(thread_texts(stack, ts)) == 1)

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: ephemerals_for(stack, "bob"))
    [answer] = ephemerals_for(stack, "bob")
    assert "You already approved this release." in answer
    assert len(stack.forest.calls_to("ExternalApproveRelease")) == 1
    assert len(thread_texts(stack, ts)) == 1


async def test_a_vote_changed_in_forage_unbeknown_to_the_bot_can_be_cast_again(
    stack: LocalStack,
):
    await stack.start_bot()
    await stack.link("bob")
    intent, ts = await stack.open_approval()
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: len(thread_texts(stack, ts)) == 1)
    # Bob rejects in forage and forest's nudge never reaches the bot: its record still says
    # that the thread reported Bob's approval.
    release = stack.forest.world.intent(intent)
    stack.forest.world.cast_vote(
        Actor("user", "bob", token=""),
        (release.organisation, release.project),
        intent,
        "production",
        "rejected",
        comment="wrong build",
    )

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 2)
    await wait_until(lambda: "1 of 2" in votes_line(stack, ts))
    bob = stack.forest.approval_state(intent, "production").decisions[0]
    assert (bob.username, bob.decision) == ("bob", "approved")
    assert ephemerals_for(stack, "bob") == []


async def test_votes_beyond_the_concurrency_bound_wait_their_turn_and_all_land(
    stack: LocalStack,
):
    await stack.start_bot(dataclasses.replace(FAST, vote_concurrency=2))
    reviewers = ["bob", "carol", "dave"]
    for reviewer in reviewers:
        await stack.link(reviewer)
    stack.forest.add_policy(
        ORGANISATION, PROJECT, "train", name="train-needs-five", required_approvals=5
    )
    _first, first_ts = await stack.open_approval(environment="train")
    _second, second_ts = await stack.open_approval(environment="train")
    stack.forest.delay("ExternalApproveRelease", 0.3)

    deliveries = await asyncio.gather(
        *(
            stack.click(reviewer, ts, "approval_approve")
            for reviewer in reviewers
            for ts in (first_ts, second_ts)
        )
    )
    # Every click is acknowledged before the votes are through forest.
    assert [d.status for d in deliveries] == [200] * 6
    assert len(stack.forest.calls_to("ExternalApproveRelease")) < 6

    for ts in (first_ts, second_ts):
        await wait_until(lambda ts=ts: "3 of 5" in votes_line(stack, ts), timeout=10)
    assert stack.forest.most_at_once["ExternalApproveRelease"] == 2
    assert len(stack.forest.calls_to("ExternalApproveRelease")) == 6


async def test_a_tampered_button_value_is_refused(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    other = stack.new_release()
    await stack.announce(other, environment="staging", required_approvals=1)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 2)
    other_token = buttons(stack.slack.messages(CHANNEL)[1])["approval_approve"]["value"]
    # A click on the first message whose value names the second approval.
    await stack.post(stack_click_value(stack, "bob", "approval_approve", other_token, ts))
    await wait_until(lambda: ephemerals_for(stack, "bob"))
    assert "does not belong" in ephemerals_for(stack, "bob")[0]
    await stack.post(stack_click_value(stack, "bob", "approval_approve", "garbage", ts))
    await wait_until(lambda: len(ephemerals_for(stack, "bob")) == 2)
    assert stack.forest.calls_to("ExternalApproveRelease") == []


async def test_a_refused_token_is_refreshed_once_and_the_vote_sent_again(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    intent, ts = await stack.open_approval()
    stack.forest.revoke_access_tokens("bob")  # the link's token still looks fresh to the bot

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: "1 of 2" in votes_line(stack, ts))
    refused, recorded = stack.forest.calls_to("ExternalApproveRelease")
    assert (refused.actor, recorded.actor) == (None, "bob")
    assert refused.token != recorded.token
    assert [d.username for d in stack.forest.approval_state(intent, "production").decisions] == [
        "bob"
    ]
    assert ephemerals_for(stack, "bob") == []


async def test_an_admin_bypassing_someone_elses_release_is_an_ordinary_approval(
    stack: LocalStack,
):
    await stack.start_bot()
    await stack.link("dave")  # an org admin
    dave = stack.forest.world.users["dave"]
    authors = {
        "an event that does not name the author's forest id": {"username": "alice"},
        "an event that names dave as the author": {"user_id": dave.user_id, "username": "dave"},
    }
    for told, (case, author) in enumerate(authors.items(), start=1):
        intent = stack.new_release(author="alice")
        event = approval_event(ORGANISATION, PROJECT, intent, "production", 2, author)
        subject = f"forest.approval.required.{ORGANISATION}.{PROJECT}"
        await stack.publish_raw(subject, json.dumps(event).encode())
        await wait_until(lambda: stack.message_of(intent) is not None)  # noqa: B023
        ts = stack.message_of(intent).ts
        views = len(stack.slack.views)
        await stack.click("dave", ts, "approval_bypass")
        await wait_until(lambda: len(stack.slack.views) == views + 1)  # noqa: B023
        await stack.submit("dave", stack.slack.views[-1].id, "hotfix")

        await wait_until(lambda: len(thread_texts(stack, ts)) == 1)  # noqa: B023
        await asyncio.sleep(0.2)  # the private answer follows the vote
        assert not any(
            c.request.force_bypass for c in stack.forest.calls_to("ExternalApproveRelease")
        ), case
        [decision] = stack.forest.approval_state(intent, "production").decisions
        assert (decision.username, decision.decision) == ("dave", "approved"), case
        # The thread and the message credit an ordinary approval, whatever the event claimed.
        assert thread_texts(stack, ts)[0].startswith("✅ <@U0DAVE> approved"), case
        assert "bypass" not in thread_texts(stack, ts)[0], case
        await wait_until(lambda: "1 of 2" in votes_line(stack, ts))  # noqa: B023
        assert "bypassed as author" not in votes_line(stack, ts), case
        assert "by the author's bypass" not in votes_line(stack, ts), case
        bypass_notes = sum("nothing to bypass" in e for e in ephemerals_for(stack, "dave"))
        assert bypass_notes == told, case
