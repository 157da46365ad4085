"""Reviewers vote by replying in the approval message's thread."""

import asyncio

from tests_support import all_text, wait_until

from bot.local.local_stack import CHANNEL, LocalStack


async def test_approve_with_a_comment_in_the_thread(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread("bob", ts, "approve looks good")
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["white_check_mark"])
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert call.actor == "bob"
    assert call.request.comment == "looks good"
    # The tally is Slack's last priority: it may follow the reaction.
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))


async def test_a_reply_before_the_bot_has_recorded_its_message_still_votes(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    # Slack shows the message at once; the bot learns its ts a second later.
    stack.slack.delay_answer("chat.postMessage", 1.0)
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: stack.message_of(intent) is not None)
    ts = stack.message_of(intent).ts
    reply_ts, _ = await stack.reply_in_thread("bob", ts, "approve quick one")
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["white_check_mark"])
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert (call.actor, call.request.comment) == ("bob", "quick one")


async def test_reject_with_a_reason_in_the_thread(stack: LocalStack):
    await stack.start_bot()
    await stack.link("carol")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread("carol", ts, "reject needs a rollback plan")
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["x"])
    [call] = stack.forest.calls_to("ExternalRejectRelease")
    assert call.actor == "carol"
    assert call.request.comment == "needs a rollback plan"


async def test_conversation_in_the_thread_votes_nothing(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    for text in ("approving this later", "I'd reject that idea", "looks good to me", "lgtm"):
        await stack.reply_in_thread("bob", ts, text)
    _reply_ts, _ = await stack.reply_in_thread("bob", ts, "reject")  # a reject needs a reason
    await wait_until(
        lambda: (
            stack.slack.ephemerals(CHANNEL, "U0BOB")[-1:]
            and "needs a reason" in all_text(stack.slack.ephemerals(CHANNEL, "U0BOB")[-1])
        )
    )
    await asyncio.sleep(0.5)
    assert stack.forest.calls_to("ExternalApproveRelease") == []
    assert stack.forest.calls_to("ExternalRejectRelease") == []
    assert stack.slack.calls_to("reactions.add") == []


async def test_a_replayed_message_event_votes_once(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    reply_ts, event_id = await stack.reply_in_thread("bob", ts, "approve")
    await stack.deliver_message_event("U0BOB", reply_ts, ts, "approve", event_id, retry_num=1)
    await stack.deliver_message_event("U0BOB", reply_ts, ts, "approve", event_id, retry_num=2)
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["white_check_mark"])
    await asyncio.sleep(0.5)
    assert len(stack.forest.calls_to("ExternalApproveRelease")) == 1
    assert len(stack.slack.thread(CHANNEL, ts)) == 2  # bob's reply and the bot's record of it


async def test_a_thread_vote_by_the_author_is_refused_privately(stack: LocalStack):
    await stack.start_bot()
    await stack.link("alice")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread("alice", ts, "approve")
    await wait_until(
        lambda: any(
            "can't approve your own release" in all_text(e)
            for e in stack.slack.ephemerals(CHANNEL, "U0ALICE")
        )
    )
    assert stack.slack.reactions(CHANNEL, reply_ts) == []


TYPED = "reject perf & load <p99> regressed, see https://ci.example/run/1 cc @alice"
WORDS = "perf & load <p99> regressed, see https://ci.example/run/1 cc @alice"


async def test_an_encoded_reply_reaches_forest_as_typed_and_is_shown_once(stack: LocalStack):
    await stack.start_bot()
    await stack.link("carol")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread("carol", ts, TYPED)
    # Slack delivered it encoded, as Slack does.
    assert stack.slack.thread(CHANNEL, ts)[0].text == (
        "reject perf &amp; load &lt;p99&gt; regressed, see <https://ci.example/run/1> cc <@U0ALICE>"
    )
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["x"])
    [call] = stack.forest.calls_to("ExternalRejectRelease")
    assert call.request.comment == WORDS

    await wait_until(lambda: len(stack.slack.thread(CHANNEL, ts)) == 2)
    record = stack.slack.thread(CHANNEL, ts)[1]
    [first_line, *_] = stack.slack.as_seen(record.text).splitlines()
    assert first_line == f"❌ @carol rejected: {WORDS}"
    await wait_until(
        lambda: any(
            WORDS in text for text in stack.slack.seen_texts(stack.slack.message(CHANNEL, ts))
        )
    )
    shown = " ".join(stack.slack.seen_texts(stack.slack.message(CHANNEL, ts)))
    assert shown.count("perf & load <p99>") == 1
    assert "&amp;" not in shown and "&lt;" not in shown


async def test_a_labelled_link_and_a_mention_read_as_words_in_forest(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread(
        "bob", ts, "approve [dashboards](https://grafana.example/d/1?a=1&b=2) fine, ask @carol"
    )
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["white_check_mark"])
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert call.request.comment == (
        "dashboards (https://grafana.example/d/1?a=1&b=2) fine, ask @carol"
    )


async def test_a_reply_also_sent_to_the_channel_votes(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread("bob", ts, "approve ship it", broadcast=True)
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["white_check_mark"])
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert (call.actor, call.request.comment) == ("bob", "ship it")
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))


async def test_a_reply_with_a_file_votes(stack: LocalStack):
    await stack.start_bot()
    await stack.link("carol")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread(
        "carol", ts, "reject p99 doubled, graph attached", files=["p99.png"]
    )
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["x"])
    [call] = stack.forest.calls_to("ExternalRejectRelease")
    assert (call.actor, call.request.comment) == ("carol", "p99 doubled, graph attached")


async def test_an_edited_or_deleted_reply_votes_nothing(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    reply_ts, _ = await stack.reply_in_thread("bob", ts, "looks good to me")
    # Turning conversation into a vote afterwards is not a vote: the thread would not show it.
    await stack.deliver_event(stack.slack.person_edits(CHANNEL, reply_ts, "approve looks good"))
    await stack.deliver_event(stack.slack.person_deletes(CHANNEL, reply_ts))
    await asyncio.sleep(0.5)
    assert stack.forest.calls_to("ExternalApproveRelease") == []
    assert stack.slack.calls_to("reactions.add") == []
