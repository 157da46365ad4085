"""Messages stay inside what Slack accepts, however much people wrote."""

import pytest
from tests_support import wait_until

from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack


def refused(stack: LocalStack) -> list[str]:
    return [
        f"{c.method}: {c.error}"
        for c in stack.slack.calls
        if c.response is not None and not c.ok and c.method.startswith("chat.")
    ]


async def test_a_message_with_sixty_long_comments_is_accepted(stack: LocalStack):
    await stack.start_bot()
    stack.forest.add_policy(ORGANISATION, PROJECT, "train", name="train", required_approvals=100)
    intent, ts = await stack.open_approval(environment="train", required_approvals=100)
    reviewers = [f"reviewer{n:02d}" for n in range(60)]
    for name in reviewers:
        stack.forest.add_user(name)
        stack.forest.add_member(ORGANISATION, name)
    for n, name in enumerate(reviewers):
        # Each comment within forest's bounds, and escaped longer still in Slack (&amp;).
        comment = f"comment {n}: " + "p99 & p999 <regressed> " * 40
        decision = "approved" if n % 3 else "rejected"
        await stack.forest.record_decision(intent, "train", name, decision, comment)

    def shows_all_sixty() -> bool:
        shown = " ".join(stack.slack.seen_texts(stack.slack.message(CHANNEL, ts)))
        return "40 of 100" in shown and "reviewer59" in shown

    await wait_until(shows_all_sixty, timeout=20)
    assert refused(stack) == []
    shown = stack.slack.seen_texts(stack.slack.message(CHANNEL, ts))
    votes = "\n".join(t for t in shown if " approved · " in t or " rejected · " in t)
    assert "more decisions before these" in votes, shown
    # The newest decisions are shown in full; the older are counted, with forage a click away.
    assert "comment 59: p99 & p999 <regressed>" in votes
    assert "reviewer00" not in votes
    hidden = int(votes.split("…and ")[1].split(" more")[0])
    assert hidden + votes.count("reviewer") == 60
    assert "See all in forage" in votes


@pytest.mark.long
async def test_forty_long_pending_entries_are_accepted(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    title = "fix: retry card captures & refunds <on timeout> " * 4
    for n in range(40):
        await stack.open_approval(title=f"{n:02d} {title}")

    response_url = await stack.command("bob", "pending")
    await wait_until(lambda: stack.slack.responses(response_url), timeout=20)
    [answer] = stack.slack.responses(response_url)

    assert answer.status == 200, answer.body
    shown = stack.slack.as_seen(
        " ".join(
            b["text"]["text"] if "text" in b else b["elements"][0]["text"]
            for b in answer.body["blocks"]
        )
    )
    assert shown.startswith("*40 approvals wait for your vote.*")
    listed = shown.count(" waiting since ")
    assert 0 < listed < 40
    assert shown.count("fix: retry card captures & refunds <on timeout>") >= listed
    assert f"…and {40 - listed} more: open the app's Home tab" in shown


LONG_ENVIRONMENT = "production-eu-west-" + "é" * 230  # 249 characters, 479 bytes


async def test_a_long_environment_name_gets_its_message_and_every_way_to_vote(
    stack: LocalStack,
):
    await stack.start_bot()
    for person in ("bob", "carol"):
        await stack.link(person)
    env = LONG_ENVIRONMENT
    stack.forest.add_policy(ORGANISATION, PROJECT, env, name="eu", required_approvals=2)
    _intent, ts = await stack.open_approval(environment=env)
    message = stack.slack.message(CHANNEL, ts)
    header = message.blocks[0]["text"]["text"]
    assert header.startswith("🔒 payments-api → production-eu-west-éé") and "…" in header

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"))
    await stack.click("carol", ts, "approval_reject")
    await wait_until(lambda: stack.slack.views)
    await stack.submit("carol", stack.slack.views[0].id, "needs a rollback plan")
    await wait_until(lambda: stack.forest.calls_to("ExternalRejectRelease"))

    [approve] = stack.forest.calls_to("ExternalApproveRelease")
    [reject] = stack.forest.calls_to("ExternalRejectRelease")
    assert approve.request.target_environment == reject.request.target_environment == env
    assert reject.request.comment == "needs a rollback plan"
    await wait_until(
        lambda: "1 of 2" in " ".join(stack.slack.seen_texts(stack.slack.message(CHANNEL, ts)))
    )
    assert refused(stack) == []
    assert [c.error for c in stack.slack.calls_to("views.open")] == [None]
