"""A release's facts come from its artifact in forest, read over a real socket from the fake."""

from __future__ import annotations

from fake_forest_support import ORG, PROJECT, STAGING_THEN_PRODUCTION, running_forest

from bot.watch.artifact_facts import ArtifactFacts


async def test_a_new_release_right_after_another_still_gets_its_artifact() -> None:
    async with running_forest() as forest:
        facts = ArtifactFacts(forest.client, reread_after=60.0)
        first = forest.fake.add_artifact(ORG, PROJECT, title="fix: first (#1)")
        first_intent = await forest.fake.release(
            ORG, PROJECT, STAGING_THEN_PRODUCTION, artifact=first
        )
        (intent,) = await forest.client.release_intents(ORG)
        assert intent.release_intent_id == first_intent
        assert (await facts.release(ORG, intent)).title == "fix: first (#1)"

        second = forest.fake.add_artifact(ORG, PROJECT, title="fix: second (#2)")
        await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION, artifact=second)
        newest = (await forest.client.release_intents(ORG))[0]

        assert (await facts.release(ORG, newest)).title == "fix: second (#2)"
        assert len(forest.fake.calls_to("GetArtifactsByProject")) == 2


async def test_an_artifact_forest_does_not_list_is_not_asked_for_again_at_once() -> None:
    async with running_forest() as forest:
        facts = ArtifactFacts(forest.client, reread_after=60.0)
        await forest.fake.release(ORG, PROJECT, STAGING_THEN_PRODUCTION)
        (intent,) = await forest.client.release_intents(ORG)
        forest.fake.releases.artifacts.clear()  # forest lost it

        for _ in range(3):
            release = await facts.release(ORG, intent)

        assert (release.title, release.artifact_id) == ("", intent.artifact_id)
        assert len(forest.fake.calls_to("GetArtifactsByProject")) == 1
