"""A three-node NATS cluster loses a node while events arrive and votes are cast: with
NATS_REPLICAS=3 nothing is lost, nothing doubled, and every message tells forest's truth.
Slack's rate limits are on, so thread replies wait their turn while the node is gone."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests_support import all_text, wait_until

from bot.events.consumer import STREAM
from bot.local.local_stack import CHANNEL, LocalStack, local_stack
from bot.local.nats_server import NatsCluster

RELEASES = 10
KILL_AT = 4  # the leader of the approvals bucket dies after this many announcements


@pytest_asyncio.fixture
async def cluster_stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with local_stack(tmp_path, nats_cluster=3) as running:
        yield running


async def publish(stack: LocalStack, intent: str) -> None:
    """Announce as forest's relay does: it tries again while the cluster elects a leader."""
    for attempt in range(60):
        try:
            await stack.announce(intent)
            return
        except Exception:
            if attempt == 59:
                raise
            await asyncio.sleep(0.25)


def not_recorded(stack: LocalStack, person: str) -> int:
    user = stack.person(person).slack_user_id
    return sum("NOT" in all_text(e) for e in stack.slack.ephemerals(CHANNEL, user))


async def vote_until_counted(stack: LocalStack, person: str, intent: str) -> int:
    """``person`` approves; a vote they are told was NOT recorded is tried again.
    Returns how many times they were told NOT recorded."""
    told = 0
    for _ in range(10):
        message = stack.message_of(intent)
        assert message is not None
        before = not_recorded(stack, person)
        await stack.click(person, message.ts, "approval_approve")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = stack.forest.approval_state(intent, "production")
            if any(d.username == person for d in state.decisions):
                return told
            if not_recorded(stack, person) > before:
                told += 1
                await asyncio.sleep(1.0)  # a person reads the answer, then tries again
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"{person}'s vote on {intent} was neither counted nor refused")
    raise AssertionError(f"{person}'s vote on {intent} never counted")


def approvals_shown(stack: LocalStack, ts: str, person: str) -> int:
    """How often the thread says ``person`` approved. Replies waiting their turn in one thread
    leave merged into one message ("✅ <@U0BOB> approved · ✅ <@U0CAROL> approved")."""
    said = f"<@{stack.person(person).slack_user_id}> approved"
    return sum(m.text.count(said) for m in stack.slack.thread(CHANNEL, ts))


async def leader_of(stack: LocalStack, stream: str) -> int:
    info = await stack.nc.jetstream().stream_info(stream)
    assert info.cluster is not None and info.cluster.leader
    return int(info.cluster.leader.removeprefix("node-"))


@pytest.mark.long
async def test_losing_one_of_three_nodes_loses_and_doubles_nothing(cluster_stack: LocalStack):
    stack = cluster_stack
    stack.slack.rate_limits.enabled = True
    cluster = stack.nats_server
    assert isinstance(cluster, NatsCluster)
    bot = await stack.start_bot(NATS_REPLICAS="3")
    js = stack.nc.jetstream()
    for stream in (STREAM, "KV_forest_approvals", "KV_forest_links", "KV_forest_dedup"):
        assert (await js.stream_info(stream)).config.num_replicas == 3, stream
    await stack.link("bob")
    await stack.link("carol")

    intents = [stack.new_release() for _ in range(RELEASES)]
    told = Counter[str]()
    for number, intent in enumerate(intents):
        await publish(stack, intent)
        if number == KILL_AT:
            victim = await leader_of(stack, "KV_forest_approvals")
            cluster.nodes[victim].kill()
            await cluster.nodes[victim].wait_killed()
        if number >= 1:  # votes on the one before, while this one is being posted
            previous = intents[number - 1]
            await wait_until(lambda: stack.message_of(previous) is not None, timeout=20)  # noqa: B023
            told["bob"] += await vote_until_counted(stack, "bob", previous)
            if number % 3 == 0:
                told["carol"] += await vote_until_counted(stack, "carol", previous)
    await wait_until(lambda: stack.message_of(intents[-1]) is not None, timeout=20)
    told["bob"] += await vote_until_counted(stack, "bob", intents[-1])

    # Nothing lost: one message per release, the links still work (the last votes used them).
    await asyncio.sleep(1.0)
    per_intent = Counter(
        (m.metadata or {}).get("event_payload", {}).get("release_intent_id")
        for m in stack.slack.messages(CHANNEL)
    )
    assert all(per_intent[intent] == 1 for intent in intents), per_intent
    # Nothing doubled: each person's vote reached forest once.
    recorded = Counter((intent, person) for intent, person, _ in stack.forest.recorded_votes)
    assert all(times == 1 for times in recorded.values()), recorded
    for intent in intents:
        state = stack.forest.approval_state(intent, "production")
        assert {d.username for d in state.decisions} == {
            person for (voted, person) in recorded if voted == intent
        }, intent
    # Every message true: it shows forest's count, and the thread each decision once.
    for intent in intents:
        state = stack.forest.approval_state(intent, "production")
        message = stack.message_of(intent)
        assert message is not None
        expected = (
            "production approved"
            if state.current_approvals >= 2
            else f"{state.current_approvals} of 2"
        )
        await wait_until(
            lambda: expected in all_text(stack.message_of(intent)),  # noqa: B023
            timeout=15,
        )
        voters = [d.username for d in state.decisions]
        # Thread replies wait their turn (about one post a second in a channel).
        await wait_until(
            lambda: all(approvals_shown(stack, message.ts, p) >= 1 for p in voters),  # noqa: B023
            timeout=40,
        )
        for person in ("bob", "carol"):
            assert approvals_shown(stack, message.ts, person) <= 1, stack.slack.thread(
                CHANNEL, message.ts
            )
    assert bot.ready.is_set()
    print(f"\ntold NOT recorded during the node loss: {dict(told)}")


@pytest.mark.long
async def test_a_bot_started_while_the_cluster_has_no_quorum_waits_for_it(
    cluster_stack: LocalStack,
):
    """Two of three nodes down: JetStream does not answer (no quorum), then answers 503 while
    the nodes elect a leader. The bot waits through both, not ready, instead of exiting or
    calling it a NATS without JetStream."""
    stack = cluster_stack
    cluster = stack.nats_server
    assert isinstance(cluster, NatsCluster)
    for node in cluster.nodes[1:]:
        node.kill()
        await node.wait_killed()
    starting = asyncio.create_task(stack.start_bot(NATS_REPLICAS="3"))
    await asyncio.sleep(6.0)  # past the 5 s a JetStream request waits for its answer
    assert not starting.done()
    await cluster.start()
    bot = await asyncio.wait_for(starting, 60)
    assert bot.ready.is_set()
    intent = stack.new_release()
    await publish(stack, intent)
    await wait_until(lambda: stack.message_of(intent) is not None, timeout=20)
