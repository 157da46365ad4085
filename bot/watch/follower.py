"""Following one organisation in forest: its event log, a full scan now and then, and every
intent read handed to the handlers.

Only the replica holding the lease follows (``WatchLease``); the others wait to take over. The
follower subscribes to ``EventService.Subscribe`` after the last sequence it handled (kept in
``Cursor``), so forest replays what happened while no replica followed. Each relevant event
marks its intent; a checker reads the marked intents, one ``GetReleaseIntentStates`` per
project however many events came, and hands them to every handler. A full scan of the active
intents runs after every (re)connection and every ``scan_interval`` seconds, for what no event
told: a replay window that passed, or a handler that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from bot.approvals.open_approvals import OpenApprovals
from bot.forest.client import ForestClient
from bot.forest.errors import (
    ForestError,
    ForestNotFound,
    ForestPermissionDenied,
    ForestUnauthenticated,
)
from bot.forest.org_events import CREATED, PIPELINE, RELEASE, OrgEvent
from bot.forest.releases import ReleaseIntent
from bot.runtime.metrics import Metrics
from bot.state.approval_store import ApprovalStore
from bot.watch.cursor import Cursor
from bot.watch.handlers import IntentHandler
from bot.watch.lease import WatchLease

log = logging.getLogger(__name__)

SCAN_INTERVAL_SECONDS = 300.0
RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0
# Forest answers GetReleaseIntentStates with at most this many intents.
FOREST_LIST_CAP = 50
WATCHED_TYPES = (RELEASE, PIPELINE)
STOP_WAIT_SECONDS = 2.0


class ForestWatch:
    def __init__(
        self,
        forest: ForestClient,
        organisation: str,
        lease: WatchLease,
        cursor: Cursor,
        handlers: Sequence[IntentHandler],
        open_approvals: OpenApprovals,
        store: ApprovalStore,
        scan_interval: float = SCAN_INTERVAL_SECONDS,
        reconnect_max: float = RECONNECT_MAX_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        if metrics is not None:
            metrics.watch_following.set_function(lambda: int(self._leading and self._connected))
        self._forest = forest
        self.organisation = organisation
        self._lease = lease
        self._cursor = cursor
        self._handlers = list(handlers)
        self._open = open_approvals
        self._store = store
        self._scan_interval = scan_interval
        self._reconnect_max = reconnect_max
        self._leading = False
        self._streaming = False
        self._connected = False
        self._problem = "starting"
        # Checked by every loop: nats-py can swallow a task's cancellation inside a KV call,
        # so a loop must also end on its next turn once the watch stops.
        self._stopping = False
        self._scan_soon = asyncio.Event()
        self._marked: dict[str, set[str]] = {}
        self._wake = asyncio.Event()

    # What /readyz shows

    @property
    def status(self) -> str:
        """ "ok" while this replica follows forest, or another replica says it does."""
        if self._leading:
            return "ok" if self._connected else self._problem
        if self._lease.other_is_connected():
            return "ok"
        return "waiting for the follower" if self._lease.holder else self._problem

    @property
    def leading(self) -> bool:
        return self._leading

    # The lease

    async def run(self) -> None:
        """Hold the lease and follow, or wait to take over; until cancelled."""
        renew = self._lease.seconds / 3
        while not self._stopping:
            try:
                held = await self._lease.hold(self._connected)
            except Exception as error:  # the bot's NATS is down: nobody can take over either
                log.warning("cannot read the watch lease (%s)", type(error).__name__)
                held = False
            if held:
                log.info("following forest's events", extra={"organisation": self.organisation})
                await self._lead(renew)
                log.info("no longer following forest's events")
            await asyncio.sleep(renew)

    def stopping(self) -> None:
        """End every loop of the watch (on their next turn, if not cancelled first)."""
        self._stopping = True
        self._wake.set()
        self._scan_soon.set()

    async def stop(self) -> None:
        """Hand the lease over at once (a clean shutdown), if this process holds it."""
        self.stopping()
        with contextlib.suppress(Exception):
            await self._lease.give_up()

    async def _lead(self, renew: float) -> None:
        self._leading = True
        tasks = [
            asyncio.create_task(self._follow(), name="watch follow"),
            asyncio.create_task(self._scans(), name="watch scans"),
            asyncio.create_task(self._check_marked(), name="watch checks"),
        ]
        try:
            while not self._stopping:
                await asyncio.sleep(renew)
                try:
                    if not await self._lease.hold(self._connected):
                        return  # another replica took over
                except Exception as error:
                    # Keep following: the lease cannot be taken from us while NATS is down.
                    log.warning("cannot renew the watch lease (%s)", type(error).__name__)
        finally:
            self._leading = False
            self._connected = False
            for task in tasks:
                task.cancel()
            # A stream call that is still connecting may not answer its cancellation at once;
            # closing the channel (at shutdown) ends it, so it must not hold up the stop.
            _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_SECONDS)
            for task in stuck:
                task.add_done_callback(_quietly)

    # The event log

    async def _follow(self) -> None:
        wait = RECONNECT_FIRST_SECONDS
        while not self._stopping:
            since = await self._cursor.load()
            try:
                stream = self._forest.org_events(
                    self.organisation, since_sequence=since, resource_types=WATCHED_TYPES
                )
                self._streaming = True
                # Whatever happened while not subscribed is found by a scan.
                self._scan_soon.set()
                # Closed here, also when cancelled, so the call ends with the loop.
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        wait = RECONNECT_FIRST_SECONDS
                        if self._metrics is not None:
                            self._metrics.watch_events.labels(event.resource_type).inc()
                        self._on_event(event)
                        await self._cursor.save(event.sequence)
                log.info("forest ended the event stream; subscribing again")
            except ForestError as error:
                self._note_failure(error)
                log.warning("the forest event stream failed: %s", error.sentence)
            finally:
                self._streaming = False
                self._connected = False
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._reconnect_max)
            if self._metrics is not None:
                self._metrics.watch_reconnects.inc()

    def _on_event(self, event: OrgEvent) -> None:
        intent = _intent_of(event)
        if intent is None or not event.project:
            return
        self.mark(event.project, intent)

    def scan_soon(self) -> None:
        """Have the follower scan every active intent soon (something may wait that no event
        announces: a plan stage that finished its plan)."""
        self._scan_soon.set()

    def mark(self, project: str, release_intent_id: str) -> None:
        """Have the checker read this intent soon."""
        self._marked.setdefault(project, set()).add(release_intent_id)
        self._wake.set()

    async def _check_marked(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            marked, self._marked = self._marked, {}
            for project, intents in marked.items():
                try:
                    await self._check(project, intents)
                except ForestError as error:
                    self._note_failure(error)
                    log.warning("could not read release intents: %s", error.sentence)
                    # Read them again once forest answers: the next scan also would.
                    for intent in intents:
                        self._marked.setdefault(project, set()).add(intent)
                    await asyncio.sleep(RECONNECT_FIRST_SECONDS)
                    self._wake.set()

    async def _check(self, project: str, intents: set[str]) -> None:
        active = await self._forest.release_intents(self.organisation, project)
        found = [intent for intent in active if intent.release_intent_id in intents]
        missing = intents - {intent.release_intent_id for intent in found}
        if missing:
            # Finished, or older than forest's list of active ones: its recent intents.
            recent = await self._forest.release_intents(
                self.organisation, project, include_completed=True
            )
            found += [intent for intent in recent if intent.release_intent_id in missing]
        await self._dispatch(found)

    # Scans

    async def _scans(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._scan_soon.wait(), self._scan_interval)
            self._scan_soon.clear()
            if self._stopping:
                return
            try:
                await self.scan()
            except ForestError as error:
                self._note_failure(error)
                log.warning("the scan of forest failed: %s", error.sentence)
                await asyncio.sleep(RECONNECT_FIRST_SECONDS)
                self._scan_soon.set()
                continue
            if self._streaming:
                self._connected = True

    async def scan(self) -> None:
        """Every active intent of the organisation, and the intents of open approvals."""
        active = await self._forest.release_intents(self.organisation)
        by_id = {intent.release_intent_id: intent for intent in active}
        if len(active) >= FOREST_LIST_CAP:
            # Forest lists at most 50 at once: read project by project for the rest.
            for project in sorted({intent.project for intent in active}):
                for intent in await self._forest.release_intents(self.organisation, project):
                    by_id.setdefault(intent.release_intent_id, intent)
        await self._dispatch(by_id.values())
        await self._check_open(set(by_id))

    async def _check_open(self, active: set[str]) -> None:
        """Open approvals whose intent is no longer active: their end is to be shown."""
        for key in self._open.all():
            if key.release_intent_id in active:
                continue
            stored = await self._store.get(key)
            if stored is None or stored.record.request.organisation != self.organisation:
                continue
            self.mark(stored.record.request.project, key.release_intent_id)

    async def _dispatch(self, intents: Iterable[ReleaseIntent]) -> None:
        for intent in intents:
            for handler in self._handlers:
                try:
                    await handler.on_intent(self.organisation, intent)
                except ForestError as error:
                    log.warning(
                        "could not handle a release intent: %s",
                        error.sentence,
                        extra={"release_intent_id": intent.release_intent_id},
                    )
                except Exception:
                    log.exception(
                        "a handler failed on a release intent",
                        extra={"release_intent_id": intent.release_intent_id},
                    )

    def _note_failure(self, error: ForestError) -> None:
        if isinstance(error, ForestPermissionDenied | ForestNotFound):
            self._problem = f"FOREST_APP_TOKEN cannot read {self.organisation}"
        elif isinstance(error, ForestUnauthenticated):
            self._problem = "forest refused FOREST_APP_TOKEN"
        else:
            self._problem = "forest unreachable"
            self._connected = False


def _quietly(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _intent_of(event: OrgEvent) -> str | None:
    """The release intent an event is about, if it is one the watch acts on."""
    if event.resource_type == RELEASE and event.action == CREATED:
        return event.resource_id
    if event.resource_type == RELEASE:
        # A release's status: the coordinator moves its stage next.
        return event.metadata.get("intent_id") or None
    if event.resource_type == PIPELINE:
        return event.metadata.get("intent_id") or event.resource_id or None
    return None
