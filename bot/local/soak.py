"""A soak check: many approvals through several bot processes while faults are injected, then a
verification that every promise held.

    python -m bot.local.soak --events 500

The fake Slack enforces Slack's rate limits throughout. Faults: extra 429s on posts, forest
UNAVAILABLE on votes, a NATS restart while events flow, and one bot process killed and
replaced. It then checks that each (intent, environment) has exactly one message, that every
vote the bot acknowledged reached forest exactly once, and that every message shows forest's
final state. It prints the counts and exits non-zero when a promise was broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bot.local.bot_process import BotProcess
from bot.local.local_stack import CHANNEL, ORGANISATION, LocalStack, local_stack
from bot.wiring import Tuning

SOAK_TUNING = Tuning(
    coalesce_window=0.3,
    reconcile_interval=30.0,
    device_poll_floor=0.05,
    ack_wait=3.0,
    claim_timeout=3.0,
)
PROJECTS = 10
# One approval in this many meets a Slack rate limit, and one vote a forest outage.
FAULT_EVERY = 20


@dataclass
class SoakReport:
    events: int
    announcements: int = 0
    messages: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    votes_acknowledged: int = 0
    votes_retried: int = 0
    votes_not_once: list[str] = field(default_factory=list)
    wrong_final: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rate_limited: int = 0  # calls the fake Slack answered 429 by its rate limits

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.missing or self.votes_not_once or self.wrong_final)

    def lines(self) -> list[str]:
        return [
            f"events (distinct approvals)     {self.events}",
            f"announcements published         {self.announcements}",
            f"messages posted                 {self.messages}",
            f"approvals with >1 message       {len(self.duplicates)}",
            f"approvals with no message       {len(self.missing)}",
            f"votes acknowledged              {self.votes_acknowledged}",
            f"votes tried again by people     {self.votes_retried}",
            f"votes not in forest exactly once {len(self.votes_not_once)}",
            f"messages not matching forest    {len(self.wrong_final)}",
            f"calls past Slack's rate limits  {self.rate_limited}",
            "faults injected                 "
            + ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items())),
            f"took                            {self.seconds:.1f}s",
            "RESULT                          " + ("ok" if self.ok else "BROKEN PROMISES"),
        ]


async def soak(workdir: Path, events: int, replicas: int = 2, seed: int = 7) -> SoakReport:
    rng = random.Random(seed)
    report = SoakReport(events=events)
    started = time.monotonic()
    async with local_stack(workdir) as stack:
        # Slack's rate limits, as Slack enforces them: the bots must stay inside them.
        stack.slack.rate_limits.enabled = True
        projects = [f"service-{n}" for n in range(PROJECTS)]
        for project in projects:
            stack.forest.add_project(ORGANISATION, project)
            stack.forest.add_policy(
                ORGANISATION, project, "production", name="prod-needs-two", required_approvals=2
            )
        bots = [await stack.start_bot_process(SOAK_TUNING) for _ in range(replicas)]
        await stack.link("bob", bots[0])
        await stack.link("carol", bots[-1])

        intents = await _announce_all(stack, rng, projects, events, bots, report)
        await _wait(lambda: _posted_count(stack) >= len(intents), 60 + events / 10)
        await _vote_all(stack, rng, intents, bots, report)
        await _finish_some(stack, intents)
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
            bots.append(await stack.start_bot_process(SOAK_TUNING))
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
    """Bob approves everything, carol a third; a vote forest did not take is tried again."""
    voters = {
        intent: ["bob"] + (["carol"] if n % 3 == 0 else []) for n, intent in enumerate(intents)
    }
    for number, (intent, people) in enumerate(voters.items()):
        ts = _message_ts(stack, intent)
        for person in people:
            for attempt in range(5):
                if number % FAULT_EVERY == 0 and attempt == 0:
                    stack.forest.fail_next(
                        "ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "soak"
                    )
                    report.faults["forest unavailable"] += 1
                before = len(_failures_shown(stack, person))
                await stack.click(person, ts, "approval_approve", rng.choice(bots))
                if await _acknowledged(stack, intent, person, before):
                    report.votes_acknowledged += 1
                    break
                report.votes_retried += 1


async def _acknowledged(stack: LocalStack, intent: str, person: str, failures_before: int) -> bool:
    """Wait until the person's vote shows in forest (and the thread), or they were told no."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = stack.forest.approval_state(intent, "production")
        if any(d.username == person for d in state.decisions):
            return True
        if len(_failures_shown(stack, person)) > failures_before:
            return False
        await asyncio.sleep(0.02)
    return False


def _failures_shown(stack: LocalStack, person: str) -> list[object]:
    user = stack.person(person).slack_user_id
    return [e for e in stack.slack.ephemerals(CHANNEL, user) if "NOT" in (e.text or "")]


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
            wrong.append(intent)
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="approvals-soak-") as workdir:
        report = asyncio.run(soak(Path(workdir), args.events, args.replicas, args.seed))
    for line in report.lines():
        print(line)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
