"""A soak check: many approvals through several bot processes while faults are injected, then a
verification that every promise held.

    python -m bot.local.soak --events 500
    python -m bot.local.soak --events 200 --cluster     # a three-node NATS cluster

The fake Slack enforces Slack's rate limits throughout. Faults while approvals are announced:
extra 429s on posts, a NATS restart, one bot process killed and replaced. Faults while votes are
cast, several at once (bot/local/soak_faults.py): forest UNAVAILABLE, one person's forest token
close to expiry while they vote through two replicas at once, Slack's ``chat.update`` and
``chat.postEphemeral`` hanging, NATS killed for ten seconds and started again on the same store
(with ``--cluster``: the node leading the approvals bucket instead), and JetStream's store full.
``--without`` leaves a fault out; ``--workdir`` keeps the bots' logs. Each vote is followed until
forest has it or its voter was told privately it was NOT recorded (who then tries again); one
that ends in neither is lost. It then checks one message per approval, every vote recorded in
forest exactly once and shown to its voter, no thread reply twice, no link lost, and every
message showing forest's final state; it prints the counts and exits non-zero when a promise
was broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import grpc

from bot.local.bot_process import BotProcess
from bot.local.local_stack import ORGANISATION, LocalStack, local_stack
from bot.local.nats_server import NatsCluster
from bot.local.soak_checks import DEPLOYED_EVERY, messages_by_intent, verify, wrong_final
from bot.local.soak_faults import STORE_LIMIT, SoakFaults, Window, windows
from bot.local.soak_report import SoakReport
from bot.local.soak_votes import MAX_ATTEMPTS, Ending, Vote, Way, attempt
from bot.wiring import Tuning

SOAK_TUNING = Tuning(
    coalesce_window=0.3,
    reconcile_interval=30.0,
    device_poll_floor=0.05,
    ack_wait=3.0,
    claim_timeout=3.0,
    # A hanging Slack method fails the call within this (Slack's own deadline for us is 3 s).
    slack_timeout=3.0,
)
PROJECTS = 10
# One approval in this many meets a Slack 429 on its post.
FAULT_EVERY = 20
# Votes cast at once.
WAVE = 8
# While a fault lasts, a new wave begins this often.
WAVE_EVERY_SECONDS = 1.0
# One wave in this many meets forest UNAVAILABLE on a vote.
FOREST_FAULT_EVERY = 5


async def soak(
    workdir: Path,
    events: int,
    replicas: int = 2,
    seed: int = 7,
    *,
    cluster: bool = False,
    faults: SoakFaults | None = None,
) -> SoakReport:
    faults = faults or SoakFaults()
    rng = random.Random(seed)
    report = SoakReport(events=events)
    started = time.monotonic()
    running = (
        local_stack(workdir, nats_cluster=3)
        if cluster
        else local_stack(workdir, nats_max_file_store=STORE_LIMIT)
    )
    async with running as stack:
        # Slack's rate limits, as Slack enforces them: the bots must stay inside them.
        stack.slack.rate_limits.enabled = True
        projects = [f"service-{n}" for n in range(PROJECTS)]
        for project in projects:
            stack.forest.add_project(ORGANISATION, project)
            stack.forest.add_policy(
                ORGANISATION, project, "production", name="prod-needs-two", required_approvals=2
            )
        env = {"NATS_REPLICAS": "3"} if cluster else {}
        bots = [await stack.start_bot_process(SOAK_TUNING, **env) for _ in range(replicas)]
        await stack.link("bob", bots[0])
        await stack.link("carol", bots[-1])

        intents = await _announce_all(stack, rng, projects, events, bots, env, faults, report)
        # Posts wait their turn inside Slack's limit of about one a second in a channel.
        await _wait(lambda: len(messages_by_intent(stack)) >= len(intents), 60 + events * 1.5)
        messages = _messages(stack, intents)
        votes = _votes(stack, intents, messages)
        caster = _Caster(stack, rng, votes, bots, faults, report)
        await _cast_all(caster, windows(faults, cluster), report)
        await _finish_some(stack, intents)
        # Updates wait their turn inside Slack's rate limits (about 50 chat.update a minute),
        # and votes come faster than that: give the backlog the time those limits allow.
        await asyncio.sleep(SOAK_TUNING.coalesce_window * 4 + 1)
        updates = len(votes) + events // DEPLOYED_EVERY
        await _wait(lambda: not wrong_final(stack, intents, messages), 60 + updates * 2.5)
        verify(stack, intents, messages, votes, report)
        report.rate_limited = stack.slack.rate_limits.refused_total
    report.seconds = time.monotonic() - started
    return report


async def _announce_all(
    stack: LocalStack,
    rng: random.Random,
    projects: list[str],
    events: int,
    bots: list[BotProcess],
    env: dict[str, str],
    faults: SoakFaults,
    report: SoakReport,
) -> list[str]:
    """Publish ``events`` approvals (some twice), with faults along the way."""
    intents: list[str] = []
    for number in range(events):
        project = projects[number % len(projects)]
        intent = stack.forest.add_release_intent(ORGANISATION, project, author="alice")
        intents.append(intent)
        if faults.slack_429s and number % FAULT_EVERY == 0:
            stack.slack.fail_next("chat.postMessage", status=429, retry_after=1)
            report.faults["slack 429"] += 1
        for _ in range(2 if rng.random() < 0.3 else 1):
            await _publish(stack, intent, project)
            report.announcements += 1
        if faults.nats_restart and number == events // 3:
            await _restart_nats(stack)
            report.faults["nats restart"] += 1
        if faults.bot_killed and number == events // 2:
            victim = bots.pop(0)
            victim.kill()
            await victim.wait_killed()
            bots.append(await stack.start_bot_process(SOAK_TUNING, **env))
            report.faults["bot killed"] += 1
    return intents


async def _restart_nats(stack: LocalStack) -> None:
    """The bot's NATS stopped and started again; a cluster the way one restarts a cluster,
    a node at a time (the node loss while votes are cast is the fault there)."""
    servers = stack.nats_server
    if not isinstance(servers, NatsCluster):
        await servers.restart()
        return
    for node in servers.nodes:
        await node.restart()
        await servers.wait_for_jetstream()


async def _publish(stack: LocalStack, intent: str, project: str) -> None:
    # The publisher retries like forest's relay would while NATS restarts.
    for attempt_number in range(100):
        try:
            await stack.announce(intent, project=project)
            return
        except Exception:
            if attempt_number == 99:
                raise
            await asyncio.sleep(0.1)


def _messages(stack: LocalStack, intents: list[str]) -> dict[str, str]:
    """Each approval's message ts, for those that have one."""
    found = {}
    for intent in intents:
        message = stack.message_of(intent)
        if message is not None:
            found[intent] = message.ts
    return found


def _votes(stack: LocalStack, intents: list[str], messages: dict[str, str]) -> list[Vote]:
    """Bob approves everything with the button; carol a third, every other one by replying
    ``approve`` in the thread."""
    votes = []
    for number, intent in enumerate(intents):
        if intent not in messages:
            continue
        for person in ["bob"] + (["carol"] if number % 3 == 0 else []):
            way = Way.THREAD if person == "carol" and number % 2 == 0 else Way.CLICK
            user = stack.person(person).slack_user_id
            votes.append(Vote(intent, messages[intent], person, user, way))
    return votes


class _Caster:
    """The votes still to cast, cast ``WAVE`` at a time; one told NOT recorded goes back in
    line, to be tried again in a later wave."""

    def __init__(
        self,
        stack: LocalStack,
        rng: random.Random,
        votes: list[Vote],
        bots: list[BotProcess],
        faults: SoakFaults,
        report: SoakReport,
    ) -> None:
        self.stack = stack
        self._rng = rng
        self._bots = bots
        self._faults = faults
        self._report = report
        self.queue: deque[Vote] = deque(votes)
        self._waves = 0

    async def cast(self, count: int, spread: bool = False) -> None:
        """Cast ``count`` votes (fewer when fewer wait), in waves."""
        while count > 0 and self.queue:
            size = min(count, WAVE)
            await self.wave(size, spread)
            count -= size

    async def wave(self, size: int, spread: bool = False) -> None:
        """Up to ``size`` votes at once, each through a replica chosen at random; ``spread``:
        through the replicas in turn, so that one person's votes reach each of them at once."""
        batch = [self.queue.popleft() for _ in range(min(size, WAVE, len(self.queue)))]
        if not batch:
            return
        if self._faults.forest_unavailable and self._waves % FOREST_FAULT_EVERY == 0:
            self.stack.forest.fail_next(
                "ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "soak"
            )
            self._report.faults["forest unavailable"] += 1
        self._waves += 1
        bots = self._bots
        chosen = [
            bots[i % len(bots)] if spread else self._rng.choice(bots) for i in range(len(batch))
        ]
        endings = await asyncio.gather(
            *(
                attempt(self.stack, vote, bot, self._report)
                for vote, bot in zip(batch, chosen, strict=True)
            )
        )
        for vote, ending in zip(batch, endings, strict=True):
            if ending == Ending.TOLD_NOT and vote.attempts < MAX_ATTEMPTS:
                self.queue.append(vote)


async def _cast_all(caster: _Caster, planned: list[Window], report: SoakReport) -> None:
    """Cast every vote. The window faults open one after another, each with a share of the
    votes cast in quiet before it and a share cast while it lasts."""
    share = max(1, len(caster.queue) // (2 * len(planned) + 1))
    for window in planned:
        await caster.cast(share)
        attempted = report.votes_attempted
        await _during(caster, window, share, report)
        report.votes_under_fault[window.name] += report.votes_attempted - attempted
    while caster.queue:
        await caster.cast(len(caster.queue))


async def _during(caster: _Caster, window: Window, share: int, report: SoakReport) -> None:
    """Open ``window``'s fault for its seconds and cast up to ``share`` votes meanwhile: a wave
    every ``WAVE_EVERY_SECONDS``, as people keep clicking whether or not the last ones were
    answered; the waves still on their way when the fault ends go on after it."""
    loop = asyncio.get_running_loop()
    running: list[asyncio.Task[None]] = []
    async with window.open(caster.stack, report):
        deadline = loop.time() + window.seconds
        while share > 0 and caster.queue and loop.time() < deadline:
            size = min(share, WAVE)
            share -= size
            running.append(asyncio.ensure_future(caster.wave(size, window.spread)))
            await asyncio.sleep(min(WAVE_EVERY_SECONDS, max(0.0, deadline - loop.time())))
        await asyncio.sleep(max(0.0, deadline - loop.time()))
    await asyncio.gather(*running)


async def _finish_some(stack: LocalStack, intents: list[str]) -> None:
    for number, intent in enumerate(intents):
        if number % DEPLOYED_EVERY == 0:  # approved by bob and carol; they deploy
            await stack.forest.publish_release_status(
                intent,
                {"pipeline_update": True, "pipeline_complete": True, "intent_status": "SUCCEEDED"},
            )


async def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return  # the verification reports what is missing
        await asyncio.sleep(0.2)


FAULT_NAMES = {
    "slack-429s": "slack_429s",
    "nats-restart": "nats_restart",
    "bot-killed": "bot_killed",
    "forest-unavailable": "forest_unavailable",
    "refresh-race": "refresh_race_seconds",
    "slack-hang": "slack_hang_seconds",
    "nats-outage": "nats_outage_seconds",
    "full-store": "full_store_seconds",
    "node-loss": "node_loss_seconds",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A soak check: many approvals through several bot processes while faults"
        " are injected, then a verification that every promise held."
    )
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cluster", action="store_true", help="run NATS as a three-node cluster (NATS_REPLICAS=3)"
    )
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=sorted(FAULT_NAMES),
        help="leave this fault out (repeat for several); every fault is on by default",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the stores and the bots' logs (bot-N.log) here; by default a temporary"
        " directory, removed at the end",
    )
    args = parser.parse_args(argv)
    faults = SoakFaults().without(*(FAULT_NAMES[name] for name in args.without))
    with contextlib.ExitStack() as cleanup:
        workdir = args.workdir or Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="approvals-soak-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(
            soak(
                workdir, args.events, args.replicas, args.seed, cluster=args.cluster, faults=faults
            )
        )
    for line in report.lines():
        print(line)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
