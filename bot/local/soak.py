"""A soak check: many approvals through several bot processes while faults are injected, then a
verification that every promise held.

    python -m bot.local.soak --events 500
    python -m bot.local.soak --events 200 --cluster     # a three-node NATS cluster

The fake Slack enforces Slack's rate limits throughout. Faults while events flow: extra 429s
on posts, a NATS restart, one bot process killed and replaced. Faults while votes are cast
(several at once): forest UNAVAILABLE, NATS killed for ten seconds and started again on the same
store (with ``--cluster``: the node leading the approvals bucket), JetStream's store full, and a
Slack ``chat.update`` that hangs. It then checks that each (intent, environment) has exactly one
message, that every vote the bot acknowledged was recorded in forest exactly once or its voter
was told it was NOT recorded (and tried again), that nobody was told "NOT recorded" for a vote
forest has, and that every message shows forest's final state. It prints the counts and exits
non-zero when a promise was broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import nats.js.errors
from nats.js.api import StreamConfig

from bot.local.bot_process import BotProcess
from bot.local.local_stack import CHANNEL, ORGANISATION, LocalStack, local_stack
from bot.local.nats_server import NatsCluster
from bot.wiring import Tuning

SOAK_TUNING = Tuning(
    coalesce_window=0.3,
    reconcile_interval=30.0,
    device_poll_floor=0.05,
    ack_wait=3.0,
    claim_timeout=3.0,
    slack_timeout=3.0,
)
PROJECTS = 10
# One approval in this many meets a Slack rate limit, and one vote a forest outage.
FAULT_EVERY = 20
NATS_OUTAGE_SECONDS = 10.0
FULL_STORE_SECONDS = 4.0
SLACK_HANG_SECONDS = 4.0
# A small store, so that filling it is quick; the soak's own state is far smaller.
STORE_LIMIT = "48MB"
# Votes cast at once; the waves under a fault and the ordinary ones.
WAVE = 8
# How long a vote may take to be recorded or refused (a NATS outage makes reads time out).
VOTE_DEADLINE_SECONDS = 30.0


@dataclass
class SoakReport:
    events: int
    announcements: int = 0
    messages: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    votes_acknowledged: int = 0  # clicks the bot answered 200 to
    votes_recorded: int = 0  # ... that forest then had
    votes_told_recorded_late: int = 0  # recorded, and the voter told so (message lagging)
    votes_told_not_recorded: int = 0  # ... whose voter was told NOT recorded (and tried again)
    votes_lost: list[str] = field(default_factory=list)  # neither recorded nor told
    told_not_but_recorded: list[str] = field(default_factory=list)  # a false "NOT recorded"
    votes_counted: int = 0  # distinct (person, release) votes that ended recorded
    votes_not_once: list[str] = field(default_factory=list)
    wrong_final: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rate_limited: int = 0  # calls the fake Slack answered 429 by its rate limits

    @property
    def ok(self) -> bool:
        return not (
            self.duplicates
            or self.missing
            or self.votes_not_once
            or self.wrong_final
            or self.votes_lost
            or self.told_not_but_recorded
        )

    def lines(self) -> list[str]:
        return [
            f"events (distinct approvals)     {self.events}",
            f"announcements published         {self.announcements}",
            f"messages posted                 {self.messages}",
            f"approvals with >1 message       {len(self.duplicates)}",
            f"approvals with no message       {len(self.missing)}",
            f"votes acknowledged (clicks)     {self.votes_acknowledged}",
            f"  recorded in forest            {self.votes_recorded}",
            f"    of which told 'recorded, message catching up' {self.votes_told_recorded_late}",
            f"  told NOT recorded (retried)   {self.votes_told_not_recorded}",
            f"  lost (neither)                {len(self.votes_lost)}",
            f"  told NOT but recorded         {len(self.told_not_but_recorded)}",
            f"votes recorded exactly once     {self.votes_counted - len(self.votes_not_once)}",
            f"duplicates (approvals whose votes reached forest more than once) "
            f"{len(self.votes_not_once)}",
            f"messages not matching forest    {len(self.wrong_final)}",
            f"calls past Slack's rate limits  {self.rate_limited}",
            "faults injected                 "
            + ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items())),
            f"took                            {self.seconds:.1f}s",
            *(f"  lost: {vote}" for vote in self.votes_lost[:5]),
            *(f"  told NOT but recorded: {vote}" for vote in self.told_not_but_recorded[:5]),
            *(f"  not matching: {message}" for message in self.wrong_final[:5]),
            "RESULT                          " + ("ok" if self.ok else "BROKEN PROMISES"),
        ]


async def soak(
    workdir: Path, events: int, replicas: int = 2, seed: int = 7, cluster: bool = False
) -> SoakReport:
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

        intents = await _announce_all(stack, rng, projects, events, bots, env, report)
        await _wait(lambda: _posted_count(stack) >= len(intents), 60 + events / 10)
        await _vote_all(stack, rng, intents, bots, report)
        await _finish_some(stack, intents)
        # Messages Slack or JetStream kept from updating catch up on the refreshes' retries.
        await asyncio.sleep(SOAK_TUNING.coalesce_window * 4 + 1)
        # Updates wait their turn inside Slack's rate limits: give them the time those allow.
        await _wait(lambda: not _wrong_final(stack, intents), 30 + events * 1.5)
        _verify(stack, intents, report)
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
    report: SoakReport,
) -> dict[str, str]:
    """Publish ``events`` approvals (some twice), with faults along the way; intent -> project."""
    intents: dict[str, str] = {}
    for number in range(events):
        project = projects[number % len(projects)]
        intent = stack.forest.add_release_intent(ORGANISATION, project, author="alice")
        intents[intent] = project
        if number % FAULT_EVERY == 0:
            stack.slack.fail_next("chat.postMessage", status=429, retry_after=1)
            report.faults["slack 429"] += 1
        for _ in range(2 if rng.random() < 0.3 else 1):
            await _publish(stack, intent, project)
            report.announcements += 1
        if number == events // 3:
            await stack.nats_server.restart()
            report.faults["nats restart"] += 1
        if number == events // 2:
            victim = bots.pop(0)
            victim.kill()
            await victim.wait_killed()
            bots.append(await stack.start_bot_process(SOAK_TUNING, **env))
            report.faults["bot killed"] += 1
    return intents


async def _publish(stack: LocalStack, intent: str, project: str) -> None:
    # The publisher retries like forest's relay would while NATS restarts.
    for attempt in range(100):
        try:
            await stack.announce(intent, project=project)
            return
        except Exception:
            if attempt == 99:
                raise
            await asyncio.sleep(0.1)


async def _vote_all(
    stack: LocalStack,
    rng: random.Random,
    intents: dict[str, str],
    bots: list[BotProcess],
    report: SoakReport,
) -> None:
    """Bob approves everything, carol a third, several votes at once; some waves meet a fault.
    A vote its voter was told was NOT recorded is tried again in a later wave."""
    votes = deque(
        (intent, person)
        for number, intent in enumerate(intents)
        for person in ["bob"] + (["carol"] if number % 3 == 0 else [])
    )
    report.votes_counted = len(votes)
    faults: deque[Callable[[], contextlib.AbstractAsyncContextManager[None]]] = deque(
        [
            lambda: _nats_outage(stack, report),
            lambda: _full_store(stack, report),
            lambda: _slack_hang(stack, report),
        ]
    )
    number = 0
    while votes:
        wave = [votes.popleft() for _ in range(min(WAVE, len(votes)))]
        # Every other wave meets the next fault, until none is left.
        fault = faults.popleft() if faults and number % 2 == 1 else None
        async with fault() if fault is not None else contextlib.nullcontext():
            results = await asyncio.gather(
                *(
                    _vote_once(stack, intent, person, rng.choice(bots), number, report)
                    for intent, person in wave
                )
            )
        number += 1
        votes.extend(vote for vote, told_no in zip(wave, results, strict=True) if told_no)


async def _vote_once(
    stack: LocalStack,
    intent: str,
    person: str,
    bot: BotProcess,
    number: int,
    report: SoakReport,
) -> bool:
    """One click, followed until forest has the vote or the person was told it has not;
    True when they were told NOT recorded (they try again later)."""
    ts = _message_ts(stack, intent)
    if number % FAULT_EVERY == 0 and person == "bob":
        stack.forest.fail_next("ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "soak")
        report.faults["forest unavailable"] += 1
    user = stack.person(person).slack_user_id
    told_before = len(_told_not_recorded(stack, user, ts))
    late_before = len(_told_recorded_late(stack, user))
    delivery = await stack.click(person, ts, "approval_approve", bot)
    if delivery.status != 200:
        # Slack itself would show the person an error: not acknowledged, nothing promised.
        report.faults[f"click answered {delivery.status}"] += 1
        return True
    report.votes_acknowledged += 1
    deadline = time.monotonic() + VOTE_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        recorded = any(
            d.username == person
            for d in stack.forest.approval_state(intent, "production").decisions
        )
        if len(_told_not_recorded(stack, user, ts)) > told_before:
            if recorded:
                report.told_not_but_recorded.append(f"{person} on {intent}")
                return False
            report.votes_told_not_recorded += 1
            return True
        if recorded:
            report.votes_recorded += 1
            await asyncio.sleep(0.2)  # a "recorded, catching up" notice follows the vote
            if len(_told_recorded_late(stack, user)) > late_before:
                report.votes_told_recorded_late += 1
            return False
        await asyncio.sleep(0.05)
    said = [e.text for e in stack.slack.ephemerals(CHANNEL, user)][-2:]
    report.votes_lost.append(f"{person} on {intent} (last told: {said})")
    return False


def _told_not_recorded(stack: LocalStack, user: str, ts: str) -> list[object]:
    """The private "NOT recorded, Try again" answers about the message at ``ts``."""
    return [
        e
        for e in stack.slack.ephemerals(CHANNEL, user)
        if "NOT" in (e.text or "") and ts in _button_values(e)
    ]


def _told_recorded_late(stack: LocalStack, user: str) -> list[object]:
    return [e for e in stack.slack.ephemerals(CHANNEL, user) if "recorded in forest" in e.text]


def _button_values(message: object) -> str:
    values = []
    for block in getattr(message, "blocks", None) or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            values.append(str(element.get("value", "")))
    return " ".join(values)


@contextlib.asynccontextmanager
async def _nats_outage(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """NATS killed for ten seconds (with a cluster: the node leading the approvals bucket),
    then started again on the same store."""
    started = time.monotonic()
    servers = stack.nats_server
    if isinstance(servers, NatsCluster):
        info = await stack.nc.jetstream().stream_info("KV_forest_approvals")
        leader = info.cluster.leader if info.cluster else None
        victim = next(n for n in servers.nodes if n.cluster and n.cluster.name == leader)
        report.faults["nats cluster node lost 10s"] += 1
    else:
        victim = servers  # type: ignore[assignment]
        report.faults["nats outage 10s"] += 1
    victim.kill()
    await victim.wait_killed()
    try:
        yield
    finally:
        await asyncio.sleep(max(0.0, NATS_OUTAGE_SECONDS - (time.monotonic() - started)))
        await victim.start()
        await _wait(lambda: stack.nc.is_connected, 20)
        await asyncio.sleep(2.0)  # the bots reconnect by themselves


@contextlib.asynccontextmanager
async def _full_store(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """JetStream's store filled to its limit while votes are cast, then emptied again."""
    if isinstance(stack.nats_server, NatsCluster):
        yield  # the cluster runs without a store limit
        return
    js = stack.nc.jetstream()
    await js.add_stream(StreamConfig(name="SOAK_FILLER", subjects=["soak.filler"]))
    chunk = b"x" * 900 * 1024
    for _ in range(200):
        try:
            await js.publish("soak.filler", chunk)
        except nats.js.errors.ServiceUnavailableError:
            break
    report.faults["jetstream store full"] += 1
    started = time.monotonic()
    try:
        yield
    finally:
        await asyncio.sleep(max(0.0, FULL_STORE_SECONDS - (time.monotonic() - started)))
        await js.delete_stream("SOAK_FILLER")


@contextlib.asynccontextmanager
async def _slack_hang(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """Slack's chat.update answers nothing (for longer than the bot's deadline)."""
    stack.slack.hang("chat.update")
    report.faults["slack chat.update hanging"] += 1
    started = time.monotonic()
    try:
        yield
    finally:
        await asyncio.sleep(max(0.0, SLACK_HANG_SECONDS - (time.monotonic() - started)))
        stack.slack.hang("chat.update", False)


async def _finish_some(stack: LocalStack, intents: dict[str, str]) -> None:
    for number, intent in enumerate(intents):
        if number % 6 == 0:  # approved by bob and carol; half of those deploy
            await stack.forest.publish_release_status(
                intent,
                {"pipeline_update": True, "pipeline_complete": True, "intent_status": "SUCCEEDED"},
            )


def _verify(stack: LocalStack, intents: dict[str, str], report: SoakReport) -> None:
    per_intent = Counter(
        (m.metadata or {}).get("event_payload", {}).get("release_intent_id")
        for m in stack.slack.messages(CHANNEL)
    )
    report.messages = sum(per_intent.values())
    report.duplicates = [i for i in intents if per_intent[i] > 1]
    report.missing = [i for i in intents if per_intent[i] == 0]
    # Checked again while messages catch up: each pass starts afresh.
    report.votes_not_once = []
    report.wrong_final = []
    recorded = Counter(
        payload.decode()
        for subject, payload in stack.forest.published
        if subject == "forest.intent.evaluate"
    )
    for intent in intents:
        state = stack.forest.approval_state(intent, "production")
        if recorded[intent] != len(state.decisions):
            report.votes_not_once.append(intent)
    report.wrong_final = _wrong_final(stack, intents)


def _wrong_final(stack: LocalStack, intents: dict[str, str]) -> list[str]:
    """The approvals whose one message does not show forest's final state."""
    wrong: list[str] = []
    for number, intent in enumerate(intents):
        state = stack.forest.approval_state(intent, "production")
        try:
            shown = _all_text(stack.slack.message(CHANNEL, _message_ts(stack, intent)))
        except (LookupError, AssertionError):
            continue  # no message: counted as missing
        if state.current_approvals < 2:
            expected = f"{state.current_approvals} of 2"
        elif number % 6 == 0:
            expected = "Deployed to production"
        else:
            expected = "production approved"
        if expected not in shown:
            wrong.append(f"{intent}: forest says {expected!r}")
    return wrong


def _message_ts(stack: LocalStack, intent: str) -> str:
    for message in stack.slack.messages(CHANNEL):
        payload = (message.metadata or {}).get("event_payload", {})
        if payload.get("release_intent_id") == intent:
            return message.ts
    raise LookupError(intent)


def _posted_count(stack: LocalStack) -> int:
    return len(stack.slack.messages(CHANNEL))


def _all_text(message: object) -> str:
    parts = [getattr(message, "text", "") or ""]
    for block in getattr(message, "blocks", None) or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
    return "\n".join(parts)


async def _wait(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return  # the verification reports what is missing
        await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cluster", action="store_true", help="run NATS as a three-node cluster (NATS_REPLICAS=3)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="approvals-soak-") as workdir:
        report = asyncio.run(
            soak(Path(workdir), args.events, args.replicas, args.seed, cluster=args.cluster)
        )
    for line in report.lines():
        print(line)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
