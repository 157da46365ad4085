"""The load generator's side of the stack process's control API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class StackInfo:
    nats_url: str
    forest_url: str
    forest_app_token: str
    slack_api_url: str
    slack_bot_token: str
    slack_signing_secret: str
    channel: str
    team_id: str
    organisation: str
    project: str
    train_environment: str
    train_required_approvals: int
    author: dict[str, str]

    def bot_env(self, port: int, secret_key: str) -> dict[str, str]:
        """The bot's configuration, with the variable names of LocalStack.env()."""
        return {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_API_URL": self.slack_api_url,
            "NATS_URL": self.nats_url,
            "FOREST_GRPC_URL": self.forest_url,
            "FOREST_APP_TOKEN": self.forest_app_token,
            "FOREST_WEB_URL": "http://forage.local",
            "APPROVALS_CHANNEL": self.channel,
            "BOT_SECRET_KEY": secret_key,
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }


@dataclass(frozen=True)
class Mark:
    """Where the call logs stood at a moment; records are asked for from a mark on."""

    slack_calls: int
    forest_calls: int
    votes: int

    def query(self) -> dict[str, str]:
        return {
            "slack_calls": str(self.slack_calls),
            "forest_calls": str(self.forest_calls),
            "votes": str(self.votes),
        }


@dataclass(frozen=True)
class Update:
    at: float
    ts: str
    mentions: frozenset[str]


@dataclass(frozen=True)
class Records:
    posts: list[tuple[float, str]]  # (arrived at, release intent id) of approval messages
    updates: list[Update]
    reads: dict[str, int]  # approval state reads per release intent
    votes: list[tuple[float, str, str]]  # (stored at, release intent id, username)


class StackControl:
    def __init__(self, url: str) -> None:
        self._url = url
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))

    @property
    def url(self) -> str:
        return self._url

    async def close(self) -> None:
        await self._session.close()

    async def _get(self, path: str, **query: str) -> Any:
        async with self._session.get(self._url + path, params=query) as reply:
            reply.raise_for_status()
            return await reply.json()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        async with self._session.post(self._url + path, json=body) as reply:
            reply.raise_for_status()
            return await reply.json()

    async def info(self) -> StackInfo:
        return StackInfo(**await self._get("/info"))

    async def reviewers(self, count: int) -> list[dict[str, str]]:
        return list(await self._post("/reviewers", {"count": count}))

    async def intents(self, count: int) -> list[str]:
        return list(await self._post("/intents", {"count": count}))

    async def link(self, bot_url: str, usernames: list[str]) -> None:
        await self._post("/link", {"bot_url": bot_url, "usernames": usernames})

    async def messages(self, intents: list[str]) -> dict[str, str]:
        return dict(await self._post("/messages", {"intents": intents}))

    async def click_payloads(
        self, clicks: list[tuple[str, str]], action_id: str
    ) -> list[dict[str, Any]]:
        return list(await self._post("/click-payloads", {"clicks": clicks, "action_id": action_id}))

    async def silent_votes(self, votes: list[tuple[str, str, str]]) -> None:
        await self._post("/silent-votes", {"votes": votes})

    async def mark(self) -> Mark:
        found = await self._get("/mark")
        return Mark(found["slack_calls"], found["forest_calls"], found["votes"])

    async def records(self, since: Mark) -> Records:
        found = await self._get("/records", **since.query())
        return Records(
            posts=[(at, intent) for at, intent in found["posts"]],
            updates=[Update(at, ts, frozenset(m)) for at, ts, m in found["updates"]],
            reads=found["reads"],
            votes=[(at, intent, user) for at, intent, user in found["votes"]],
        )

    async def progress(self, since: Mark) -> tuple[int, int]:
        """(approval messages posted, approval messages closed) since ``since``."""
        found = await self._get("/progress", slack_calls=str(since.slack_calls))
        return int(found["posted"]), int(found["closed"])

    async def forget_calls(self) -> None:
        await self._post("/forget-calls", {})
