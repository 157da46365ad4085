"""The benchmark's phases, each measuring the bot beside the floor it is compared with."""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS

from bench.figures import Latency
from bench.load import (
    APPROVAL_SUBJECT,
    Click,
    Sent,
    approval_event,
    publish_events,
    publish_nudges,
    publish_outcomes,
    send_clicks,
)
from bench.processes import (
    Child,
    Profiler,
    bench_module,
    bot_command,
    children_of,
    cpu_seconds,
    machine_busy_seconds,
    start,
    wait_line,
)
from bench.processes import wait_ready as wait_http_ready
from bench.stack_control import Mark, Records, StackControl, StackInfo
from blocks.approval_message import APPROVE_ACTION_ID
from bot.local.nats_server import free_port
from bot.local.slack_signing import form_payload

SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789"
FLOOR_SUBJECT = "bench.floor.acme.payments-api"
# The bot's production coalescing window (Tuning.coalesce_window); `approvals-bot run` uses it.
COALESCE_WINDOW_SECONDS = 1.0
# A wait for messages gives up when none more arrived for this long.
STALL_SECONDS = 30.0
# A phase starts once the bot (or floor) and the fakes have been quiet this long: work left
# over from the phase before (refreshes a coalescing window after the last votes) would
# otherwise land in the next phase's figures.
QUIET_SECONDS = 0.5
QUIET_CPU_SHARE = 0.05
QUIET_WAIT_LIMIT_SECONDS = 20.0
STORM_VOTER = "reviewer001"
STORM_VOTER_SLACK_ID = "U0REV001"


@dataclass(frozen=True)
class Options:
    click_seconds: float = 30.0
    click_rates: tuple[int, ...] = (20, 100)
    reviewers: int = 10
    single_events: int = 100
    single_event_gap: float = 0.1
    burst_events: int = 1000
    storm_nudges: int = 10_000
    storm_intents: int = 100
    storm_seconds: float = 2.0
    open_approvals: int = 10_000
    profile_dir: Path | None = None
    bot_source: Path | None = None  # another checkout of the bot to measure instead
    replicas: int = 1  # bot processes side by side, clicks spread over them

    @classmethod
    def quick(cls, **choices: Any) -> Options:
        return cls(
            click_seconds=8.0,
            single_events=30,
            burst_events=300,
            open_approvals=1000,
            **choices,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class PhaseCost:
    """CPU seconds each process used during a phase that lasted ``seconds``."""

    phase: str
    seconds: float
    measured: float  # the bot, or the floor the phase measures
    fakes: float
    nats_server: float
    load_generator: float
    others: float  # everything else on the machine: a busy neighbour distorts the figures


@dataclass
class ClickFigures:
    rate: int
    ack: Latency
    floor_ack: Latency
    to_forest: Latency
    to_update: Latency
    failed: int
    unseen: int
    latest_start_seconds: float


@dataclass
class EventFigures:
    single: Latency
    burst: Latency
    sustained_per_second: float
    floor_single: Latency
    floor_burst: Latency
    floor_sustained_per_second: float


@dataclass
class StormFigures:
    nudges: int
    intents: int
    seconds: float
    reads: int
    max_reads_per_intent: int
    updates: int
    max_updates_per_intent: int
    windows: int
    true_after_seconds: float
    untrue: int


@dataclass
class ScaleFigures:
    open_approvals: int
    posting_per_second: float
    peak_rss_posting_mb: float
    rss_open_mb: float
    startup_empty_seconds: float
    startup_ready_seconds: float
    startup_reconciled_seconds: float
    peak_rss_restarted_mb: float
    rss_restarted_mb: float
    closing_seconds: float
    closed: int  # of open_approvals; fewer when the bot lost outcomes
    rss_closed_mb: float
    peak_rss_closed_mb: float


@dataclass
class Results:
    clicks: list[ClickFigures] = field(default_factory=list)
    events: EventFigures | None = None
    storm: StormFigures | None = None
    scale: ScaleFigures | None = None
    costs: list[PhaseCost] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Bench:
    """One run: a stack process (the fakes), the bot as a child process, and this process
    generating the load."""

    def __init__(
        self,
        control: StackControl,
        info: StackInfo,
        stack_pid: int,
        options: Options,
        log_dir: Path,
    ) -> None:
        self.control = control
        self.stack_pid = stack_pid
        self.costs: list[PhaseCost] = []
        self.info = info
        self.options = options
        self.log_dir = log_dir
        self.nc: NATS | None = None
        self.bots: list[Child] = []
        self.bot_ports: list[int] = []
        self._bots_started = 0

    @property
    def bot(self) -> Child | None:
        """The first bot process (the only one unless ``replicas`` asks for more)."""
        return self.bots[0] if self.bots else None

    @property
    def bot_url(self) -> str:
        return self.bot_urls[0]

    @property
    def bot_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.bot_ports]

    async def connect(self) -> None:
        self.nc = await nats.connect(self.info.nats_url)

    async def close(self) -> None:
        for bot in self.bots:
            bot.stop()
        self.bots = []
        if self.nc is not None:
            await self.nc.close()

    # The bot process

    async def start_bot(self) -> float:
        """Launch ``approvals-bot run`` (once per replica); seconds until /readyz answers 200
        (from the last to answer)."""
        command = bot_command(self.options.bot_source)
        self.bot_ports = [free_port() for _ in range(self.options.replicas)]
        for port in self.bot_ports:
            self._bots_started += 1
            self.bots.append(
                start(
                    f"bot-{self._bots_started}",
                    command.argv,
                    {**self.info.bot_env(port, SECRET_KEY), **command.env},
                    self.log_dir,
                    command.cwd,
                )
            )
        waits = [
            wait_http_ready(bot, f"{url}/readyz")
            for bot, url in zip(self.bots, self.bot_urls, strict=True)
        ]
        return max(await asyncio.gather(*waits))

    def stop_bot(self) -> float:
        assert self.bots
        seconds = max(bot.stop() for bot in self.bots)
        self.bots = []
        return seconds

    @asynccontextmanager
    async def phase(
        self, name: str, measured: Child | None = None, *, settle: bool = True
    ) -> AsyncIterator[None]:
        """Account the CPU each process used in a phase, and profile the measured process (the
        bot, or a floor) and the fakes in it when asked to. ``settle``: first wait until they
        are quiet (not for a phase whose work has already begun, like a start-up)."""
        group = [measured] if measured is not None else self.bots
        assert group
        watched = {child.name: child.pid for child in group} | {"fakes": self.stack_pid}
        if settle:
            await _until_quiet(list(watched.values()))
        profilers: list[Profiler] = []
        if self.options.profile_dir is not None:
            for who, pid in watched.items():
                slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {who}".lower()).strip("-")
                profiler = Profiler(pid, self.options.profile_dir / f"{slug}.txt")
                profiler.start()
                profilers.append(profiler)
        before = self._cpu(group)
        started = time.monotonic()
        try:
            yield
        finally:
            for profiler in profilers:
                profiler.stop()
            used = [after - was for after, was in zip(self._cpu(group), before, strict=True)]
            self.costs.append(PhaseCost(name, time.monotonic() - started, *used))

    def _cpu(self, measured: list[Child]) -> tuple[float, float, float, float, float]:
        """CPU seconds used so far by: the measured processes, the fakes, nats-server, this
        process, and every other process on the machine."""
        ours = (
            sum(child.cpu_seconds() for child in measured),
            cpu_seconds(self.stack_pid),
            sum(cpu_seconds(pid) for pid in children_of(self.stack_pid)),
            cpu_seconds(os.getpid()),
        )
        return (*ours, machine_busy_seconds() - sum(ours))

    # Setting the scene

    async def post_approvals(
        self, intents: Sequence[str], environment: str, required: int, timeout: float = 120.0
    ) -> dict[str, str]:
        """Announce each intent and wait for its message; returns the messages' ts by intent."""
        assert self.nc is not None
        mark = await self.control.mark()
        events = [approval_event(self.info, i, environment, required) for i in intents]
        await publish_events(self.nc, self._approval_subject(), events)
        await self.wait_posted(mark, len(intents), timeout)
        return await self.control.messages(list(intents))

    async def wait_posted(self, mark: Mark, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (await self.control.progress(mark))[0] < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} approval messages within {timeout:.0f}s")
            await asyncio.sleep(0.2)

    def _approval_subject(self) -> str:
        return APPROVAL_SUBJECT.format(
            organisation=self.info.organisation, project=self.info.project
        )

    async def prepare_clicks(self) -> dict[int, list[Click]]:
        """Link the reviewers, post the approvals they vote on, and build each rate's clicks.

        Each reviewer clicks Approve once on each approval of a rate, reviewer after reviewer,
        so one approval gets a click every (approvals / rate) seconds and every click is a vote
        forest has not seen.
        """
        options = self.options
        reviewers = await self.control.reviewers(options.reviewers)
        await self.control.link(self.bot_url, [r["username"] for r in reviewers])
        plans: dict[int, list[str]] = {}
        for rate in options.click_rates:
            clicks = round(rate * options.click_seconds)
            plans[rate] = await self.control.intents(math.ceil(clicks / len(reviewers)))
        every = [intent for intents in plans.values() for intent in intents]
        messages = await self.post_approvals(
            every, self.info.train_environment, self.info.train_required_approvals
        )
        prepared: dict[int, list[Click]] = {}
        for rate, intents in plans.items():
            wanted = round(rate * options.click_seconds)
            order = [(r, i) for r in reviewers for i in intents][:wanted]
            payloads = await self.control.click_payloads(
                [(messages[i], r["slack_user_id"]) for r, i in order], APPROVE_ACTION_ID
            )
            prepared[rate] = [
                Click(form_payload(p), i, messages[i], r["username"], r["slack_user_id"])
                for (r, i), p in zip(order, payloads, strict=True)
            ]
        return prepared

    # 1 and 2: clicks

    async def floor_clicks(self, clicks: dict[int, list[Click]]) -> dict[int, Latency]:
        port = free_port()
        floor = start(
            "floor-clicks",
            bench_module("floor_click_server"),
            {"SLACK_SIGNING_SECRET": self.info.slack_signing_secret, "PORT": str(port)},
            self.log_dir,
        )
        try:
            await wait_http_ready(floor, f"http://127.0.0.1:{port}/healthz")
            found: dict[int, Latency] = {}
            for rate, planned in clicks.items():
                async with self.phase(f"floor handler: clicks at {rate}/s", floor):
                    sent = await send_clicks(
                        [f"http://127.0.0.1:{port}/slack/events"],
                        self.info.slack_signing_secret,
                        planned,
                        rate,
                    )
                found[rate] = Latency.of([s.ack_seconds for s in sent if s.status == 200])
            return found
        finally:
            floor.stop()

    async def bot_clicks(self, rate: int, planned: list[Click], floor: Latency) -> ClickFigures:
        mark = await self.control.mark()
        async with self.phase(f"clicks at {rate}/s"):
            sent = await send_clicks(
                [f"{url}/slack/events" for url in self.bot_urls],
                self.info.slack_signing_secret,
                planned,
                rate,
            )
        records = await self._wait_for_clicks(mark, sent)
        to_forest, to_update, unseen = _click_paths(sent, records)
        return ClickFigures(
            rate=rate,
            ack=Latency.of([s.ack_seconds for s in sent if s.status == 200]),
            floor_ack=floor,
            to_forest=Latency.of(to_forest),
            to_update=Latency.of(to_update),
            failed=sum(1 for s in sent if s.status != 200),
            unseen=unseen,
            latest_start_seconds=max(s.late_seconds for s in sent),
        )

    async def _wait_for_clicks(
        self, mark: Mark, sent: list[Sent], timeout: float = 60.0
    ) -> Records:
        """Records once every click's vote is in forest and shown in its message (or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            await asyncio.sleep(2.0)
            records = await self.control.records(mark)
            _, _, unseen = _click_paths(sent, records)
            if unseen == 0 or time.monotonic() > deadline:
                # The nudges forest sent for the last votes refresh a window later.
                await asyncio.sleep(COALESCE_WINDOW_SECONDS + 0.5)
                return records

    # 3: events to messages

    async def floor_events(self) -> tuple[Latency, Latency, float]:
        floor = start(
            "floor-events",
            bench_module("floor_consumer"),
            {
                "NATS_URL": self.info.nats_url,
                "SLACK_API_URL": self.info.slack_api_url,
                "SLACK_BOT_TOKEN": self.info.slack_bot_token,
                "APPROVALS_CHANNEL": self.info.channel,
            },
            self.log_dir,
        )
        try:
            await wait_line(floor, "ready")
            return await self._events(FLOOR_SUBJECT, "floor consumer", floor)
        finally:
            floor.stop()

    async def bot_events(self) -> tuple[Latency, Latency, float]:
        return await self._events(self._approval_subject(), "bot")

    async def _events(
        self, subject: str, phase: str, measured: Child | None = None
    ) -> tuple[Latency, Latency, float]:
        """Events one at a time (each alone in the system), then a burst of distinct releases."""
        assert self.nc is not None
        options = self.options

        single = [self._production_event() for _ in range(options.single_events)]
        mark = await self.control.mark()
        async with self.phase(f"{phase}: events one at a time", measured):
            sent = await publish_events(self.nc, subject, single, gap=options.single_event_gap)
            await self.wait_posted(mark, len(single), 60.0)
        single_latency, _ = _event_latencies(sent, await self.control.records(mark))

        burst = [self._production_event() for _ in range(options.burst_events)]
        mark = await self.control.mark()
        async with self.phase(f"{phase}: burst of events", measured):
            sent = await publish_events(self.nc, subject, burst)
            await self.wait_posted(mark, len(burst), 300.0)
        burst_latency, per_second = _event_latencies(sent, await self.control.records(mark))
        await asyncio.sleep(COALESCE_WINDOW_SECONDS)
        return single_latency, burst_latency, per_second

    def _production_event(self) -> dict[str, object]:
        return approval_event(self.info, str(uuid.uuid4()), "production", 2)

    # 4: nudge storm

    async def storm(self) -> StormFigures:
        assert self.nc is not None and self.bot is not None
        options = self.options
        intents = await self.control.intents(options.storm_intents)
        messages = await self.post_approvals(intents, "production", 2)
        await asyncio.sleep(COALESCE_WINDOW_SECONDS + 0.5)
        # Votes forest stores without publishing anything: every message is now stale.
        await self.control.silent_votes([(i, "production", STORM_VOTER) for i in intents])
        mark = await self.control.mark()
        by_ts = {ts: intent for intent, ts in messages.items()}
        async with self.phase("nudge storm"):
            first, last = await publish_nudges(
                self.nc, intents, options.storm_nudges, options.storm_seconds
            )
            deadline = time.monotonic() + 60.0
            while True:
                await asyncio.sleep(1.0)
                records = await self.control.records(mark)
                true_at = _first_true(records, by_ts)
                if len(true_at) == len(intents) or time.monotonic() > deadline:
                    break
            # Whatever the storm still causes happens within a window of the last nudge.
            await asyncio.sleep(max(0.0, last + 2 * COALESCE_WINDOW_SECONDS - time.monotonic()))
        records = await self.control.records(mark)
        reads = [records.reads.get(i, 0) for i in intents]
        updates_by_ts: dict[str, int] = {}
        for update in records.updates:
            if update.ts in by_ts:
                updates_by_ts[update.ts] = updates_by_ts.get(update.ts, 0) + 1
        true_at = _first_true(records, by_ts)
        return StormFigures(
            nudges=options.storm_nudges,
            intents=len(intents),
            seconds=last - first,
            reads=sum(reads),
            max_reads_per_intent=max(reads),
            updates=sum(updates_by_ts.values()),
            max_updates_per_intent=max(updates_by_ts.values(), default=0),
            windows=math.ceil((last - first) / COALESCE_WINDOW_SECONDS) + 1,
            true_after_seconds=max(true_at.values(), default=math.nan) - first,
            untrue=len(intents) - len(true_at),
        )

    # 5 and 6: memory and start-up with many open approvals (on a fresh stack)

    async def scale(self, startup_empty: float) -> ScaleFigures:
        assert self.nc is not None and self.bot is not None
        count = self.options.open_approvals
        intents = [str(uuid.uuid4()) for _ in range(count)]
        events = [approval_event(self.info, i, "production", 2) for i in intents]
        mark = await self.control.mark()
        async with self.phase(f"posting {count} approvals"):
            sent = await publish_events(self.nc, self._approval_subject(), events)
            await self.wait_posted(mark, count, max(120.0, count / 20))
        records = await self.control.records(mark)
        posting_per_second = count / (max(at for at, _ in records.posts) - min(sent.values()))
        await asyncio.sleep(2.0)
        peak_posting, rss_open = self.bot.memory_mb()
        await self.control.forget_calls()

        self.stop_bot()
        mark = await self.control.mark()
        ready = await self.start_bot()
        async with self.phase(f"start-up re-reading {count} approvals", settle=False):
            reconciled = await self._wait_reconciled(mark, intents)
        await asyncio.sleep(2.0)
        peak_restarted, rss_restarted = self.bot.memory_mb()

        mark = await self.control.mark()
        async with self.phase(f"closing {count} approvals"):
            started = await publish_outcomes(self.nc, intents)
            closed = await self._wait_closed(mark, count)
            closing = time.monotonic() - started
        await asyncio.sleep(3.0)
        peak_closed, rss_closed = self.bot.memory_mb()
        return ScaleFigures(
            open_approvals=count,
            posting_per_second=posting_per_second,
            peak_rss_posting_mb=peak_posting,
            rss_open_mb=rss_open,
            startup_empty_seconds=startup_empty,
            startup_ready_seconds=ready,
            startup_reconciled_seconds=reconciled,
            peak_rss_restarted_mb=peak_restarted,
            rss_restarted_mb=rss_restarted,
            closing_seconds=closing,
            closed=closed,
            rss_closed_mb=rss_closed,
            peak_rss_closed_mb=peak_closed,
        )

    async def _wait_closed(self, mark: Mark, count: int) -> int:
        """How many messages were closed, once all were or none more was for a while."""
        closed, last_change = 0, time.monotonic()
        while closed < count and time.monotonic() - last_change < STALL_SECONDS:
            await asyncio.sleep(0.5)
            now_closed = (await self.control.progress(mark))[1]
            if now_closed > closed:
                closed, last_change = now_closed, time.monotonic()
        return closed

    async def _wait_reconciled(self, mark: Mark, intents: list[str]) -> float:
        """Seconds from launch until forest was asked about every open approval."""
        assert self.bot is not None
        deadline = time.monotonic() + max(120.0, len(intents) / 20)
        while time.monotonic() < deadline:
            records = await self.control.records(mark)
            if all(records.reads.get(i) for i in intents):
                return time.monotonic() - self.bot.started_at
            await asyncio.sleep(0.25)
        raise TimeoutError("the restarted bot did not re-read every open approval")


def _click_paths(sent: list[Sent], records: Records) -> tuple[list[float], list[float], int]:
    """Per click: seconds until forest stored the vote, and until an update showed it."""
    voted = {(intent, user): at for at, intent, user in records.votes}
    updates: dict[str, list[tuple[float, frozenset[str]]]] = {}
    for update in records.updates:
        updates.setdefault(update.ts, []).append((update.at, update.mentions))
    to_forest: list[float] = []
    to_update: list[float] = []
    unseen = 0
    for s in sent:
        click = s.click
        stored = voted.get((click.intent, click.username))
        shown = next(
            (
                at
                for at, mentions in updates.get(click.ts, [])
                if at >= s.sent_at and click.slack_user_id in mentions
            ),
            None,
        )
        if stored is None or shown is None:
            unseen += 1
            continue
        to_forest.append(stored - s.sent_at)
        to_update.append(shown - s.sent_at)
    return to_forest, to_update, unseen


def _event_latencies(sent: dict[str, float], records: Records) -> tuple[Latency, float]:
    arrived: dict[str, float] = {}
    for at, intent in records.posts:
        arrived.setdefault(intent, at)
    waits = [arrived[i] - at for i, at in sent.items() if i in arrived]
    span = max(arrived[i] for i in sent if i in arrived) - min(sent.values())
    return Latency.of(waits), len(waits) / span


def _first_true(records: Records, by_ts: dict[str, str]) -> dict[str, float]:
    """When each storm message first showed the vote forest stored silently."""
    found: dict[str, float] = {}
    for update in records.updates:
        intent = by_ts.get(update.ts)
        if intent and intent not in found and STORM_VOTER_SLACK_ID in update.mentions:
            found[intent] = update.at
    return found


async def _until_quiet(pids: list[int]) -> None:
    """Wait until none of ``pids`` used more than a small share of a core for a while."""
    deadline = time.monotonic() + QUIET_WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        before = [cpu_seconds(pid) for pid in pids]
        await asyncio.sleep(QUIET_SECONDS)
        used = [cpu_seconds(pid) - was for pid, was in zip(pids, before, strict=True)]
        if max(used) <= QUIET_SECONDS * QUIET_CPU_SHARE:
            return
