"""The fake forest's org event log, followed with the bot's client over a real socket: forest's
sequences, replay, filters, wake-ups and the end of the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from fake_forest_support import ORG, PROJECT, STAGING_THEN_PRODUCTION, Forest, running_forest
from tests_support import wait_until

from bot.forest.client import ForestClient
from bot.forest.errors import ForestUnauthenticated, ForestUnavailable
from bot.forest.org_events import OrgEvent

RELEASE_AND_PIPELINE = ("release", "pipeline")


@pytest_asyncio.fixture
async def forest() -> AsyncIterator[Forest]:
    async with running_forest() as running:
        yield running


class Follower:
    """Collects what a Subscribe stream delivers, in a task, until it ends."""

    def __init__(self, client: ForestClient, **options: object) -> None:
        self.events: list[OrgEvent] = []
        self.ended = False
        self.error: Exception | None = None
        self._task = asyncio.create_task(self._follow(client, options))

    async def _follow(self, client: ForestClient, options: dict[str, object]) -> None:
        try:
            async for event in client.org_events(ORG, **options):  # type: ignore[arg-type]
                self.events.append(event)
            self.ended = True
        except Exception as error:  # the test reads it
            self.error = error

    def seen(self) -> list[tuple[str, str]]:
        return [(e.resource_type, e.action) for e in self.events]

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def until_streaming(forest: Forest, count: int = 1) -> None:
    await wait_until(lambda: forest.fake.serving["Subscribe"] == count)


async def test_from_sequence_zero_only_new_events_come(forest: Forest) -> None:
    before = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)
    follower = Follower(forest.client, resource_types=RELEASE_AND_PIPELINE)
    await until_streaming(forest)

    after = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)
    await forest.fake.finish_stage(after, "deploy-staging")

    await wait_until(lambda: len(follower.events) == 2)
    await follower.stop()
    created, stage_changed = follower.events
    assert (created.resource_type, created.action, created.resource_id) == (
        "release",
        "created",
        after,
    )
    assert created.metadata == {"destinations": ""}
    assert (created.organisation, created.project) == (ORG, PROJECT)
    assert created.timestamp is not None and created.event_id
    assert stage_changed.metadata == {
        "intent_id": after,
        "stage_id": "deploy-staging",
        "stage_status": "SUCCEEDED",
    }
    assert stage_changed.sequence > created.sequence
    assert before not in {e.resource_id for e in follower.events}


async def test_a_later_sequence_replays_what_came_after_it_then_streams(forest: Forest) -> None:
    first = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)
    await forest.fake.finish_stage(first, "deploy-staging")
    log = forest.fake.events.events(ORG)
    created = next(e for e in log if e.resource_id == first and e.action == "created")

    follower = Follower(
        forest.client, since_sequence=created.sequence, resource_types=RELEASE_AND_PIPELINE
    )
    await wait_until(lambda: follower.seen() == [("pipeline", "stage_changed")])
    second = await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)
    await wait_until(lambda: len(follower.events) == 2)
    await follower.stop()

    assert follower.events[1].resource_id == second
    sequences = [e.sequence for e in follower.events]
    assert sequences == sorted(sequences) and sequences[0] > created.sequence


async def test_a_long_replay_comes_a_thousand_and_a_batch_at_once_then_a_batch_a_poll(
    forest: Forest,
) -> None:
    forest.fake.event_poll_interval = 0.5
    start = forest.fake.events.max_sequence(ORG)
    for number in range(1200):
        forest.fake.events.record(ORG, PROJECT, "artifact", "created", f"a{number}")

    follower = Follower(forest.client, since_sequence=start)
    # Reading 1100 events takes a third of a second alone, and several seconds on a machine
    # busy with other tests: the timeouts bound a hang, not the speed.
    await wait_until(lambda: len(follower.events) == 1100, 15.0)
    await asyncio.sleep(0.2)
    assert len(follower.events) == 1100  # forest's stream waits for the next wake-up or poll
    await wait_until(lambda: len(follower.events) == 1200, 5.0)
    await follower.stop()

    assert [e.resource_id for e in follower.events] == [f"a{n}" for n in range(1200)]


async def test_filters_keep_only_the_asked_for_project_types_and_actions(forest: Forest) -> None:
    follower = Follower(forest.client, actions=["completed"], project=PROJECT)
    await until_streaming(forest)

    forest.fake.add_artifact(ORG, PROJECT, title="an artifact is not a completion")
    other = await forest.fake.release(ORG, "platform-infra", [STAGING_THEN_PRODUCTION[0]])
    await forest.fake.finish_stage(other, "deploy-staging")
    mine = await forest.fake.release(ORG, PROJECT, [STAGING_THEN_PRODUCTION[0]])
    await forest.fake.finish_stage(mine, "deploy-staging")

    await wait_until(lambda: len(follower.events) == 1)
    await asyncio.sleep(0.1)
    await follower.stop()
    (completed,) = follower.events
    assert (completed.resource_id, completed.metadata["pipeline_status"]) == (mine, "SUCCEEDED")


async def test_a_stream_that_missed_a_wake_up_still_polls(forest: Forest) -> None:
    forest.fake.event_poll_interval = 0.2
    follower = Follower(forest.client)
    await until_streaming(forest)
    forest.fake.events.record(ORG, PROJECT, "policy", "updated", "p1", wake=False)

    await wait_until(lambda: follower.seen() == [("policy", "updated")], 2.0)
    await follower.stop()


async def test_the_stream_ends_cleanly_when_forest_stops(forest: Forest) -> None:
    follower = Follower(forest.client)
    await until_streaming(forest)

    await forest.fake.stop()

    await wait_until(lambda: follower.ended or follower.error is not None)
    assert (follower.ended, follower.error) == (True, None)


async def test_a_failed_stream_is_a_forest_error(forest: Forest) -> None:
    follower = Follower(forest.client)
    await until_streaming(forest)

    assert forest.fake.end_event_streams(grpc.StatusCode.UNAVAILABLE, "forest restarting") == 1

    await wait_until(lambda: follower.error is not None)
    assert isinstance(follower.error, ForestUnavailable)


async def test_subscribing_needs_a_valid_token(forest: Forest) -> None:
    stranger = ForestClient(forest.fake.url, "not-a-token")
    await stranger.open()
    try:
        with pytest.raises(ForestUnauthenticated):
            async for _ in stranger.org_events(ORG):
                pass
    finally:
        await stranger.close()
    assert forest.fake.calls_to("Subscribe")[-1].actor is None
