"""A fake forest seeded for pipeline tests, and the bot's own forest client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.forest.client import ForestClient
from bot.local.fake_forest import FakeForest, deploy

ORG = "acme"
PROJECT = "payments-api"
INFRA = "platform-infra"

STAGING_THEN_PRODUCTION = (
    deploy("staging"),
    deploy("production", depends_on=["deploy-staging"]),
)


@dataclass
class Forest:
    fake: FakeForest
    client: ForestClient

    def token(self, username: str) -> str:
        return self.fake.issue_user_token(username)


def seeded(**options: Any) -> FakeForest:
    """acme with payments-api (production needs two approvals, staging has no policy) and
    platform-infra (no policies); one destination per environment; globex next door."""
    forest = FakeForest(web_url="https://forage.test", **options)
    forest.add_organisation(ORG)
    forest.add_organisation("globex")
    for name in ("alice", "bob", "carol", "mallory"):
        forest.add_user(name, email=f"{name}@{ORG}.io")
    for name in ("alice", "bob", "carol"):
        forest.add_member(ORG, name)
    forest.add_member("globex", "mallory")
    forest.add_project(ORG, PROJECT)
    forest.add_project(ORG, INFRA)
    forest.add_project("globex", "rockets")
    forest.add_policy(ORG, PROJECT, "production", name="prod-needs-two", required_approvals=2)
    forest.add_destination(ORG, "staging", "staging-eu-1")
    forest.add_destination(ORG, "production", "production-eu-1")
    forest.add_destination(ORG, "production", "production-us-1")
    return forest


@asynccontextmanager
async def running_forest(**options: Any) -> AsyncIterator[Forest]:
    fake = seeded(**options)
    async with fake:
        client = ForestClient(fake.url, fake.issue_app_token(ORG))
        await client.open()
        try:
            yield Forest(fake, client)
        finally:
            await client.close()
