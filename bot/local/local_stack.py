"""Everything the bot talks to, running locally: nats-server, the fake forest, the fake Slack.

Tests and the local demo start the real bot against this stack, so both exercise the production
code path: events over JetStream, votes over gRPC, Slack's Web API and signed requests over HTTP.
Like a real installation it runs two nats-servers: the bot's own with JetStream (NATS_URL) and
forest's without it (FOREST_NATS_URL), where the fake forest publishes its core subjects.
A bot started with ``FOREST_ORGANISATION=ORGANISATION`` also watches forest itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import nats
from nats.aio.client import Client as NATS

from blocks.modals import REASON_ACTION_ID, REASON_BLOCK_ID
from bot.config import load_settings
from bot.events.consumer import ensure_stream
from bot.local.bot_process import BotProcess
from bot.local.fake_forest import FakeForest
from bot.local.fake_forest_credentials import DeviceGrant
from bot.local.fake_slack import FakeSlack
from bot.local.fake_slack_model import SlackMessage
from bot.local.nats_server import (
    NatsCluster,
    NatsServer,
    free_port,
    run_nats_cluster,
    run_nats_server,
)
from bot.local.slack_signing import (
    Delivery,
    event_callback_body,
    form_payload,
    message_event,
    post_signed,
    slash_command_payload,
)
from bot.wiring import Bot, Tuning

ORGANISATION = "acme"
PROJECT = "payments-api"
CHANNEL = "C0APPROVALS"
TEAM_ID = "T0ACME"
SECRET_KEY = "local-stack-secret-key-0123456789abcdef"
FAST = Tuning(coalesce_window=0.2, reconcile_interval=60.0, device_poll_floor=0.05)


@dataclass(frozen=True)
class Person:
    username: str
    slack_user_id: str
    role: str | None  # None: not a member of the organisation

    @property
    def email(self) -> str:
        return f"{self.username}@acme.io"


PEOPLE = (
    Person("alice", "U0ALICE", "member"),  # writes releases
    Person("dave", "U0DAVE", "admin"),  # writes releases, and may bypass
    Person("bob", "U0BOB", "member"),
    Person("carol", "U0CAROL", "member"),
    Person("mallory", "U0MALLORY", None),
)


@dataclass
class LocalStack:
    nats_server: NatsServer | NatsCluster
    forest: FakeForest
    slack: FakeSlack
    session: aiohttp.ClientSession
    nc: NATS
    workdir: Path = field(default_factory=Path.cwd)
    # forest's own NATS (core only); None when forest publishes on the bot's NATS
    forest_nats_server: NatsServer | None = None
    bots: list[Bot] = field(default_factory=list)
    processes: list[BotProcess] = field(default_factory=list)
    last_command_reply: str = ""

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_SIGNING_SECRET": self.slack.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "NATS_URL": self.nats_server.url,
            "FOREST_NATS_URL": self.forest_nats_server.url if self.forest_nats_server else "",
            "FOREST_GRPC_URL": self.forest.url,
            "FOREST_APP_TOKEN": self.forest.issue_app_token(ORGANISATION),
            "FOREST_WEB_URL": "http://forage.local",
            "APPROVALS_CHANNEL": CHANNEL,
            "BOT_SECRET_KEY": SECRET_KEY,
            "HOST": "127.0.0.1",
            "PORT": "0",
        }
        env.update(overrides)
        return {key: value for key, value in env.items() if value}

    async def start_bot(self, tuning: Tuning = FAST, **env: str) -> Bot:
        settings = load_settings(self.env(**env), allow_any_port=True)
        bot = Bot(settings, tuning)
        await bot.start()
        self.bots.append(bot)
        return bot

    async def start_bot_process(self, tuning: Tuning = FAST, **env: str) -> BotProcess:
        """The real bot in its own process (for kills, restarts and replicas)."""
        index = len(self.processes)
        process = BotProcess(
            self.env(PORT=str(free_port()), **env), tuning, self.workdir / f"bot-{index}.log"
        )
        self.processes.append(process)
        await process.start()
        return process

    async def stop_bot(self, bot: Bot) -> None:
        self.bots.remove(bot)
        await bot.stop()

    def bot_url(self, bot: Bot | BotProcess | None = None) -> str:
        bot = bot or (self.bots[0] if self.bots else self.processes[0])
        if isinstance(bot, BotProcess):
            return bot.url
        return f"http://127.0.0.1:{bot.port}"

    def new_release(self, author: str = "alice", environment: str = "production") -> str:
        return self.forest.add_release_intent(ORGANISATION, PROJECT, author=author)

    async def announce(
        self,
        intent_id: str,
        environment: str = "production",
        author: str = "alice",
        required_approvals: int = 2,
        event_id: str | None = None,
        project: str = PROJECT,
        **release: Any,
    ) -> dict[str, Any]:
        """Publish forest's approval-required event, as forest's coordinator would."""
        person = next(p for p in PEOPLE if p.username == author)
        user = self.forest.world.users[author]
        event = approval_event(
            ORGANISATION,
            project,
            intent_id,
            environment,
            required_approvals,
            {"user_id": user.user_id, "username": author, "email": person.email},
            event_id,
            **release,
        )
        await self.publish_raw(
            f"forest.approval.required.{ORGANISATION}.{project}",
            json.dumps(event).encode(),
            event["event_id"],
        )
        return event

    async def open_approval(
        self, author: str = "alice", environment: str = "production", **event: Any
    ) -> tuple[str, str]:
        """A new release by ``author`` blocked on ``environment``, once its message is posted;
        returns (release intent id, message ts)."""
        intent = self.new_release(author=author)
        await self.announce(intent, environment=environment, author=author, **event)
        await wait_for(
            lambda: self.message_of(intent, environment) is not None, f"the message of {intent}"
        )
        message = self.message_of(intent, environment)
        assert message is not None
        return intent, message.ts

    def message_of(self, intent: str, environment: str = "production") -> SlackMessage | None:
        """The approval message of an intent, found by the metadata the bot posts with it."""
        for message in self.slack.messages(CHANNEL):
            payload = (message.metadata or {}).get("event_payload", {})
            if payload == {"release_intent_id": intent, "target_environment": environment}:
                return message
        return None

    async def publish_raw(self, subject: str, payload: bytes, msg_id: str | None = None) -> None:
        js = self.nc.jetstream()
        await ensure_stream(js)
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await js.publish(subject, payload, headers=headers)

    async def post(
        self,
        body: bytes,
        bot: Bot | BotProcess | None = None,
        retry_num: int | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
    ) -> Delivery:
        """Deliver a request to the bot's /slack/events, signed as Slack signs it."""
        return await post_signed(
            self.session,
            f"{self.bot_url(bot)}/slack/events",
            body,
            signing_secret or self.slack.signing_secret,
            retry_num=retry_num,
            timestamp=timestamp,
        )

    # What people do in Slack, delivered to the bot the way Slack delivers it.

    def person(self, username: str) -> Person:
        return next(p for p in PEOPLE if p.username == username)

    async def click(
        self,
        username: str,
        ts: str,
        action_id: str,
        bot: Bot | BotProcess | None = None,
        channel: str = CHANNEL,
        retry_num: int | None = None,
    ) -> Delivery:
        """``username`` clicks a button that is on the message as Slack shows it now."""
        user = self.person(username).slack_user_id
        payload = self.slack.click_payload(channel, ts, user, action_id)
        return await self.post(form_payload(payload), bot, retry_num=retry_num)

    async def submit(
        self, username: str, view_id: str, reason: str, bot: Bot | BotProcess | None = None
    ) -> Delivery:
        """``username`` types ``reason`` into the open reject or bypass modal and submits it."""
        user = self.person(username).slack_user_id
        payload = self.slack.submission_payload(
            view_id, user, {REASON_BLOCK_ID: {REASON_ACTION_ID: reason}}
        )
        return await self.post(form_payload(payload), bot)

    async def command(self, username: str, text: str, bot: Bot | BotProcess | None = None) -> str:
        """``username`` types ``/forest <text>``, which Slack sends encoded as it does
        (``FakeSlack.command_text``); returns the response_url the bot may answer."""
        person = self.person(username)
        response_url = self.slack.new_response_url(CHANNEL, person.slack_user_id)
        payload = slash_command_payload(
            self.slack.identity.team_id,
            person.slack_user_id,
            "/forest",
            self.slack.command_text(text),
            response_url,
            self.slack.new_trigger_id(person.slack_user_id),
            CHANNEL,
            user_name=person.username,
        )
        target = bot or (self.bots[0] if self.bots else self.processes[0])
        socket_mode = (
            "SLACK_APP_TOKEN" in target.env
            if isinstance(target, BotProcess)
            else target.settings.socket_mode
        )
        if socket_mode:
            ack = await self.slack.socket_send("slash_commands", payload, True)
            self.last_command_reply = json.dumps(ack or {})
            return response_url
        delivery = await self.post(urlencode(payload).encode(), bot)
        assert delivery.status == 200, delivery
        self.last_command_reply = delivery.body
        return response_url

    async def reply_in_thread(
        self,
        username: str,
        thread_ts: str,
        text: str,
        bot: Bot | BotProcess | None = None,
        retry_num: int | None = None,
        event_id: str | None = None,
        *,
        broadcast: bool = False,
        files: list[str] | None = None,
    ) -> tuple[str, str]:
        """``username`` types ``text`` as a reply in a thread; Slack encodes it as it does
        (``&amp;``, ``<https://…>``, ``<@U…>``) and delivers the event. ``broadcast`` also sends
        it to the channel, ``files`` attaches files. Returns (message ts, event id) for replays.
        """
        user = self.person(username).slack_user_id
        reply, event = self.slack.person_writes(
            CHANNEL, user, text, thread_ts, broadcast=broadcast, files=files
        )
        event_id = event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"
        await self.deliver_event(event, event_id, bot, retry_num)
        return reply.ts, event_id

    async def deliver_message_event(
        self,
        user: str,
        ts: str,
        thread_ts: str,
        text: str,
        event_id: str,
        bot: Bot | BotProcess | None = None,
        retry_num: int | None = None,
    ) -> Delivery:
        """A plain message event with ``text`` as given (already in Slack's wire encoding)."""
        event = message_event(
            self.slack.identity.team_id, CHANNEL, user, text, ts, thread_ts=thread_ts
        )
        return await self.deliver_event(event, event_id, bot, retry_num)

    async def deliver_event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        bot: Bot | BotProcess | None = None,
        retry_num: int | None = None,
    ) -> Delivery:
        """Deliver an Events API ``event`` to the bot, signed; the bot must answer 200."""
        body = event_callback_body(
            self.slack.identity.team_id,
            event,
            event_id,
            bot_user_id=self.slack.identity.bot_user_id,
        )
        delivery = await self.post(body, bot, retry_num=retry_num)
        assert delivery.status == 200, delivery
        return delivery

    async def link(self, username: str, bot: Bot | BotProcess | None = None) -> None:
        """Link ``username``'s Slack account through the real device flow."""
        response_url = await self.command(username, "login", bot)
        await self.approve_pending_login(username, response_url)

    async def approve_pending_login(self, username: str, response_url: str) -> None:
        await approve_login(
            self.forest, self.slack, self.person(username).slack_user_id, username, response_url
        )

    async def pending_login(self, username: str) -> DeviceGrant:
        return await pending_login(self.forest, self.person(username).slack_user_id, username)


async def pending_login(
    forest: FakeForest, slack_user_id: str, username: str, timeout: float = 5.0
) -> DeviceGrant:
    """The device login the bot started for this Slack user, once forest has it."""
    await wait_for(
        lambda: any(slack_user_id in g.client_name for g in forest.pending_device_logins()),
        f"a device login for {username}",
        timeout,
    )
    return next(g for g in forest.pending_device_logins() if slack_user_id in g.client_name)


async def approve_login(
    forest: FakeForest,
    slack: FakeSlack,
    slack_user_id: str,
    username: str,
    response_url: str,
    timeout: float = 5.0,
) -> None:
    """``username`` approves in forage the login the bot started for them; returns once the
    bot told them they are linked."""
    grant = await pending_login(forest, slack_user_id, username, timeout)
    forest.approve_device_code(grant.user_code, username)
    await wait_for(
        lambda: any(
            "You're linked to forest as" in str(p.body.get("text", ""))
            for p in slack.responses(response_url)
        ),
        f"{username} linked",
        timeout,
    )


def approval_event(
    organisation: str,
    project: str,
    intent_id: str,
    environment: str,
    required_approvals: int,
    author: dict[str, str],
    event_id: str | None = None,
    **release: Any,
) -> dict[str, Any]:
    """Forest's approval-required event for a sample release, as its coordinator sends it:
    blocked now."""
    blocked_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "organisation": organisation,
        "project": project,
        "release_intent_id": intent_id,
        "target_environment": environment,
        "policy_name": "prod-needs-two",
        "required_approvals": required_approvals,
        "blocked_at": blocked_at,
        "release": {
            "slug": "evidently-assisting-ladybeetle",
            "title": "fix: retry card captures on timeout (#812)",
            "description": "Retries the capture call twice with jitter.",
            "commit_sha": "9f2c1e7",
            "commit_branch": "main",
            "author": author,
            **release,
        },
    }


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def seed(forest: FakeForest, slack: FakeSlack, *, gate_staging: bool = True) -> None:
    forest.add_organisation(ORGANISATION)
    forest.add_project(ORGANISATION, PROJECT)
    forest.add_policy(
        ORGANISATION, PROJECT, "production", name="prod-needs-two", required_approvals=2
    )
    if gate_staging:
        forest.add_policy(ORGANISATION, PROJECT, "staging", name="staging-needs-one")
    # where forest's pipelines deploy: one destination per environment
    forest.add_destination(ORGANISATION, "staging", "staging-eu-1")
    forest.add_destination(ORGANISATION, "production", "production-eu-1")
    for person in PEOPLE:
        forest.add_user(person.username, email=person.email)
        if person.role is not None:
            forest.add_member(ORGANISATION, person.username, role=person.role)
        slack.add_user(person.slack_user_id, person.email, person.username)


async def _ignore_connection_errors(error: Exception) -> None:
    """Tests restart NATS on purpose; the client reconnects by itself."""


@asynccontextmanager
async def local_stack(
    store_dir: Path,
    *,
    separate_forest_nats: bool = True,
    gate_staging: bool = True,
    nats_max_file_store: str | None = None,
    nats_cluster: int = 0,
) -> AsyncIterator[LocalStack]:
    """``separate_forest_nats=False``: forest publishes on the bot's NATS (one server for both,
    which the bot supports too). ``gate_staging=False``: no approval policy for staging, so a
    staging-then-production pipeline only waits for votes before production.
    ``nats_max_file_store`` limits the bot's JetStream store (e.g. "8MB"), to fill it on purpose;
    ``nats_cluster`` runs the bot's NATS as a cluster of that many nodes."""
    async with contextlib.AsyncExitStack() as servers:
        bot_nats: contextlib.AbstractAsyncContextManager[NatsServer | NatsCluster] = (
            run_nats_cluster(store_dir / "nats", nats_cluster)
            if nats_cluster
            else run_nats_server(store_dir / "nats", max_file_store=nats_max_file_store)
        )
        nats_server = await servers.enter_async_context(bot_nats)
        forest_nats = None
        if separate_forest_nats:
            forest_nats = await servers.enter_async_context(
                run_nats_server(store_dir / "forest-nats", jetstream=False)
            )
        forest = FakeForest(
            web_url="http://forage.local",
            nats_url=(forest_nats or nats_server).url,
            device_poll_interval=0,
        )
        slack = FakeSlack(team_id=TEAM_ID)
        seed(forest, slack, gate_staging=gate_staging)
        await forest.start()
        await slack.start()
        session = aiohttp.ClientSession()
        nc = await nats.connect(nats_server.url.split(","), error_cb=_ignore_connection_errors)
        stack = LocalStack(
            nats_server, forest, slack, session, nc, workdir=store_dir,
            forest_nats_server=forest_nats,
        )  # fmt: skip
        try:
            yield stack
        finally:
            for bot in list(stack.bots):
                await stack.stop_bot(bot)
            for process in stack.processes:
                process.kill()
                await process.wait_killed()
            await nc.close()
            await session.close()
            await slack.stop()
            await forest.stop()
