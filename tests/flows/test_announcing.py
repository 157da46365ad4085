"""A blocked release shows up in Slack as exactly one message, whatever happens to the event."""

import asyncio
import json

from tests_support import all_text, buttons, wait_until

from bot.local.fake_forest import deploy
from bot.local.local_stack import CHANNEL, ORGANISATION, PROJECT, LocalStack, approval_event


async def test_an_approval_event_posts_one_message_with_buttons_and_facts(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)

    await stack.slack.wait_for("chat.postMessage", ok=True)
    [message] = stack.slack.messages(CHANNEL)
    shown = all_text(message)
    assert "payments-api → production" in shown
    assert "fix: retry card captures on timeout (#812)" in shown
    assert "9f2c1e7" in shown and "main" in shown
    assert "prod-needs-two" in shown
    assert "0 of 2" in shown
    assert "<@U0ALICE>" in shown  # the author, found by email
    approve, reject, bypass = (
        buttons(message)[a] for a in ("approval_approve", "approval_reject", "approval_bypass")
    )
    assert approve["style"] == "primary"
    assert bypass["style"] == "danger"
    assert "style" not in reject


async def test_announcing_again_with_new_event_ids_posts_nothing_more(stack: LocalStack):
    await stack.start_bot()
    intent = stack.new_release()
    await stack.announce(intent)
    await stack.slack.wait_for("chat.postMessage", ok=True)
    for _ in range(5):
        await stack.announce(intent)
    # The same intent for another environment is another gate, with its own message.
    await stack.announce(intent, environment="staging", required_approvals=1)
    await stack.slack.wait_for("chat.postMessage", ok=True, count=2)
    await asyncio.sleep(1.0)
    assert len(stack.slack.calls_to("chat.postMessage")) == 2
    headers = sorted(m.blocks[0]["text"]["text"] for m in stack.slack.messages(CHANNEL))
    assert "production" in headers[0] and "staging" in headers[1]


async def test_two_bot_processes_on_one_stream_post_one_message(stack: LocalStack):
    await stack.start_bot()
    await stack.start_bot()
    intents = [stack.new_release() for _ in range(10)]
    for intent in intents:
        for _ in range(3):
            await stack.announce(intent)
    # One message a second per channel: ten take several seconds.
    await stack.slack.wait_for("chat.postMessage", ok=True, count=10, timeout=20)
    await asyncio.sleep(1.0)
    posted = stack.slack.calls_to("chat.postMessage")
    assert len(posted) == 10
    assert {c.args["metadata"]["event_payload"]["release_intent_id"] for c in posted} == set(
        intents
    )


async def test_a_poison_event_is_set_aside_and_the_next_is_posted(stack: LocalStack):
    bot = await stack.start_bot()
    js = stack.nc.jetstream()
    await stack.publish_raw("forest.approval.required.acme.payments-api", b"{not json")
    await stack.publish_raw("forest.approval.required.acme.payments-api", b'{"event_id": "x"}')
    intent = stack.new_release()
    await stack.announce(intent)

    await stack.slack.wait_for("chat.postMessage", ok=True)
    dead = await js.pull_subscribe("forest.approval.deadletter", durable="inspect")
    letters = await dead.fetch(2, timeout=5)
    assert [m.data for m in letters] == [b"{not json", b'{"event_id": "x"}']
    assert letters[0].headers["Forest-Set-Aside-Reason"] == "poison"
    assert "lacks required keys" in letters[1].headers["Forest-Set-Aside-Detail"]
    sample = bot.metrics.registry.get_sample_value(
        "approvals_events_set_aside_total", {"reason": "poison"}
    )
    assert sample == 2.0


async def test_the_authors_slack_account_is_looked_up_once_for_many_messages(stack: LocalStack):
    await stack.start_bot()
    for _ in range(3):
        await stack.announce(stack.new_release(), author="alice")
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 3)
    assert all("<@U0ALICE>" in all_text(m) for m in stack.slack.messages(CHANNEL))
    # users.lookupByEmail is rate limited: the answer is kept.
    assert len(stack.slack.calls_to("users.lookupByEmail")) == 1


async def test_an_event_whose_subject_names_another_organisation_is_set_aside(
    stack: LocalStack,
):
    await stack.start_bot()
    intent = stack.new_release()
    genuine = approval_event(ORGANISATION, PROJECT, intent, "production", 2, {"username": "alice"})
    spoofed = {
        **genuine,
        "event_id": "spoofed",
        "release": {
            **genuine["release"],
            "title": "URGENT: approve now",
            "web_url": "https://evil.x",
        },
    }
    # Whoever may publish for evilcorp speaks for acme, or for acme's other project.
    for subject in ("forest.approval.required.evilcorp.x", "forest.approval.required.acme.other"):
        await stack.publish_raw(subject, json.dumps(spoofed).encode())
    await stack.publish_raw(
        f"forest.approval.required.{ORGANISATION}.{PROJECT}", json.dumps(genuine).encode()
    )

    await stack.slack.wait_for("chat.postMessage", ok=True)
    dead = await stack.nc.jetstream().pull_subscribe("forest.approval.deadletter", durable="x")
    letters = await dead.fetch(2, timeout=5)
    assert [m.headers["Forest-Original-Subject"] for m in letters] == [
        "forest.approval.required.evilcorp.x",
        "forest.approval.required.acme.other",
    ]
    assert all(m.headers["Forest-Set-Aside-Reason"] == "poison" for m in letters)
    assert "does not match" in letters[0].headers["Forest-Set-Aside-Detail"]
    await asyncio.sleep(0.5)
    [message] = stack.slack.messages(CHANNEL)
    assert "fix: retry card captures on timeout (#812)" in all_text(message)
    assert "URGENT" not in all_text(message) and "evil.x" not in all_text(message)


async def test_the_message_shows_forests_facts_of_the_release_not_the_events(stack: LocalStack):
    await stack.start_bot()
    stack.forest.add_destination(ORGANISATION, "production")
    artifact = stack.forest.add_artifact(
        ORGANISATION,
        PROJECT,
        title="feat: refunds in batches (#901)",
        slug="calmly-refunding-otter",
        commit_sha="4d5e6f7",
        branch="release/2",
        web="https://forage.local/releases/calmly-refunding-otter",
    )
    intent = await stack.forest.release(
        ORGANISATION, PROJECT, [deploy("production")], artifact=artifact, author="alice"
    )
    # The event claims another title, link and commit for this intent.
    await stack.announce(
        intent,
        title="URGENT: approve now",
        web_url="https://evil.x/login",
        commit_sha="0000000",
        slug="calmly-refunding-otter",
    )

    await stack.slack.wait_for("chat.postMessage", ok=True)
    [message] = stack.slack.messages(CHANNEL)
    shown = all_text(message)
    assert "feat: refunds in batches (#901)" in shown
    assert "4d5e6f7" in shown and "release/2" in shown
    for claimed in ("URGENT", "evil.x", "0000000"):
        assert claimed not in shown
