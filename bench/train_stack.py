"""The stack process's side of the release-train benchmark (bench/train.py): three channels of
approvals, people who click in them, forage's votes, and what Slack was asked and shows."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from blocks.modals import REASON_ACTION_ID, REASON_BLOCK_ID
from bot.local.fake_forest_records import Actor
from bot.local.local_stack import ORGANISATION, PROJECT
from bot.local.slack_signing import form_payload

if TYPE_CHECKING:
    from bench.stack_process import Stack

TRAIN_REQUIRED = 50  # more than will vote: no release is approved (and closed) mid-train
VIEW_WAIT_SECONDS = 5.0


def train_environment(number: int) -> str:
    return f"train-{number + 1}"


def train_channel(number: int) -> str:
    return f"C0TRAIN{number + 1}"


class TrainRoutes:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/train/setup", self.setup)
        app.router.add_post("/train/messages", self.messages)
        app.router.add_post("/train/click", self.click)
        app.router.add_post("/train/submission", self.submission)
        app.router.add_post("/train/forage-vote", self.forage_vote)
        app.router.add_get("/train/calls", self.calls)
        app.router.add_get("/train/shown", self.shown)

    async def setup(self, request: web.Request) -> web.Response:
        """Policies for the train's environments, forage's voters, and people not linked."""
        document = await request.json()
        forest, slack = self.stack.forest, self.stack.slack
        for number in range(int(document["channels"])):
            forest.add_policy(
                ORGANISATION,
                PROJECT,
                train_environment(number),
                name=f"train-{number + 1}-needs-many",
                required_approvals=TRAIN_REQUIRED,
            )
        for username in document["foragers"]:
            forest.add_user(username, email=f"{username}@acme.io")
            forest.add_member(ORGANISATION, username, role="member")
        for user_id in document["unlinked"]:
            slack.add_user(user_id, f"{user_id.lower()}@acme.io", user_id.lower())
        return web.json_response({"ok": True})

    async def messages(self, request: web.Request) -> web.Response:
        """Where each release intent's approval message is: {intent: [channel, ts]}."""
        document = await request.json()
        wanted = set(document["intents"])
        found: dict[str, list[str]] = {}
        for channel in document["channels"]:
            for message in self.stack.slack.messages(channel):
                payload = (message.metadata or {}).get("event_payload") or {}
                intent = payload.get("release_intent_id")
                if intent in wanted:
                    found[intent] = [channel, message.ts]
        return web.json_response(found)

    async def click(self, request: web.Request) -> web.Response:
        """The block_actions form a person's click on the message as it is now sends."""
        document = await request.json()
        payload = self.stack.slack.click_payload(
            document["channel"], document["ts"], document["user"], document["action_id"]
        )
        return web.json_response(
            {"body": form_payload(payload).decode(), "trigger_id": payload["trigger_id"]}
        )

    async def submission(self, request: web.Request) -> web.Response:
        """The reason modal opened by a click's trigger, submitted with a reason (once the bot
        has opened it; 404 when it did not within a few seconds)."""
        document = await request.json()
        slack = self.stack.slack
        deadline = time.monotonic() + VIEW_WAIT_SECONDS
        while True:
            view = next((v for v in slack.views if v.trigger_id == document["trigger_id"]), None)
            if view is not None:
                break
            if time.monotonic() > deadline:
                return web.json_response({"error": "no modal opened"}, status=404)
            await asyncio.sleep(0.02)
        values = {REASON_BLOCK_ID: {REASON_ACTION_ID: document["reason"]}}
        payload = slack.submission_payload(view.id, document["user"], values)
        return web.json_response({"body": form_payload(payload).decode()})

    async def forage_vote(self, request: web.Request) -> web.Response:
        """A vote cast in forage's web UI: stored in forest, which nudges the bot."""
        document = await request.json()
        await self.stack.forest.cast_vote(
            Actor("user", document["username"], token=""),
            (ORGANISATION, PROJECT),
            document["intent"],
            document["environment"],
            "approved",
            comment=document.get("comment"),
        )
        return web.json_response({"at": time.monotonic()})

    async def calls(self, request: web.Request) -> web.Response:
        """Every Web API call since ``from``: when it arrived, its answer, and what it said."""
        start = int(request.query.get("from", 0))
        rows: list[list[Any]] = []
        for call in self.stack.slack.calls[start:]:
            args = call.args
            rows.append(
                [
                    call.at,
                    call.method,
                    call.status,
                    bool(call.ok),
                    str(args.get("channel") or ""),
                    str(args.get("ts") or ""),
                    str(args.get("thread_ts") or ""),
                    str(args.get("user") or ""),
                    str(args.get("trigger_id") or ""),
                    _intent_of(args),
                ]
            )
        return web.json_response(rows)

    async def shown(self, request: web.Request) -> web.Response:
        """What people see in each channel now: each approval message, and its thread's text."""
        shown: dict[str, dict[str, Any]] = {}
        for channel in request.query["channels"].split(","):
            for message in self.stack.slack.messages(channel):
                payload = (message.metadata or {}).get("event_payload") or {}
                intent = payload.get("release_intent_id")
                if not intent:
                    continue
                thread = self.stack.slack.thread(channel, message.ts)
                shown[intent] = {
                    "channel": channel,
                    "ts": message.ts,
                    "text": message.text,
                    "blocks": json.dumps(message.blocks or []),
                    "replies": [reply.text for reply in thread],
                }
        return web.json_response(shown)


def _intent_of(args: dict[str, Any]) -> str:
    metadata = args.get("metadata")
    if isinstance(metadata, dict):
        return str((metadata.get("event_payload") or {}).get("release_intent_id") or "")
    return ""
