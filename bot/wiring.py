"""Building the bot: every long-lived object is made here, handed in, closed in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiohttp import web
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext

from bot.approval import ApprovalKey
from bot.approvals.announcer import Announcer
from bot.approvals.keeper import Keeper
from bot.approvals.one_message import CLAIM_TIMEOUT_SECONDS
from bot.approvals.open_approvals import OpenApprovals
from bot.approvals.pending import PendingApprovals, Permalinks
from bot.approvals.presenter import Presenter
from bot.approvals.release_facts import ReleaseFacts
from bot.approvals.reminders import ReminderMarks, Reminders, ReminderSchedule, ReminderSender
from bot.approvals.routing import Router, load_router
from bot.approvals.voting import VoteService
from bot.config import ConfigError, Settings
from bot.events.consumer import ACK_WAIT_SECONDS, ApprovalConsumer
from bot.events.nudges import Coalescer, NudgeListener, Reconciler
from bot.forest.client import ForestClient
from bot.forest.errors import ForestError, ForestUnavailable
from bot.http_server import ListenerLimits, ListenerRunner, SlackEntry, build_http_app
from bot.identity.link_guard import LinkGuard
from bot.identity.link_store import LinkStore
from bot.identity.linking import LinkService
from bot.identity.people import People
from bot.identity.token_cipher import TokenCipher
from bot.plans.assembly import Plans, build_plans
from bot.plans.pending import PendingPlans
from bot.plans.reminders import MARK_PREFIX as PLAN_MARK_PREFIX
from bot.plans.reminders import PlanReminders
from bot.plans.spotter import PlanSpotter
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.metrics import Metrics
from bot.runtime.nats_link import NatsLink
from bot.runtime.tasks import TaskSet
from bot.slack.answers import Answers
from bot.slack.names import SlackNames
from bot.slack.outbox import REPLY_GRACE_SECONDS, Outbox
from bot.slack.shared_budget import PACING_BUCKET, SharedBudget
from bot.slack.web import (
    REQUEST_TIMEOUT_SECONDS,
    TOKEN_REFUSED,
    SlackIdentity,
    SlackRefused,
    SlackUnreachable,
    SlackWeb,
    build_session,
    build_slack,
)
from bot.state.approval_store import APPROVALS_BUCKET, ApprovalRecord, ApprovalStore, open_bucket
from bot.state.dedup import DEDUP_BUCKET, DEDUP_TTL_SECONDS, Dedup
from bot.state.health import JetStreamProbe
from bot.state.shared_lock import SharedLocks
from bot.watch.artifact_facts import ArtifactFacts
from bot.watch.cursor import Cursor
from bot.watch.deploy_gates import DeployGates
from bot.watch.follower import SCAN_INTERVAL_SECONDS, ForestWatch
from bot.watch.handlers import IntentHandler
from bot.watch.lease import LEASE_SECONDS, WatchLease
from bot.watch.organisation import read_organisation
from handlers import register
from handlers.deps import HandlerDeps
from handlers.owner_notices import OwnerNotices

log = logging.getLogger(__name__)

LINKS_BUCKET = "forest_links"
WATCH_BUCKET = "forest_watch"
SHUTDOWN_GRACE_SECONDS = 8.0
# Calls still queued for Slack's rate limits at shutdown get this long to go.
SLACK_DRAIN_SECONDS = 5.0
# Then the work that waited on them gets this long to record how they went.
SETTLE_SECONDS = 1.0
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
    # How long a thread reply's holder may go without renewing its hold before another process
    # takes the reply over and posts it (the holder died, or Slack did not take it).
    reply_grace: float = REPLY_GRACE_SECONDS
    # How long the idle event consumer's fetch waits for an event; stopping waits for it to end.
    event_fetch_timeout: float = 1.0
    # How long one Slack Web API call may take before it counts as failed.
    slack_timeout: float = REQUEST_TIMEOUT_SECONDS
    # Watching forest (FOREST_ORGANISATION): how often the active intents are all read, and
    # how long a dead follower holds the lease before another replica takes over.
    watch_scan_interval: float = SCAN_INTERVAL_SECONDS
    watch_lease: float = LEASE_SECONDS
    # Pace Slack calls inside Slack's rate limits (bot/slack/pacing.py). Off, the bot calls
    # Slack at once and relies on slack_sdk's retry after a 429: the benchmark's naive peer.
    slack_pacing: bool = True
    # Slow clients: header and body timeouts, and the connection cap (0: from the fd limit).
    http_header_timeout: float = ListenerLimits.header_timeout
    http_body_timeout: float = ListenerLimits.body_timeout
    http_max_connections: int = 0

    @property
    def listener(self) -> ListenerLimits:
        return ListenerLimits(
            self.http_header_timeout, self.http_body_timeout, self.http_max_connections
        )


@dataclass(frozen=True)
class _Resources:
    """What phase one opened: connections, buckets, and who the bot is in Slack."""

    slack: SlackWeb
    identity: SlackIdentity
    forest: ForestClient
    bot_nats: NatsLink
    # Forest's NATS: the bot's own, or another server that is connected in phase three.
    forest_nats: NatsLink
    js: JetStreamContext
    approvals_bucket: KeyValue
    links: LinkStore
    # Locks across replicas (a token refresh), kept in the links bucket.
    link_locks: SharedLocks
    dedup: Dedup
    # Where the watch of FOREST_ORGANISATION keeps its lease and cursor (None: no watch).
    watch_bucket: KeyValue | None


@dataclass(frozen=True)
class _Services:
    """What phase two built from the resources, without any I/O."""

    bolt: AsyncApp
    open_approvals: OpenApprovals
    plans: Plans
    reminders: Reminders
    plan_reminders: PlanReminders
    reconciler: Reconciler
    # Thread replies a process left unposted (it died, or Slack did not take them): an
    # approval's; a plan's are in ``plans.outbox``.
    outbox: Outbox[ApprovalKey, ApprovalRecord]
    nudges: NudgeListener
    consumer: ApprovalConsumer
    watch: ForestWatch | None
    # Plans that begin to wait announce it only on forest's NATS (None: no watch).
    plan_spotter: PlanSpotter | None


class Bot:
    """The bot in three phases: open resources, build services (no I/O), start surfaces.

    Everything opened or started is closed on one exit stack, in reverse order: the consumer
    stops first, then the loops, the Slack listeners; work already acknowledged to people gets a
    grace period; the connections close last.
    """

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
        self.plans: Plans | None = None
        self.watch: ForestWatch | None = None
        # Each kind of approval forest has is one handler of the watch: deploy policies, plans.
        self.watch_handlers: list[IntentHandler] = []
        self._stack = AsyncExitStack()
        # What the readiness check looks at.
        self._bot_nats: NatsLink | None = None
        self._forest_nats: NatsLink | None = None
        self._forest: ForestClient | None = None
        self._socket_mode: AsyncSocketModeHandler | None = None
        self._jetstream: JetStreamProbe | None = None
        # The listener starts before everything it serves; Bolt is handed to it at the end.
        self._slack_entry: SlackEntry | None = None
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        try:
            # Read before anything is opened: a route that does not parse fails at once.
            router = load_router(self.settings.approvals_channel, self.settings.approvals_routes)
            resources = await self._open_resources(self._stack)
            services = self._build_services(resources, router)
            await self._start_surfaces(resources, services, self._stack)
        except BaseException:
            # A start-up that stops (a configuration error found on the way) closes what it
            # opened, so the one line naming the error is all that is printed.
            await self.stop()
            raise
        self.ready.set()
        log.info(
            "approvals bot started",
            extra={
                "port": self.port,
                "owner": self.owner,
                "socket_mode": self.settings.socket_mode,
            },
        )

    async def stop(self) -> None:
        """Stop taking work, finish what is in flight, drain NATS, close everything."""
        await self._stack.aclose()
        log.info("approvals bot stopped")

    # Phase one: open resources.

    async def _open_resources(self, stack: AsyncExitStack) -> _Resources:
        settings = self.settings
        session = build_session(self.tuning.slack_timeout)
        stack.push_async_callback(session.close)

        forest = ForestClient(
            settings.forest_grpc_url, settings.forest_app_token, metrics=self.metrics
        )
        await forest.open()
        stack.push_async_callback(forest.close)
        self._forest = forest
        await self._listen(stack)

        # The bot's own NATS: its streams and buckets need JetStream.
        bot_nats = NatsLink(settings.nats_url, "NATS_URL")
        self._bot_nats = bot_nats
        stack.push_async_callback(bot_nats.close)
        nc = await bot_nats.connect()
        await bot_nats.require_jetstream()
        js = nc.jetstream()
        # Direct gets (allow_direct) answer a read without the JSON and base64 envelope of the
        # stream API; every click and refresh reads this bucket. A stale read from a follower
        # (replicated buckets) only fails a compare-and-swap, which reads again.
        replicas = settings.nats_replicas
        approvals_bucket = await open_bucket(
            js, APPROVALS_BUCKET, history=1, direct=True, replicas=replicas
        )
        # Slack's budget is per workspace: replicas keep it together (bot/slack/shared_budget.py)
        budget = (
            SharedBudget(await open_bucket(js, PACING_BUCKET, history=1, replicas=replicas))
            if self.tuning.slack_pacing
            else None
        )
        slack = build_slack(
            settings.slack_bot_token, settings.slack_api_url, session, self.metrics, budget
        )
        # Closed before NATS and the session: what still waits its turn is sent first.
        stack.push_async_callback(slack.close, SLACK_DRAIN_SECONDS)
        links_bucket = await open_bucket(js, LINKS_BUCKET, history=1, replicas=replicas)
        links = LinkStore(links_bucket, TokenCipher(settings.bot_secret_keys))
        dedup_bucket = await open_bucket(
            js, DEDUP_BUCKET, history=1, ttl=DEDUP_TTL_SECONDS, replicas=replicas
        )
        dedup = Dedup(dedup_bucket)
        self._jetstream = JetStreamProbe(dedup_bucket, self.owner)
        forest_nats = bot_nats
        if settings.forest_nats != settings.nats_url:
            forest_nats = NatsLink(settings.forest_nats, "FOREST_NATS_URL")
            stack.push_async_callback(forest_nats.close)
        self._forest_nats = forest_nats
        watch_bucket = None
        organisation = settings.forest_organisation
        if organisation is not None:
            # An app token that cannot read the organisation stops start-up (ConfigError); a
            # forest that does not answer yet is waited for by the watch (the bot runs, not
            # ready).
            try:
                await read_organisation(forest, organisation)
            except ForestUnavailable:
                log.warning(
                    "forest does not answer yet; the watch of %s will wait for it", organisation
                )
            except ForestError as error:
                log.warning(
                    "forest could not list the release intents of %s: %s", organisation, error
                )
            watch_bucket = await open_bucket(js, WATCH_BUCKET, history=1, replicas=replicas)
        return _Resources(
            slack=slack,
            identity=await self._slack_identity(slack),
            forest=forest,
            bot_nats=bot_nats,
            forest_nats=forest_nats,
            js=js,
            approvals_bucket=approvals_bucket,
            links=links,
            link_locks=SharedLocks(links_bucket),
            dedup=dedup,
            watch_bucket=watch_bucket,
        )

    async def _listen(self, stack: AsyncExitStack) -> None:
        """The HTTP listener, first: while NATS or Slack cannot be reached yet, /healthz answers
        and /readyz says what start-up waits for; Slack's requests get 503 until Bolt is in."""
        settings = self.settings
        self._slack_entry = None if settings.socket_mode else SlackEntry()
        http = build_http_app(
            self._slack_entry,
            self._readiness,
            self.metrics,
            settings.slack_signing_secret,
            body_timeout=self.tuning.listener.body_timeout,
        )
        runner = ListenerRunner(http, self.tuning.listener)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        self._site = site
        self.port = _bound_port(site)
        log.info("listening", extra={"port": self.port})

    # Phase two: build services, no I/O.

    def _build_services(self, resources: _Resources, router: Router) -> _Services:
        settings, tuning = self.settings, self.tuning
        slack, forest = resources.slack, resources.forest
        store = ApprovalStore(resources.approvals_bucket)
        people = People(resources.links, slack)
        presenter = Presenter(forest, people, settings.forest_web_url)
        open_approvals = OpenApprovals(store)
        # One write of an approval's record at a time in this process: the keeper's and the
        # outbox's.
        record_locks = KeyedLocks()
        outbox = Outbox(
            store,
            slack,
            self.owner,
            open_approvals,
            record_locks,
            self.tasks,
            grace=tuning.reply_grace,
        )
        keeper = Keeper(
            store, presenter, slack, self.metrics, outbox, record_locks, later=self.tasks
        )
        announcer = Announcer(
            store,
            router,
            presenter,
            slack,
            self.owner,
            claim_timeout=tuning.claim_timeout,
            facts=ReleaseFacts(forest),
        )
        self.metrics.open_approvals.set_function(lambda: len(open_approvals))
        pacer = slack.pacer
        if pacer is not None:
            self.metrics.slack_calls_waiting.set_function(pacer.waiting)
        coalescer = Coalescer(
            keeper.refresh, self.tasks, tuning.coalesce_window, tuning.refresh_concurrency
        )
        # A login still waiting for its code at shutdown is abandoned; the person runs it again.
        guard = LinkGuard(slack, OwnerNotices(Answers(slack)), resources.links)
        linking = LinkService(
            forest,
            resources.links,
            self._loops,
            resources.link_locks,
            guard,
            tuning.device_poll_floor,
        )
        votes = VoteService(store, forest, linking, keeper, self.metrics, tuning.vote_concurrency)
        plans = build_plans(
            resources.approvals_bucket,
            forest,
            people,
            linking,
            router,
            slack,
            self.owner,
            settings.forest_web_url,
            tuning.claim_timeout,
            self.metrics,
            self.tasks,
            tuning.reply_grace,
        )
        self.plans = plans
        permalinks = Permalinks(slack)
        pending = PendingApprovals(
            open_approvals,
            store,
            linking,
            forest,
            presenter,
            permalinks,
            plans=PendingPlans(plans.open, plans.store, plans.presenter, permalinks),
        )
        schedule = ReminderSchedule(settings.approvals_remind_after, tuning.reminder_check_interval)
        sender = ReminderSender(people, permalinks, slack)
        reminders = Reminders(
            open_approvals,
            store,
            ReminderMarks(resources.approvals_bucket),
            presenter,
            schedule,
            sender,
        )
        plan_reminders = PlanReminders(
            plans.open,
            plans.store,
            ReminderMarks(resources.approvals_bucket, PLAN_MARK_PREFIX),
            plans.presenter,
            schedule,
            sender,
        )
        bolt = self._bolt(slack, resources.identity)
        register(
            bolt,
            HandlerDeps(
                votes=votes,
                linking=linking,
                answers=Answers(slack),
                names=SlackNames(slack),
                dedup=resources.dedup,
                pending=pending,
                tasks=self.tasks,
                team_id=resources.identity.team_id,
                bot_user_id=resources.identity.bot_user_id,
                metrics=self.metrics,
                plans=plans.decisions,
            ),
        )
        nudges = NudgeListener(open_approvals, keeper, coalescer, self.tasks)
        watch = None
        if settings.forest_organisation is not None and resources.watch_bucket is not None:
            organisation, bucket = settings.forest_organisation, resources.watch_bucket
            facts = ArtifactFacts(forest)
            self.watch_handlers += [
                DeployGates(
                    forest,
                    store,
                    open_approvals,
                    announcer,
                    facts,
                    refresh=coalescer.nudge,
                    finish=nudges.finish_later,
                    tasks=self.tasks,
                    metrics=self.metrics,
                ),
                plans.gates(facts),
            ]
            watch = ForestWatch(
                forest,
                organisation,
                WatchLease(bucket, organisation, self.owner, tuning.watch_lease),
                Cursor(bucket, organisation),
                self.watch_handlers,
                open_approvals,
                store,
                scan_interval=tuning.watch_scan_interval,
                metrics=self.metrics,
            )
            self.watch = watch
        return _Services(
            bolt=bolt,
            open_approvals=open_approvals,
            plans=plans,
            reminders=reminders,
            plan_reminders=plan_reminders,
            reconciler=Reconciler(open_approvals, coalescer, tuning.reconcile_interval),
            outbox=outbox,
            nudges=nudges,
            # The approval-required event stays a second way in, for whoever publishes it.
            consumer=ApprovalConsumer(
                resources.js,
                announcer,
                self.metrics,
                fetch_timeout=tuning.event_fetch_timeout,
                ack_wait=tuning.ack_wait,
                replicas=settings.nats_replicas,
            ),
            watch=watch,
            plan_spotter=PlanSpotter(plans.open, watch.scan_soon) if watch is not None else None,
        )

    # Phase three: start surfaces. Each close is pushed right after its start, so the stack
    # closes them in reverse: the consumer first, the HTTP runner last.

    async def _start_surfaces(
        self, resources: _Resources, services: _Services, stack: AsyncExitStack
    ) -> None:
        settings = self.settings
        # Last to run: whatever work is still in flight after the grace period.
        stack.push_async_callback(self.tasks.cancel)
        # The listener runs since phase one; from here on stopping closes it first.
        # Work acknowledged to people finishes, once no new Slack requests come in.
        stack.push_async_callback(self._finish_work, resources.slack)
        assert self._site is not None
        stack.push_async_callback(self._site.stop)

        if settings.socket_mode:
            assert settings.slack_app_token is not None
            self._socket_mode = AsyncSocketModeHandler(
                services.bolt, settings.slack_app_token, web_client=resources.slack.bolt_client
            )
            await self._socket_mode.connect_async()
            stack.push_async_callback(self._socket_mode.close_async)

        stack.push_async_callback(self._loops.cancel)
        loops = self._loops
        loops.spawn(services.reminders.run(), name="reminders")
        loops.spawn(services.plan_reminders.run(), name="plan reminders")
        loops.spawn(services.open_approvals.follow(), name="open approvals")
        loops.spawn(services.plans.open.follow(), name="open plans")
        loops.spawn(services.reconciler.run(), name="reconcile")
        loops.spawn(services.outbox.run(), name="owed thread replies")
        loops.spawn(services.plans.outbox.run(), name="owed plan thread replies")
        # A KV watch may not survive an outage of the bot's NATS, and refreshes that could not
        # write their record during it are lost: re-read what is open.
        resources.bot_nats.on_reconnect += [
            services.open_approvals.resubscribe,
            services.plans.open.resubscribe,
            services.reconciler.soon,
        ]
        if services.watch is not None:
            loops.spawn(services.watch.run(), name="forest watch")
            # Before the loops are cancelled: the lease goes to another replica at once.
            stack.push_async_callback(services.watch.stop)
        stack.push_async_callback(services.nudges.stop)
        await self._listen_to_forest_nats(resources, services)
        await services.consumer.open()
        loops.spawn(services.consumer.run(), name="consumer")
        stack.push_async_callback(services.consumer.stop)
        if self._slack_entry is not None:
            self._slack_entry.bolt = services.bolt

    async def _finish_work(self, slack: SlackWeb) -> None:
        if await self.tasks.wait(SHUTDOWN_GRACE_SECONDS):
            return
        # Calls still waiting their turn in Slack's limits get a last moment; those that do not
        # go fail, so that the work waiting on them ends and records what Slack took (a thread
        # reply that did not go stays owed in its record, for another process to post).
        await slack.close(SLACK_DRAIN_SECONDS)
        if not await self.tasks.wait(SETTLE_SECONDS):
            log.warning("stopping with background work still running")

    async def _listen_to_forest_nats(self, resources: _Resources, services: _Services) -> None:
        """Subscribe to forest's core subjects on its NATS, which may be the bot's own.

        A separate forest NATS that is down at start leaves the bot running and not ready; it
        listens once that NATS answers.
        """
        nudges, reconciler = services.nudges, services.reconciler
        forest_nats = resources.forest_nats
        spotter = services.plan_spotter
        if spotter is not None:
            self._stack.push_async_callback(spotter.stop)
            # Statuses sent while the bot was not connected are lost: look again.
            forest_nats.on_reconnect.append(spotter.hint)
        if forest_nats is resources.bot_nats:
            await nudges.start(forest_nats.nc)
            if spotter is not None:
                await spotter.start(forest_nats.nc)
        else:

            async def connect_then_listen() -> None:
                await forest_nats.connect()
                await nudges.start(forest_nats.nc)
                if spotter is not None:
                    await spotter.start(forest_nats.nc)
                reconciler.soon()

            self._loops.spawn(connect_then_listen(), name="forest nats")
        # Nudges sent while the bot was not connected are lost: re-read what is open (the
        # bot's own NATS does so already).
        if forest_nats is not resources.bot_nats:
            forest_nats.on_reconnect.append(reconciler.soon)

    async def _slack_identity(self, slack: SlackWeb) -> SlackIdentity:
        while True:
            try:
                return await slack.identity()
            except SlackRefused as error:
                if error.code in TOKEN_REFUSED:
                    raise ConfigError(
                        "SLACK_BOT_TOKEN", f"was refused by Slack ({error.code})"
                    ) from None
                log.warning("Slack auth.test failed (%s); retrying", error.code)
            except SlackUnreachable as error:
                log.warning("Slack is not reachable yet (%s); retrying", error.code)
            await asyncio.sleep(STARTUP_RETRY_SECONDS)

    def _bolt(self, slack: SlackWeb, identity: SlackIdentity) -> AsyncApp:
        return AsyncApp(
            client=slack.bolt_client,
            # Who the bot is was asked at start-up, through the door: Bolt makes no auth.test
            # of its own, which the first request after a start would otherwise wait for.
            authorize=_KnownBot(identity, slack.bolt_client.token or ""),
            signing_secret=self.settings.slack_signing_secret or None,
            request_verification_enabled=not self.settings.socket_mode,
            # Listeners ack and hand their work to the task set (handlers.deps.tracked), so
            # Bolt answers Slack as soon as they ack instead of polling for the ack.
            process_before_response=True,
            logger=logging.getLogger("slack_bolt"),
        )

    async def _readiness(self) -> dict[str, str]:
        starting = not self.ready.is_set()
        checks = {"nats": _up(self._bot_nats, starting)}
        if checks["nats"] == "ok" and self._jetstream is not None:
            # Connected says nothing of a JetStream that refuses writes (a full store).
            checks["jetstream"] = await self._jetstream.check()
        if self._forest_nats is not self._bot_nats:
            checks["forest_nats"] = _up(self._forest_nats, starting)
        if self._forest is not None:
            checks["forest"] = "ok" if await self._forest.reachable() else "unreachable"
        if self.watch is not None:
            checks["forest_watch"] = self.watch.status
        if self._socket_mode is not None:
            connected = await self._socket_mode.client.is_connected()
            checks["slack_socket_mode"] = "ok" if connected else "disconnected"
        if starting:
            checks["startup"] = "starting"
        return checks


async def run_until_stopped(bot: Bot, stop: asyncio.Event) -> None:
    """Start, run until ``stop`` is set, stop. A stop during start-up cancels start-up wherever
    it waits (NATS or Slack unreachable); a start-up that fails or is cancelled closes what it
    opened itself."""
    starting = asyncio.create_task(bot.start(), name="start-up")
    stopping = asyncio.create_task(stop.wait(), name="stop signal")
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stopping during start-up")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        starting.result()  # a start-up failure (a refused token, a bad routes file) ends here
    finally:
        stopping.cancel()
    # What start-up built lives as long as the process: keep it out of every collection, so
    # the rare full collection under load walks only what the work itself allocated.
    gc.freeze()
    try:
        await stop.wait()
    finally:
        await bot.stop()


class _KnownBot(AsyncAuthorize):
    """Bolt's authorization of every request: the one workspace and bot that ``auth.test``
    named at start-up (another workspace is refused by the listeners' own check)."""

    def __init__(self, identity: SlackIdentity, token: str) -> None:
        self._identity = identity
        self._token = token

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **actor: str | None,
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=self._identity.team_id,
            bot_user_id=self._identity.bot_user_id,
            bot_id=self._identity.bot_id,
            bot_token=self._token,
            user_id=user_id,
        )


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    assert server is not None
    return int(server.sockets[0].getsockname()[1])


def _up(link: NatsLink | None, starting: bool) -> str:
    if link is not None and link.connected:
        return "ok"
    return "connecting" if starting else "down"


__all__ = ["Bot", "Router", "SlackIdentity", "Tuning", "run_until_stopped"]
