"""Building the bot: every long-lived object is made here, handed in, closed in reverse order."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from nats.js import JetStreamContext
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.announcer import CLAIM_TIMEOUT_SECONDS, Announcer
from bot.approvals.keeper import Keeper
from bot.approvals.open_approvals import OpenApprovals
from bot.approvals.pending import PendingApprovals, Permalinks
from bot.approvals.presenter import Presenter
from bot.approvals.reminders import ReminderMarks, Reminders
from bot.approvals.routing import Router, load_router
from bot.approvals.voting import VoteService
from bot.config import ConfigError, Settings
from bot.events.consumer import ACK_WAIT_SECONDS, ApprovalConsumer
from bot.events.nudges import Coalescer, NudgeListener, Reconciler
from bot.forest.client import ForestClient
from bot.forest.errors import (
    ForestError,
    ForestNotFound,
    ForestPermissionDenied,
    ForestUnauthenticated,
    ForestUnavailable,
)
from bot.http_server import build_http_app
from bot.identity.link_store import LinkStore
from bot.identity.linking import LinkService
from bot.identity.people import People
from bot.identity.token_cipher import TokenCipher
from bot.plans.assembly import Plans, build_plans
from bot.plans.pending import PendingPlans
from bot.plans.reminders import MARK_PREFIX as PLAN_MARK_PREFIX
from bot.plans.reminders import PlanReminders
from bot.plans.spotter import PlanSpotter
from bot.runtime.metrics import Metrics
from bot.runtime.nats_link import NatsLink
from bot.runtime.tasks import TaskSet
from bot.slack.answers import Answers
from bot.slack.client import build_web_client
from bot.slack.names import SlackNames
from bot.state.approval_store import APPROVALS_BUCKET, ApprovalStore, open_bucket
from bot.state.dedup import DEDUP_BUCKET, DEDUP_TTL_SECONDS, Dedup
from bot.watch.cursor import Cursor
from bot.watch.deploy_gates import DeployGates
from bot.watch.follower import SCAN_INTERVAL_SECONDS, ForestWatch
from bot.watch.handlers import IntentHandler
from bot.watch.lease import LEASE_SECONDS, WatchLease
from bot.watch.release_facts import ReleaseFacts
from handlers import register
from handlers.deps import HandlerDeps

log = logging.getLogger(__name__)

LINKS_BUCKET = "forest_links"
WATCH_BUCKET = "forest_watch"
SHUTDOWN_GRACE_SECONDS = 8.0
STARTUP_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Tuning:
    """Timings that tests and benchmarks shorten; production uses the defaults."""

    coalesce_window: float = 1.0
    reconcile_interval: float = 300.0
    refresh_concurrency: int = 16
    # Votes cast at once; more wait, so that acknowledging Slack never waits behind them.
    vote_concurrency: int = 8
    # Forest asks for a poll interval; this is the least the bot waits between polls.
    device_poll_floor: float = 1.0
    # How often each process looks for approvals due a reminder.
    reminder_check_interval: float = 60.0
    # How long an unacknowledged event or an unposted claim waits before another process
    # takes it over: long enough for a slow Slack, short enough after a crash.
    ack_wait: float = ACK_WAIT_SECONDS
    claim_timeout: float = CLAIM_TIMEOUT_SECONDS
    # Watching forest (FOREST_ORGANISATION): how often the active intents are all read, and
    # how long a dead follower holds the lease before another replica takes over.
    watch_scan_interval: float = SCAN_INTERVAL_SECONDS
    watch_lease: float = LEASE_SECONDS


@dataclass
class SlackIdentity:
    team_id: str
    bot_user_id: str


class Bot:
    def __init__(self, settings: Settings, tuning: Tuning | None = None) -> None:
        self.settings = settings
        self.tuning = tuning or Tuning()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.metrics = Metrics()
        # Work in flight (refreshes, outcomes) is finished at shutdown; loops are cancelled.
        self.tasks = TaskSet()
        self._loops = TaskSet()
        self.port: int | None = None
        self.ready = asyncio.Event()
        self._stack = AsyncExitStack()
        self._bot_nats: NatsLink | None = None
        self._forest_nats: NatsLink | None = None
        self._forest: ForestClient | None = None
        self._socket_mode: AsyncSocketModeHandler | None = None
        self._site: web.TCPSite | None = None
        self._consumer: ApprovalConsumer | None = None
        self.watch: ForestWatch | None = None
        self.watch_handlers: list[IntentHandler] = []
        self._nudges: NudgeListener | None = None
        self.plans: Plans | None = None
        self._forest_nats_listening = asyncio.Event()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            # A start-up that stops (a configuration error found on the way) closes what it
            # opened, so the one line naming the error is all that is printed.
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        router = load_router(settings.approvals_channel, settings.approvals_routes)
        stack = self._stack

        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        web_client = build_web_client(
            settings.slack_bot_token, settings.slack_api_url, session, self.metrics
        )

        forest = ForestClient(
            settings.forest_grpc_url, settings.forest_app_token, metrics=self.metrics
        )
        await forest.open()
        stack.push_async_callback(forest.close)
        self._forest = forest

        # The bot's own NATS: its streams and buckets need JetStream.
        bot_nats = NatsLink(settings.nats_url, "NATS_URL")
        self._bot_nats = bot_nats
        nc = await bot_nats.connect()
        stack.push_async_callback(bot_nats.close)
        await bot_nats.require_jetstream()
        js = nc.jetstream()
        # Direct gets (allow_direct) answer a read without the JSON and base64 envelope of the
        # stream API; every click and refresh reads this bucket. A stale read from a follower
        # (replicated buckets) only fails a compare-and-swap, which reads again.
        approvals_bucket = await open_bucket(js, APPROVALS_BUCKET, history=1, direct=True)
        store = ApprovalStore(approvals_bucket)
        links = LinkStore(
            await open_bucket(js, LINKS_BUCKET, history=1), TokenCipher(settings.bot_secret_key)
        )

        people = People(links, web_client)
        presenter = Presenter(forest, people, settings.forest_web_url)
        keeper = Keeper(store, presenter, web_client, self.metrics)
        announcer = Announcer(
            store,
            router,
            presenter,
            web_client,
            self.owner,
            claim_timeout=self.tuning.claim_timeout,
        )
        open_approvals = OpenApprovals(store)
        self.metrics.open_approvals.set_function(lambda: len(open_approvals))
        coalescer = Coalescer(
            keeper.refresh, self.tasks, self.tuning.coalesce_window, self.tuning.refresh_concurrency
        )
        stack.push_async_callback(self.tasks.cancel)
        stack.push_async_callback(self._loops.cancel)

        dedup = Dedup(await open_bucket(js, DEDUP_BUCKET, history=1, ttl=DEDUP_TTL_SECONDS))
        # A login still waiting for its code at shutdown is abandoned; the person runs it again.
        linking = LinkService(forest, links, self._loops, self.tuning.device_poll_floor)
        votes = VoteService(
            store, forest, linking, keeper, self.metrics, self.tuning.vote_concurrency
        )
        identity = await self._slack_identity(web_client)
        bolt = self._bolt(web_client)
        plans = build_plans(
            approvals_bucket,
            forest,
            people,
            linking,
            router,
            web_client,
            self.owner,
            settings.forest_web_url,
            self.tuning.claim_timeout,
        )
        self.plans = plans
        permalinks = Permalinks(web_client)
        pending = PendingApprovals(
            open_approvals,
            store,
            linking,
            forest,
            presenter,
            permalinks,
            plans=PendingPlans(plans.open, plans.store, plans.presenter, permalinks),
        )
        reminders = Reminders(
            open_approvals,
            store,
            ReminderMarks(approvals_bucket),
            presenter,
            people,
            permalinks,
            web_client,
            settings.approvals_remind_after,
            self.tuning.reminder_check_interval,
        )
        self._loops.spawn(reminders.run(), name="reminders")
        plan_reminders = PlanReminders(
            plans.open,
            plans.store,
            ReminderMarks(approvals_bucket, PLAN_MARK_PREFIX),
            plans.presenter,
            people,
            permalinks,
            web_client,
            settings.approvals_remind_after,
            self.tuning.reminder_check_interval,
        )
        self._loops.spawn(plan_reminders.run(), name="plan reminders")
        register(
            bolt,
            HandlerDeps(
                votes=votes,
                linking=linking,
                answers=Answers(web_client, session),
                names=SlackNames(web_client),
                dedup=dedup,
                pending=pending,
                tasks=self.tasks,
                team_id=identity.team_id,
                bot_user_id=identity.bot_user_id,
                plans=plans.decisions,
            ),
        )

        http = build_http_app(
            None if settings.socket_mode else bolt,
            self._readiness,
            self.metrics,
            settings.slack_signing_secret,
        )
        runner = web.AppRunner(http, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        self._site = site
        self.port = _bound_port(site)

        if settings.socket_mode:
            assert settings.slack_app_token is not None
            self._socket_mode = AsyncSocketModeHandler(
                bolt, settings.slack_app_token, web_client=web_client
            )
            await self._socket_mode.connect_async()
            stack.push_async_callback(self._close_socket_mode)

        self._loops.spawn(open_approvals.follow(), name="open approvals")
        self._loops.spawn(plans.open.follow(), name="open plans")
        reconciler = Reconciler(open_approvals, coalescer, self.tuning.reconcile_interval)
        self._loops.spawn(reconciler.run(), name="reconcile")
        # A KV watch may not survive an outage of the bot's NATS.
        bot_nats.on_reconnect += [open_approvals.resubscribe, plans.open.resubscribe]
        self._nudges = NudgeListener(open_approvals, keeper, coalescer, self.tasks)
        await self._listen_to_forest_nats(bot_nats, stack, reconciler)
        if settings.forest_organisation is not None:
            await self._watch_forest(
                settings.forest_organisation,
                js,
                forest,
                store,
                open_approvals,
                announcer,
                coalescer,
            )
        if self.watch is not None:
            await self._spot_plans(plans, self.watch)
        # The approval-required event stays a second way in, for whoever publishes it.
        consumer = ApprovalConsumer(js, announcer, self.metrics, ack_wait=self.tuning.ack_wait)
        await consumer.open()
        self._loops.spawn(consumer.run(), name="consumer")
        self._consumer = consumer
        self.ready.set()
        log.info(
            "approvals bot started",
            extra={"port": self.port, "owner": self.owner, "socket_mode": settings.socket_mode},
        )

    async def stop(self) -> None:
        """Stop taking work, finish what is in flight, drain NATS, close everything."""
        if self._consumer is not None:
            await self._consumer.stop()
        if self._nudges is not None:
            await self._nudges.stop()
        await self._loops.cancel()
        if self.watch is not None:
            await self.watch.stop()
        # No new Slack requests; the ones acknowledged already are in self.tasks.
        await self._close_socket_mode()
        if self._site is not None:
            await self._site.stop()
        if not await self.tasks.wait(SHUTDOWN_GRACE_SECONDS):
            log.warning("stopping with background work still running")
        await self._stack.aclose()
        log.info("approvals bot stopped")

    async def _close_socket_mode(self) -> None:
        if self._socket_mode is not None:
            handler, self._socket_mode = self._socket_mode, None
            await handler.close_async()

    async def _watch_forest(
        self,
        organisation: str,
        js: JetStreamContext,
        forest: ForestClient,
        store: ApprovalStore,
        open_approvals: OpenApprovals,
        announcer: Announcer,
        coalescer: Coalescer,
    ) -> None:
        """Follow the organisation in forest itself: what waits for approval, and how it ends."""
        await _check_organisation(forest, organisation)
        assert self._nudges is not None
        watch_bucket = await open_bucket(js, WATCH_BUCKET, history=1)
        facts = ReleaseFacts(forest)
        gates = DeployGates(
            forest,
            store,
            open_approvals,
            announcer,
            facts,
            refresh=coalescer.nudge,
            finish=self._nudges.finish_later,
            tasks=self.tasks,
        )
        # Each kind of approval forest has is one handler: deploy policies, plan stages.
        self.watch_handlers.append(gates)
        if self.plans is not None:
            self.watch_handlers.append(self.plans.gates(facts))
        self.watch = ForestWatch(
            forest,
            organisation,
            WatchLease(watch_bucket, organisation, self.owner, self.tuning.watch_lease),
            Cursor(watch_bucket, organisation),
            self.watch_handlers,
            open_approvals,
            store,
            scan_interval=self.tuning.watch_scan_interval,
        )
        self._loops.spawn(self.watch.run(), name="forest watch")

    async def _spot_plans(self, plans: Plans, watch: ForestWatch) -> None:
        """Plans that begin to wait announce it only on forest's NATS: listen there too."""
        spotter = PlanSpotter(plans.open, watch.scan_soon)
        self._stack.push_async_callback(spotter.stop)
        if self._forest_nats_listening.is_set():
            assert self._forest_nats is not None
            await spotter.start(self._forest_nats.nc)
            return

        async def when_listening() -> None:  # a separate forest NATS, not up yet
            await self._forest_nats_listening.wait()
            assert self._forest_nats is not None
            await spotter.start(self._forest_nats.nc)

        self._loops.spawn(when_listening(), name="plan spotter")

    async def _listen_to_forest_nats(
        self, bot_nats: NatsLink, stack: AsyncExitStack, reconciler: Reconciler
    ) -> None:
        """Subscribe to forest's core subjects on its NATS, which may be the bot's own.

        A separate forest NATS that is down at start leaves the bot running and not ready; it
        listens once that NATS answers.
        """
        assert self._nudges is not None
        nudges = self._nudges
        if self.settings.forest_nats == self.settings.nats_url:
            self._forest_nats = bot_nats
            await nudges.start(bot_nats.nc)
            self._forest_nats_listening.set()
        else:
            forest_nats = NatsLink(self.settings.forest_nats, "FOREST_NATS_URL")
            self._forest_nats = forest_nats
            stack.push_async_callback(forest_nats.close)

            async def connect_then_listen() -> None:
                await forest_nats.connect()
                await nudges.start(forest_nats.nc)
                self._forest_nats_listening.set()
                reconciler.soon()

            self._loops.spawn(connect_then_listen(), name="forest nats")
        # Nudges sent while the bot was not connected are lost: re-read what is open.
        self._forest_nats.on_reconnect.append(reconciler.soon)

    async def _slack_identity(self, web_client: AsyncWebClient) -> SlackIdentity:
        while True:
            try:
                reply = await web_client.auth_test()
                return SlackIdentity(team_id=reply["team_id"], bot_user_id=reply["user_id"])
            except SlackApiError as error:
                code = error.response.get("error")
                if code in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
                    raise SystemExit(f"SLACK_BOT_TOKEN was refused by Slack ({code})") from None
                log.warning("Slack auth.test failed (%s); retrying", code)
            except aiohttp.ClientError as error:
                log.warning("Slack is not reachable yet (%s); retrying", type(error).__name__)
            await asyncio.sleep(STARTUP_RETRY_SECONDS)

    def _bolt(self, web_client: AsyncWebClient) -> AsyncApp:
        return AsyncApp(
            client=web_client,
            signing_secret=self.settings.slack_signing_secret or None,
            request_verification_enabled=not self.settings.socket_mode,
            # Listeners ack and hand their work to the task set (handlers.deps.tracked), so
            # Bolt answers Slack as soon as they ack instead of polling for the ack.
            process_before_response=True,
            logger=logging.getLogger("slack_bolt"),
        )

    async def _readiness(self) -> dict[str, str]:
        checks = {"nats": _up(self._bot_nats)}
        if self._forest_nats is not self._bot_nats:
            checks["forest_nats"] = _up(self._forest_nats)
        assert self._forest is not None
        checks["forest"] = "ok" if await self._forest.reachable() else "unreachable"
        if self.watch is not None:
            checks["forest_watch"] = self.watch.status
        if self._socket_mode is not None:
            connected = await self._socket_mode.client.is_connected()
            checks["slack_socket_mode"] = "ok" if connected else "disconnected"
        return checks


async def run_until_stopped(bot: Bot, stop: asyncio.Event) -> None:
    await bot.start()
    # What start-up built lives as long as the process: keep it out of every collection, so
    # the rare full collection under load walks only what the work itself allocated.
    gc.freeze()
    try:
        await stop.wait()
    finally:
        await bot.stop()


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    assert server is not None
    return int(server.sockets[0].getsockname()[1])


async def _check_organisation(forest: ForestClient, organisation: str) -> None:
    """Stop start-up when the app token cannot read the organisation; a forest that does not
    answer yet is waited for by the watch (the bot runs, not ready)."""
    try:
        await forest.release_intents(organisation)
    except ForestUnavailable:
        log.warning("forest does not answer yet; the watch of %s will wait for it", organisation)
    except (ForestPermissionDenied, ForestNotFound) as error:
        raise ConfigError(
            "FOREST_ORGANISATION",
            f"names {organisation!r}, which FOREST_APP_TOKEN cannot read "
            f"({error.details or error.sentence}): set it to the organisation the app token "
            "was created in",
        ) from None
    except ForestUnauthenticated:
        raise ConfigError("FOREST_APP_TOKEN", "was refused by forest") from None
    except ForestError as error:
        log.warning("forest could not list the release intents of %s: %s", organisation, error)


def _up(link: NatsLink | None) -> str:
    return "ok" if link is not None and link.connected else "down"


__all__ = ["Bot", "Router", "SlackIdentity", "Tuning", "run_until_stopped"]
