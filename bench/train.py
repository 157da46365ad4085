"""The release-train benchmark: dozens of releases blocked at once, reviewers clicking through
them, against a fake Slack that enforces Slack's rate limits; the bot beside a naive peer.

    python -m bench.train             # the full train, both peers: about 10 minutes
    python -m bench.train --quick     # a shorter train

The naive peer is the same bot with pacing and coalescing off: every change of a message is sent
at once as its own update, as a plain Bolt app updates the message in each vote's handler, and
on a 429 slack_sdk's AsyncRateLimitErrorRetryHandler sleeps for Retry-After and tries again.
Both face the same load on a fresh stack each, one after the other.

Printed for both: the time until every message shows forest's truth, beside the lower bound
Slack's limits allow for that work; 429s received; ack and private-answer p99 during the train;
how soon a release blocked mid-train gets its message; replies and outcomes lost.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.aio.client import Client as NATS

from bench.figures import Latency, ms
from bench.load import approval_event, publish_outcomes
from bench.processes import Child, start, start_stack, stop_process
from bench.processes import wait_ready as wait_http_ready
from bench.stack_control import StackControl, StackInfo
from bench.train_stack import train_channel, train_environment
from blocks.approval_message import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.local.fake_slack_limits import CHANNEL_POSTS, TIER_3, RateLimit
from bot.local.nats_server import free_port
from bot.local.slack_signing import FORM, sign

SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789"
APPROVAL_SUBJECT = "forest.approval.required.{organisation}.{project}"
CLOSED_TEXT_END = "— deployed"
DEPLOYED_REPLY = "Deployed to"
STALL_SECONDS = 45.0

TRUE_WITHIN_BOUND = 1.5
RATE_LIMITED_SHARE = 0.01
ACK_P99_MS = 50.0
ANSWER_P99_MS = 2000.0
MID_TRAIN_MESSAGE_MS = 3000.0
FASTER_THAN_NAIVE = 2.0
FEWER_429S_THAN_NAIVE = 10.0

# The peers' tunings. The naive peer calls Slack at once (no pacing), refreshes a message at
# every change rather than once a window (no coalescing), and sets no bound on refreshes in
# flight: what a plain Bolt app does when each handler updates the message it acted on.
PEER_TUNINGS: dict[str, dict[str, Any]] = {
    "paced": {},
    "naive": {"slack_pacing": False, "coalesce_window": 0.0, "refresh_concurrency": 10_000},
}


@dataclass(frozen=True)
class TrainOptions:
    releases: int = 60
    channels: int = 3
    block_seconds: float = 2.0
    reviewers: int = 8
    votes_per_release: int = 4  # 240 votes by the linked reviewers
    vote_seconds: float = 60.0
    reject_every: int = 10  # every tenth vote is a Reject, cast through the reason modal
    forage_votes: int = 60
    unlinked_clicks: int = 24  # clicks by people not linked yet: each gets a private answer
    mid_train_at: float = 0.5  # share of the vote window when one more release blocks
    finish_timeout: float = 600.0
    peers: tuple[str, ...] = ("paced", "naive")
    seed: int = 14

    @classmethod
    def quick(cls, **choices: Any) -> TrainOptions:
        return cls(releases=30, vote_seconds=30.0, forage_votes=30, unlinked_clicks=12, **choices)

    @property
    def votes(self) -> int:
        return self.releases * self.votes_per_release


@dataclass
class PeerFigures:
    peer: str
    releases: int
    true_after: float  # seconds from the first block until every message showed forest's truth
    lower_bound: float  # the least Slack's limits allow for the same work
    untrue: int  # messages that never showed it
    calls: int
    rate_limited: int
    ack: Latency
    answers: Latency
    answers_missing: int
    mid_train_message: float  # seconds from the mid-train block to its message
    replies_lost: int
    outcomes_lost: int
    votes_sent: int
    missing: list[str] = field(default_factory=list)  # what was lost or untrue, to read

    @property
    def within_bound(self) -> float:
        return self.true_after / self.lower_bound if self.lower_bound > 0 else math.nan

    @property
    def rate_limited_share(self) -> float:
        return self.rate_limited / self.calls if self.calls else 0.0


@dataclass
class TrainResults:
    options: TrainOptions
    peers: list[PeerFigures] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Vote:
    due: float  # seconds after the votes start
    release: int
    user: str  # Slack user id
    action_id: str


@dataclass
class Sent:
    sent_at: float
    ack_seconds: float
    status: int
    what: str  # "vote", "reject", "submission", "unlinked"
    trigger_id: str = ""
    user: str = ""


def reviewer_ids(count: int) -> list[str]:
    return [f"U0REV{n + 1:03d}" for n in range(count)]


def plan_votes(options: TrainOptions) -> list[Vote]:
    """Each release gets ``votes_per_release`` distinct reviewers; the votes are shuffled over
    the window, so every reviewer clicks through many releases."""
    rng = random.Random(options.seed)
    reviewers = reviewer_ids(options.reviewers)
    pairs = [
        (release, reviewers[(release + 2 * k) % len(reviewers)])
        for release in range(options.releases)
        for k in range(options.votes_per_release)
    ]
    rng.shuffle(pairs)
    step = options.vote_seconds / len(pairs)
    return [
        Vote(
            n * step,
            release,
            user,
            REJECT_ACTION_ID
            if n % options.reject_every == options.reject_every - 1
            else APPROVE_ACTION_ID,
        )
        for n, (release, user) in enumerate(pairs)
    ]


def forager(n: int) -> str:
    return f"forager{n % 8 + 1:02d}"


def unlinked_id(n: int) -> str:
    return f"U0NEW{n + 1:03d}"


def lower_bound(posts: dict[str, list[float]], updates: list[float], start: float) -> float:
    """When the last necessary call could have been made, from ``start``, under the fake Slack's
    limits: every approval message posted when its release blocked (per channel), and one
    ``chat.update`` per message once it deployed (everything between can be coalesced away).
    Buckets start full; calls go in the order they become possible."""
    ends = [_bucket_finish(updates, TIER_3, start)]
    ends.extend(_bucket_finish(times, CHANNEL_POSTS, start) for times in posts.values())
    return max(ends) - start


def _bucket_finish(times: list[float], limit: RateLimit, start: float) -> float:
    level, at, last = float(limit.burst), start, start
    for ready in sorted(times):
        now = max(ready, at)
        level = min(float(limit.burst), level + (now - at) * limit.per_second)
        at = now
        if level < 1.0:
            now += (1.0 - level) / limit.per_second
            level, at = 1.0, now
        level -= 1.0
        last = now
    return last


class Train:
    """One peer's train on its own fresh stack."""

    def __init__(self, options: TrainOptions, peer: str, log_dir: Path) -> None:
        self.options = options
        self.peer = peer
        self.log_dir = log_dir
        self.sent: list[Sent] = []
        self.where: dict[str, tuple[str, str]] = {}  # intent -> (channel, ts)
        self.posted = asyncio.Event()  # set (and replaced) whenever more messages are found
        self.session: aiohttp.ClientSession | None = None

    async def run(self) -> PeerFigures:
        store = Path(tempfile.mkdtemp(prefix=f"train-{self.peer}-", dir=self.log_dir))
        stack, control_url = await start_stack(self.log_dir, store, rate_limits=True)
        control = StackControl(control_url)
        bot: Child | None = None
        nc: NATS | None = None
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            info = await control.info()
            nc = await nats.connect(info.nats_url)
            bot, url = await self._start_bot(info)
            return await self._train(control, info, nc, url)
        finally:
            await self.session.close()
            if nc is not None:
                await nc.close()
            if bot is not None:
                bot.stop()
            await control.close()
            stop_process(stack)

    async def _start_bot(self, info: StackInfo) -> tuple[Child, str]:
        routes = self.log_dir / f"routes-{self.peer}.yaml"
        routes.write_text(
            "routes:\n"
            + "".join(
                f"  - environment: {train_environment(n)}\n    channel: {train_channel(n)}\n"
                for n in range(self.options.channels)
            )
        )
        port = free_port()
        env = {**info.bot_env(port, SECRET_KEY), "APPROVALS_ROUTES": str(routes)}
        tuning = PEER_TUNINGS[self.peer]
        bot = start(
            f"bot-{self.peer}",
            [sys.executable, "-m", "bot.local.bot_process", json.dumps(tuning)],
            env,
            self.log_dir,
        )
        url = f"http://127.0.0.1:{port}"
        await wait_http_ready(bot, f"{url}/readyz")
        return bot, url

    async def _post(self, control_url: str, path: str, body: dict[str, Any]) -> Any:
        assert self.session is not None
        async with self.session.post(control_url + path, json=body) as reply:
            reply.raise_for_status()
            return await reply.json()

    async def _train(
        self, control: StackControl, info: StackInfo, nc: NATS, bot_url: str
    ) -> PeerFigures:
        options = self.options
        curl = control.url
        channels = [train_channel(n) for n in range(options.channels)]
        reviewers = await control.reviewers(options.reviewers)
        await self._post(
            curl,
            "/train/setup",
            {
                "channels": options.channels,
                "foragers": sorted({forager(n) for n in range(options.forage_votes)}),
                "unlinked": [unlinked_id(n) for n in range(options.unlinked_clicks)],
            },
        )
        await control.link(bot_url, [r["username"] for r in reviewers])
        intents = await control.intents(options.releases + 1)
        trains, late = intents[: options.releases], intents[options.releases]
        env_of = {i: train_environment(n % options.channels) for n, i in enumerate(intents)}
        channel_of = {i: train_channel(n % options.channels) for n, i in enumerate(intents)}
        await asyncio.sleep(1.0)
        calls_from = len(await self._calls(curl, 0))
        subject = APPROVAL_SUBJECT.format(organisation=info.organisation, project=info.project)

        def event(intent: str) -> bytes:
            return json.dumps(approval_event(info, intent, env_of[intent], 50)).encode()

        # The train: every release blocks within block_seconds.
        started = time.monotonic()
        blocked: dict[str, float] = {}
        for n, intent in enumerate(trains):
            await _sleep_until(started + n * options.block_seconds / len(trains))
            blocked[intent] = time.monotonic()
            await nc.publish(subject, event(intent), headers={"Nats-Msg-Id": str(uuid.uuid4())})
            await nc.flush()
        watcher = asyncio.create_task(self._watch_messages(curl, intents, channels))

        votes_start = started + options.block_seconds
        tasks = [
            asyncio.create_task(self._vote(curl, bot_url, info, votes_start, vote, trains))
            for vote in plan_votes(options)
        ]
        step = options.vote_seconds / max(1, options.forage_votes)
        tasks += [
            asyncio.create_task(
                self._forage_vote(curl, votes_start + n * step, n, trains[n % len(trains)], env_of)
            )
            for n in range(options.forage_votes)
        ]
        step = options.vote_seconds / max(1, options.unlinked_clicks)
        tasks += [
            asyncio.create_task(
                self._unlinked_click(
                    curl, bot_url, info, votes_start + (n + 0.5) * step, unlinked_id(n), trains[n]
                )
            )
            for n in range(options.unlinked_clicks)
        ]
        await _sleep_until(votes_start + options.mid_train_at * options.vote_seconds)
        blocked[late] = time.monotonic()
        await nc.publish(subject, event(late), headers={"Nats-Msg-Id": str(uuid.uuid4())})
        await nc.flush()
        await asyncio.gather(*tasks)
        # The bot casts a vote after acknowledging its click: all deploy once forest has them.
        await self._wait_votes_stored(control, options.votes + options.forage_votes)

        # All deploy at once.
        deployed_at = await publish_outcomes(nc, intents)
        await self._wait_finished(curl, channels, intents)
        watcher.cancel()
        calls = await self._calls(curl, calls_from)
        shown = await self._shown(curl, channels)
        # Kept for reading a run afterwards: every call, and what the channels show.
        (self.log_dir / f"calls-{self.peer}.json").write_text(
            json.dumps({"started": started, "deployed_at": deployed_at, "calls": calls})
        )
        return self._figures(calls, shown, started, blocked, deployed_at, intents, late, channel_of)

    async def _wait_votes_stored(self, control: StackControl, count: int) -> None:
        deadline = time.monotonic() + self.options.finish_timeout
        while (await control.mark()).votes < count and time.monotonic() < deadline:  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.25)

    async def _vote(
        self, curl: str, bot_url: str, info: StackInfo, start: float, vote: Vote, trains: list[str]
    ) -> None:
        await _sleep_until(start + vote.due)
        channel, ts = await self._message_of(trains[vote.release])
        click = await self._post(
            curl,
            "/train/click",
            {"channel": channel, "ts": ts, "user": vote.user, "action_id": vote.action_id},
        )
        reject = vote.action_id == REJECT_ACTION_ID
        await self._send(
            bot_url,
            info,
            click["body"],
            "reject" if reject else "vote",
            click["trigger_id"],
            vote.user,
        )
        if reject:
            try:
                submission = await self._post(
                    curl,
                    "/train/submission",
                    {
                        "trigger_id": click["trigger_id"],
                        "user": vote.user,
                        "reason": f"perf & load <p99> regressed on {vote.release}",
                    },
                )
            except aiohttp.ClientResponseError:
                return  # no modal: counted as a private answer missing
            await self._send(bot_url, info, submission["body"], "submission", "", vote.user)

    async def _unlinked_click(
        self, curl: str, bot_url: str, info: StackInfo, due: float, user: str, intent: str
    ) -> None:
        await _sleep_until(due)
        channel, ts = await self._message_of(intent)
        click = await self._post(
            curl,
            "/train/click",
            {"channel": channel, "ts": ts, "user": user, "action_id": APPROVE_ACTION_ID},
        )
        await self._send(bot_url, info, click["body"], "unlinked", click["trigger_id"], user)

    async def _forage_vote(
        self, curl: str, due: float, n: int, intent: str, env_of: dict[str, str]
    ) -> None:
        await _sleep_until(due)
        await self._post(
            curl,
            "/train/forage-vote",
            {
                "intent": intent,
                "environment": env_of[intent],
                "username": forager(n),
                "comment": "looks good in forage",
            },
        )

    async def _send(
        self, bot_url: str, info: StackInfo, body: str, what: str, trigger_id: str, user: str
    ) -> None:
        assert self.session is not None
        raw = body.encode()
        headers = {**sign(info.slack_signing_secret, raw), "Content-Type": FORM}
        sent_at = time.monotonic()
        async with self.session.post(f"{bot_url}/slack/events", data=raw, headers=headers) as reply:
            await reply.read()
            status = reply.status
        self.sent.append(Sent(sent_at, time.monotonic() - sent_at, status, what, trigger_id, user))

    async def _message_of(self, intent: str) -> tuple[str, str]:
        """A person clicks only on a message they can see: wait until it is posted."""
        while intent not in self.where:
            await self.posted.wait()
        return self.where[intent]

    async def _watch_messages(self, curl: str, intents: list[str], channels: list[str]) -> None:
        while len(self.where) < len(intents):
            found = await self._post(
                curl, "/train/messages", {"intents": intents, "channels": channels}
            )
            self.where.update({i: (c, ts) for i, (c, ts) in found.items()})
            self.posted.set()
            self.posted = asyncio.Event()
            await asyncio.sleep(0.2)

    async def _calls(self, curl: str, start: int) -> list[list[Any]]:
        assert self.session is not None
        async with self.session.get(f"{curl}/train/calls", params={"from": str(start)}) as reply:
            reply.raise_for_status()
            return list(await reply.json())

    async def _shown(self, curl: str, channels: list[str]) -> dict[str, dict[str, Any]]:
        assert self.session is not None
        params = {"channels": ",".join(channels)}
        async with self.session.get(f"{curl}/train/shown", params=params) as reply:
            reply.raise_for_status()
            return dict(await reply.json())

    async def _wait_finished(self, curl: str, channels: list[str], intents: list[str]) -> None:
        """Until every message shows its outcome and every thread its outcome reply, or the
        bot made no successful call for a while."""
        deadline = time.monotonic() + self.options.finish_timeout
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(2.0)
            shown = await self._shown(curl, channels)
            done = sum(
                1
                for i in intents
                if i in shown
                and shown[i]["text"].endswith(CLOSED_TEXT_END)
                and any(DEPLOYED_REPLY in r for r in shown[i]["replies"])
            )
            if done == len(intents):
                await asyncio.sleep(3.0)  # replies still queued behind the outcomes
                return
            count = sum(1 for c in await self._calls(curl, 0) if c[3])
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > STALL_SECONDS:
                return

    def _figures(
        self,
        calls: list[list[Any]],
        shown: dict[str, dict[str, Any]],
        started: float,
        blocked: dict[str, float],
        deployed_at: float,
        intents: list[str],
        late: str,
        channel_of: dict[str, str],
    ) -> PeerFigures:
        options = self.options
        # How each voter appears in the message and the thread: a mention when linked.
        voters: dict[str, set[str]] = {i: set() for i in intents}
        trains = intents[: options.releases]
        for vote in plan_votes(options):
            voters[trains[vote.release]].add(f"<@{vote.user}>")
        for n in range(options.forage_votes):
            voters[trains[n % len(trains)]].add(forager(n))

        # When each message last changed, and whether it then showed the truth.
        last_shown: dict[str, float] = {}
        ts_to_intent = {v["ts"]: i for i, v in shown.items()}
        for at, method, _status, ok, _channel, ts, _thread, _user, _trigger, intent in calls:
            if not ok:
                continue
            if method == "chat.postMessage" and intent:
                last_shown[intent] = max(last_shown.get(intent, 0.0), at)
            elif method == "chat.update" and ts in ts_to_intent:
                last_shown[ts_to_intent[ts]] = max(last_shown.get(ts_to_intent[ts], 0.0), at)
        untrue = 0
        replies_lost = outcomes_lost = 0
        missing: list[str] = []
        for intent in intents:
            seen = shown.get(intent)
            if seen is None:
                untrue += 1
                replies_lost += len(voters[intent])
                outcomes_lost += 1
                missing.append(f"{intent}: no message")
                continue
            thread = "\n".join(seen["replies"])
            closed = seen["text"].endswith(CLOSED_TEXT_END)
            unnamed = sorted(v for v in voters[intent] if v not in seen["blocks"])
            untrue += not closed or bool(unnamed)
            if not closed or unnamed:
                missing.append(f"{seen['ts']}: closed {closed}, not named {unnamed}")
            unreplied = sorted(v for v in voters[intent] if v not in thread)
            replies_lost += len(unreplied)
            outcomes_lost += DEPLOYED_REPLY not in thread
            if unreplied or DEPLOYED_REPLY not in thread:
                missing.append(f"{seen['ts']}: no reply for {unreplied}; thread {thread!r}")
        true_after = max(last_shown.values(), default=math.nan) - started

        posts: dict[str, list[float]] = {}
        for intent in intents:
            posts.setdefault(channel_of[intent], []).append(blocked[intent])
        bound = lower_bound(posts, [deployed_at] * len(intents), started)

        views = {c[8]: c[0] for c in calls if c[1] == "views.open" and c[3]}
        ephemerals: dict[str, float] = {}
        for c in calls:
            if c[1] == "chat.postEphemeral" and c[3]:
                ephemerals.setdefault(c[7], c[0])
        answers: list[float] = []
        unanswered = 0
        for s in self.sent:
            answered = (
                views.get(s.trigger_id)
                if s.what == "reject"
                else ephemerals.get(s.user)
                if s.what == "unlinked"
                else None
            )
            if s.what not in ("reject", "unlinked"):
                continue
            if answered is None:
                unanswered += 1
            else:
                answers.append(answered - s.sent_at)
        late_post = next(
            (c[0] for c in calls if c[1] == "chat.postMessage" and c[3] and c[9] == late),
            math.nan,
        )
        return PeerFigures(
            peer=self.peer,
            releases=len(intents),
            true_after=true_after,
            lower_bound=bound,
            untrue=untrue,
            calls=len(calls),
            rate_limited=sum(1 for c in calls if c[2] == 429),
            ack=Latency.of([s.ack_seconds for s in self.sent if s.status == 200]),
            answers=Latency.of(answers),
            answers_missing=unanswered,
            mid_train_message=late_post - blocked[late],
            replies_lost=replies_lost,
            outcomes_lost=outcomes_lost,
            votes_sent=sum(1 for s in self.sent if s.what in ("vote", "submission")),
            missing=missing,
        )


async def _sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)


async def run_train(options: TrainOptions, log_dir: Path) -> TrainResults:
    results = TrainResults(options)
    for peer in options.peers:
        print(f"[train] {peer}: {options.releases} releases, {options.votes} votes", flush=True)
        try:
            results.peers.append(await Train(options, peer, log_dir).run())
        except Exception as error:  # the other peer is still worth measuring
            results.errors.append(f"{peer}: {type(error).__name__}: {error}")
    return results


def train_table(results: TrainResults) -> str:
    by_peer = {p.peer: p for p in results.peers}
    paced, naive = by_peer.get("paced"), by_peer.get("naive")
    lines = [
        "| figure | paced (the bot) | naive peer | target | |",
        "| --- | --- | --- | --- | --- |",
    ]

    def row(figure: str, value: Any, target: str = "", ok: bool | None = None) -> None:
        shown = [value(p) if p is not None else "n/a" for p in (paced, naive)]
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        lines.append(f"| {figure} | {shown[0]} | {shown[1]} | {target} | {verdict} |")

    def seconds(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.1f} s"

    row(
        "every message shows forest's truth, from the first block",
        lambda p: f"{seconds(p.true_after)} ({p.untrue} untrue)",
    )
    row(
        "lower bound Slack's limits allow for that work",
        lambda p: seconds(p.lower_bound),
    )
    row(
        "truth / lower bound",
        lambda p: f"{p.within_bound:.2f}x",
        f"<= {TRUE_WITHIN_BOUND}x",
        paced is not None and paced.untrue == 0 and paced.within_bound <= TRUE_WITHIN_BOUND,
    )
    row(
        "Slack calls answered 429 (of all calls)",
        lambda p: f"{p.rate_limited} of {p.calls} ({100 * p.rate_limited_share:.1f} %)",
        f"<= {100 * RATE_LIMITED_SHARE:.0f} %",
        paced is not None and paced.rate_limited_share <= RATE_LIMITED_SHARE,
    )
    row(
        "ack p50 / p99 during the train",
        lambda p: f"{ms(p.ack.p50)} / {ms(p.ack.p99)} ({p.ack.count})",
        f"p99 < {ACK_P99_MS:.0f} ms",
        paced is not None and paced.ack.p99 < ACK_P99_MS,
    )
    row(
        "private answer (modal, ephemeral) p50 / p99",
        lambda p: (
            f"{ms(p.answers.p50)} / {ms(p.answers.p99)} ({p.answers.count}, "
            f"{p.answers_missing} missing)"
        ),
        f"p99 < {ANSWER_P99_MS / 1000:.0f} s",
        paced is not None and paced.answers.p99 < ANSWER_P99_MS and paced.answers_missing == 0,
    )
    row(
        "a release blocked mid-train: its message after",
        lambda p: ms(p.mid_train_message * 1000),
        f"< {MID_TRAIN_MESSAGE_MS / 1000:.0f} s",
        paced is not None and paced.mid_train_message * 1000 < MID_TRAIN_MESSAGE_MS,
    )
    row(
        "replies lost; outcomes lost",
        lambda p: f"{p.replies_lost}; {p.outcomes_lost}",
        "0; 0",
        paced is not None and paced.replies_lost == 0 and paced.outcomes_lost == 0,
    )
    if paced is not None and naive is not None:
        faster = naive.true_after / paced.true_after
        fewer = naive.rate_limited >= FEWER_429S_THAN_NAIVE * paced.rate_limited
        lines.append(
            f"| to the truth, naive / paced | {faster:.1f}x | | >= {FASTER_THAN_NAIVE:.0f}x | "
            f"{'met' if faster >= FASTER_THAN_NAIVE else 'MISSED'} |"
        )
        lines.append(
            f"| 429s, naive / paced | {naive.rate_limited} / {paced.rate_limited} | | "
            f">= {FEWER_429S_THAN_NAIVE:.0f}x fewer | "
            f"{'met' if fewer else 'MISSED'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter train")
    parser.add_argument("--peer", choices=("paced", "naive"), action="append", help="only these")
    parser.add_argument("--logs", type=Path, help="keep every process's log here")
    parser.add_argument("--write", type=Path, help="write the table to this file as well")
    args = parser.parse_args()
    choices: dict[str, Any] = {"peers": tuple(args.peer)} if args.peer else {}
    options = TrainOptions.quick(**choices) if args.quick else TrainOptions(**choices)
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="train-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run_train(options, log_dir))
    report = "\n".join(
        [
            f"release train: {dataclasses.asdict(options)}",
            train_table(results),
            *[f"error: {e}" for e in results.errors],
            f"logs: {log_dir}",
        ]
    )
    print(report)
    if args.write:
        args.write.write_text(report + "\n")


if __name__ == "__main__":
    main()
