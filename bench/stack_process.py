"""The world around the bot, in a process of its own: nats-server, the fake forest, the fake Slack.

It runs apart from the load generator so that the fakes' own work (answering HTTP and
gRPC) never delays the clocks that time the bot. A small HTTP control API seeds people and
releases, links reviewers through the real device flow, builds the click payloads a person could
really send, and hands back when things arrived: every Slack call and forest vote carries the
system-wide monotonic time, which the load generator reads from the same clock.

    python -m bench.stack_process --store DIR     # prints one JSON line with the control URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

import bot.local.fake_slack
import bot.local.fake_slack_api
from bench.indexed_workspace import IndexedWorkspace
from bench.train_stack import TrainRoutes
from bot.local.fake_forest import FakeForest
from bot.local.fake_forest_records import Actor
from bot.local.fake_forest_world import ForestWorld
from bot.local.fake_slack import FakeSlack
from bot.local.local_stack import (
    CHANNEL,
    ORGANISATION,
    PROJECT,
    TEAM_ID,
    approve_login,
    seed,
)
from bot.local.nats_server import run_nats_server
from bot.local.slack_signing import post_signed, slash_command_payload

AUTHOR = "alice"
# Click phases vote here: the policy asks for more approvals than there are reviewers, so every
# click is a new vote and no release is approved (and closed to votes) half way through.
TRAIN_ENVIRONMENT = "train"
TRAIN_REQUIRED_APPROVALS = 50
LINK_TIMEOUT_SECONDS = 30.0
# The fallback text of an approval message once its release deployed.
CLOSED_TEXT_END = "— deployed"
_MENTION = re.compile(r"<@(U[A-Z0-9]+)>")


class TimedWorld(ForestWorld):
    """Forest's rules, plus the moment each vote was stored."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.vote_times: list[tuple[float, str, str]] = []

    def cast_vote(self, actor: Actor, *args: Any, **kwargs: Any) -> Any:
        intent_id, state = super().cast_vote(actor, *args, **kwargs)
        self.vote_times.append((time.monotonic(), intent_id, actor.name))
        return intent_id, state


class Stack:
    def __init__(self, forest: FakeForest, slack: FakeSlack, nats_url: str) -> None:
        self.forest = forest
        self.slack = slack
        self.nats_url = nats_url
        self.world = forest.world
        assert isinstance(self.world, TimedWorld)
        self.reviewers: list[dict[str, str]] = []
        self.session: aiohttp.ClientSession | None = None

    # Control API

    def routes(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_get("/info", self.info)
        app.router.add_post("/reviewers", self.add_reviewers)
        app.router.add_post("/intents", self.add_intents)
        app.router.add_post("/link", self.link)
        app.router.add_post("/messages", self.messages)
        app.router.add_post("/click-payloads", self.click_payloads)
        app.router.add_post("/silent-votes", self.silent_votes)
        app.router.add_get("/mark", self.mark)
        app.router.add_get("/records", self.records)
        app.router.add_get("/progress", self.progress)
        app.router.add_post("/forget-calls", self.forget_calls)
        TrainRoutes(self).add_to(app)
        return app

    async def info(self, _: web.Request) -> web.Response:
        author = self.world.users[AUTHOR]
        return web.json_response(
            {
                "nats_url": self.nats_url,
                "forest_url": self.forest.url,
                "forest_app_token": self.forest.issue_app_token(ORGANISATION),
                "slack_api_url": self.slack.api_url,
                "slack_bot_token": self.slack.bot_token,
                "slack_signing_secret": self.slack.signing_secret,
                "channel": CHANNEL,
                "team_id": TEAM_ID,
                "organisation": ORGANISATION,
                "project": PROJECT,
                "train_environment": TRAIN_ENVIRONMENT,
                "train_required_approvals": TRAIN_REQUIRED_APPROVALS,
                "author": {
                    "user_id": author.user_id,
                    "username": author.username,
                    "email": author.emails[0],
                },
            }
        )

    async def add_reviewers(self, request: web.Request) -> web.Response:
        count = int((await request.json())["count"])
        while len(self.reviewers) < count:
            number = len(self.reviewers) + 1
            username = f"reviewer{number:03d}"
            slack_user_id = f"U0REV{number:03d}"
            email = f"{username}@acme.io"
            self.forest.add_user(username, email=email)
            self.forest.add_member(ORGANISATION, username, role="member")
            self.slack.add_user(slack_user_id, email, username)
            self.reviewers.append({"username": username, "slack_user_id": slack_user_id})
        return web.json_response(self.reviewers[:count])

    async def add_intents(self, request: web.Request) -> web.Response:
        count = int((await request.json())["count"])
        intents = [
            self.forest.add_release_intent(ORGANISATION, PROJECT, author=AUTHOR)
            for _ in range(count)
        ]
        return web.json_response(intents)

    async def link(self, request: web.Request) -> web.Response:
        """Link reviewers to forest through the bot's real ``/forest login`` device flow."""
        document = await request.json()
        bot_url, usernames = document["bot_url"], document["usernames"]
        await asyncio.gather(*(self._link_one(bot_url, name) for name in usernames))
        return web.json_response({"linked": len(usernames)})

    async def _link_one(self, bot_url: str, username: str) -> None:
        assert self.session is not None
        user = next(r["slack_user_id"] for r in self.reviewers if r["username"] == username)
        response_url = self.slack.new_response_url(CHANNEL, user)
        payload = slash_command_payload(
            TEAM_ID,
            user,
            "/forest",
            "login",
            response_url,
            self.slack.new_trigger_id(user),
            CHANNEL,
            user_name=username,
        )
        delivery = await post_signed(
            self.session,
            f"{bot_url}/slack/events",
            urlencode(payload).encode(),
            self.slack.signing_secret,
        )
        if delivery.status != 200:
            raise RuntimeError(f"/forest login for {username} answered {delivery.status}")
        await approve_login(
            self.forest, self.slack, user, username, response_url, LINK_TIMEOUT_SECONDS
        )

    async def messages(self, request: web.Request) -> web.Response:
        """The ts of the approval message of each release intent asked for."""
        wanted = set((await request.json())["intents"])
        found: dict[str, str] = {}
        for message in self.slack.messages(CHANNEL):
            payload = (message.metadata or {}).get("event_payload") or {}
            intent = payload.get("release_intent_id")
            if intent in wanted:
                found[intent] = message.ts
        return web.json_response(found)

    async def click_payloads(self, request: web.Request) -> web.Response:
        """block_actions payloads for clicks on buttons that are really on the messages."""
        document = await request.json()
        action_id = document["action_id"]
        payloads = [
            self.slack.click_payload(CHANNEL, ts, user, action_id)
            for ts, user in document["clicks"]
        ]
        return web.json_response(payloads)

    async def silent_votes(self, request: web.Request) -> web.Response:
        """Votes stored in forest without the nudge forest would publish: messages go stale."""
        for intent, environment, username in (await request.json())["votes"]:
            self.world.cast_vote(
                _user_actor(username), (ORGANISATION, PROJECT), intent, environment, "approved"
            )
        return web.json_response({"ok": True})

    async def mark(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "slack_calls": len(self.slack.calls),
                "forest_calls": len(self.forest.calls),
                "votes": len(self.world.vote_times),
                "now": time.monotonic(),
            }
        )

    async def records(self, request: web.Request) -> web.Response:
        """What arrived since a mark: posts and updates in the channel, forest reads and votes."""
        slack_from = int(request.query.get("slack_calls", 0))
        forest_from = int(request.query.get("forest_calls", 0))
        votes_from = int(request.query.get("votes", 0))
        posts: list[tuple[float, str]] = []
        updates: list[tuple[float, str, list[str]]] = []
        for call in self.slack.calls[slack_from:]:
            if call.response is None or not call.ok:
                continue
            if call.method == "chat.postMessage":
                if call.args.get("thread_ts"):
                    continue
                metadata = call.args.get("metadata")
                payload = metadata.get("event_payload", {}) if isinstance(metadata, dict) else {}
                intent = payload.get("release_intent_id")
                if intent:
                    posts.append((call.at, intent))
            elif call.method == "chat.update":
                shown = json.dumps(call.args.get("blocks"))
                mentions = sorted(set(_MENTION.findall(shown)))
                updates.append((call.at, str(call.args.get("ts")), mentions))
        reads: dict[str, int] = {}
        for received in self.forest.calls[forest_from:]:
            if received.method == "GetExternalApprovalState":
                intent = received.request.release_intent_id  # type: ignore[attr-defined]
                reads[intent] = reads.get(intent, 0) + 1
        return web.json_response(
            {
                "posts": posts,
                "updates": updates,
                "reads": reads,
                "votes": self.world.vote_times[votes_from:],
            }
        )

    async def progress(self, request: web.Request) -> web.Response:
        """Cheap counts since a mark, for waiting: approval messages posted, and closed."""
        posted = closed = 0
        for call in self.slack.calls[int(request.query.get("slack_calls", 0)) :]:
            if call.response is None or not call.ok:
                continue
            if call.method == "chat.postMessage" and not call.args.get("thread_ts"):
                posted += isinstance(call.args.get("metadata"), dict)
            elif call.method == "chat.update":
                closed += str(call.args.get("text", "")).endswith(CLOSED_TEXT_END)
        return web.json_response({"posted": posted, "closed": closed})

    async def forget_calls(self, _: web.Request) -> web.Response:
        """Drop the call logs (not the workspace) between phases; marks start again from 0."""
        self.slack.calls.clear()
        self.forest.calls.clear()
        self.world.vote_times.clear()
        return web.json_response({"ok": True})


def _user_actor(username: str) -> Actor:
    return Actor("user", username, token="")


def make_the_fake_slack_cheap() -> None:
    """The fake Slack answers at once (no added latency), but its own CPU is spent on the same
    two cores as the bot's: here it keeps its messages indexed, and skips checking Block Kit
    with slack_sdk's models, which cost it about half a millisecond per message (the tests keep
    that check). The fakes then use a small share of the machine, and the bot and the floors
    face the same fake."""
    # The fake Slack builds its workspace, and checks blocks, by these module-level names.
    bot.local.fake_slack.SlackWorkspace = IndexedWorkspace  # type: ignore[misc]
    bot.local.fake_slack_api.block_problems = _no_block_problems


def _no_block_problems(blocks: object, limit: int = 0) -> list[str]:
    return [] if isinstance(blocks, list) else ["blocks must be a JSON array of objects"]


async def serve(store_dir: Path, rate_limits: bool = False) -> None:
    make_the_fake_slack_cheap()
    async with run_nats_server(store_dir / "nats") as nats_server:
        forest = FakeForest(
            web_url="http://forage.local",
            nats_url=nats_server.url,
            device_poll_interval=0,
            world=TimedWorld,
        )
        slack = FakeSlack(team_id=TEAM_ID, rate_limits=rate_limits)
        seed(forest, slack)
        forest.add_policy(
            ORGANISATION,
            PROJECT,
            TRAIN_ENVIRONMENT,
            name="train-needs-everyone",
            required_approvals=TRAIN_REQUIRED_APPROVALS,
        )
        await forest.start()
        await slack.start()
        stack = Stack(forest, slack, nats_server.url)
        stack.session = aiohttp.ClientSession()
        runner = web.AppRunner(stack.routes(), access_log=None, handle_signals=False)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        print(json.dumps({"control_url": f"http://127.0.0.1:{port}"}), flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await stack.session.close()
            await slack.stop()
            await forest.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="where nats-server keeps data")
    parser.add_argument(
        "--rate-limits", action="store_true", help="the fake Slack answers 429 past Slack's limits"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.store, args.rate_limits))


if __name__ == "__main__":
    main()
