"""The pacer: calls wait for their turn inside the limits, the urgent first, updates of one
message coalesce, replies in one thread merge, a 429 is waited out, nothing is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any

import pytest

from bot.slack.pacing import (
    MERGED_TEXT_LIMIT,
    BucketState,
    Call,
    Limit,
    Limits,
    LocalBudget,
    NotSent,
    Pacer,
    Priority,
    RateLimited,
    merge_replies,
)

# Fast limits, so that a test shows queueing in a fraction of a second.
FAST = Limit(per_second=20.0, burst=2)
LIMITS = Limits(methods={"chat.update": FAST, "chat.postEphemeral": FAST}, channel_posts=FAST)
GAP = 1 / FAST.per_second


class Slack:
    """Records what was sent, and when; can answer 429 or fail."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[float, str, dict[str, Any]]] = []
        self.limit_next = 0
        self.retry_after = 0.1
        self.failure: Exception | None = None
        self.delay = delay
        self.refused = 0

    async def send(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.limit_next:
            self.limit_next -= 1
            self.refused += 1
            raise RateLimited(self.retry_after)
        if self.failure is not None:
            raise self.failure
        self.sent.append((time.monotonic(), method, dict(args)))
        return {"ok": True, "n": len(self.sent), "text": args.get("text")}

    def texts(self, method: str | None = None) -> list[str]:
        return [str(a.get("text")) for _, m, a in self.sent if method in (None, m)]


def update(ts: str, text: str, priority: Priority = Priority.REFRESH) -> Call:
    args = {"channel": "C1", "ts": ts, "text": text, "blocks": []}
    return Call("chat.update", args, priority, coalesce=True)


def reply(thread: str, text: str, channel: str = "C1") -> Call:
    args = {"channel": channel, "thread_ts": thread, "text": text}
    return Call("chat.postMessage", args, Priority.RECORD, merge=True)


def new_message(text: str, channel: str = "C1") -> Call:
    return Call("chat.postMessage", {"channel": channel, "text": text}, Priority.PERSON)


def pacer_for(slack: Slack, limits: Limits = LIMITS) -> Pacer:
    return Pacer(slack.send, LocalBudget(), limits)


async def test_calls_past_the_burst_leave_at_the_limits_rate():
    slack = Slack()
    pacer = pacer_for(slack)
    started = time.monotonic()
    await asyncio.gather(*(pacer.call(update(f"{n}.0", "x", Priority.PERSON)) for n in range(6)))

    times = [at - started for at, _, _ in slack.sent]
    assert len(times) == 6
    assert times[1] < GAP / 2  # the burst leaves at once
    for n in range(2, 6):
        assert times[n] >= (n - 1) * GAP * 0.9, times
    await pacer.close()


async def test_waiting_updates_of_one_message_send_only_the_newest_state():
    slack = Slack()
    pacer = pacer_for(slack)
    await asyncio.gather(pacer.call(update("9.0", "spend")), pacer.call(update("8.0", "spend")))
    answers = await asyncio.gather(*(pacer.call(update("1.0", f"state {n}")) for n in range(5)))

    assert slack.texts() == ["spend", "spend", "state 4"]
    # Every caller hears the answer of the update that showed its state (or a newer one).
    assert {a["text"] for a in answers} == {"state 4"}
    assert pacer.coalesced == 4
    await pacer.close()


async def test_what_a_person_waits_for_goes_before_what_only_refreshes_a_tally():
    slack = Slack()
    pacer = pacer_for(slack)
    tallies = [asyncio.create_task(pacer.call(update(f"{n}.0", f"tally {n}"))) for n in range(5)]
    await asyncio.sleep(0)
    outcome = asyncio.create_task(pacer.call(update("7.0", "deployed", Priority.PERSON)))
    await asyncio.gather(*tallies, outcome)

    texts = slack.texts()
    # The first tally left a token in the bucket, which the outcome took at once.
    assert texts[:2] == ["tally 0", "deployed"]
    assert slack.sent[1][0] - slack.sent[0][0] < GAP / 2
    assert texts[2:] == [f"tally {n}" for n in range(1, 5)]
    await pacer.close()


async def test_replies_waiting_in_a_thread_leave_as_one_message_in_order():
    slack = Slack()
    pacer = pacer_for(slack)
    await asyncio.gather(*(pacer.call(new_message(f"release {n}")) for n in range(2)))
    said = [f"✅ reviewer{n} approved" for n in range(5)]
    answers = await asyncio.gather(*(pacer.call(reply("1.0", text)) for text in said))

    replies = [a for _, _, a in slack.sent if a.get("thread_ts") == "1.0"]
    assert [r["text"] for r in replies] == [" · ".join(said)]
    assert len({a["n"] for a in answers}) == 1
    assert pacer.merged == 4
    await pacer.close()


async def test_a_new_approval_message_goes_before_the_replies_waiting_in_its_channel():
    slack = Slack()
    pacer = pacer_for(slack)
    replies = [asyncio.create_task(pacer.call(reply(f"{n}.0", f"vote {n}"))) for n in range(6)]
    await asyncio.sleep(0)
    posted = asyncio.create_task(pacer.call(new_message("a release blocked mid-train")))
    await asyncio.gather(*replies, posted)

    texts = slack.texts()
    # Replies leave a token for a new message, which goes at once.
    assert texts[:2] == ["vote 0", "a release blocked mid-train"]
    assert slack.sent[1][0] - slack.sent[0][0] < GAP / 2
    await pacer.close()


async def test_channels_have_budgets_of_their_own():
    slack = Slack()
    pacer = pacer_for(slack)
    started = time.monotonic()
    busy = [asyncio.create_task(pacer.call(new_message(f"c1 {n}"))) for n in range(8)]
    await pacer.call(new_message("elsewhere", channel="C2"))

    assert time.monotonic() - started < GAP
    await asyncio.gather(*busy)
    await pacer.close()


async def test_a_429_stops_the_lane_for_retry_after_and_the_call_goes_again():
    slack = Slack()
    slack.limit_next = 1
    slack.retry_after = 0.3
    pacer = pacer_for(slack)
    started = time.monotonic()
    first, second = await asyncio.gather(
        pacer.call(new_message("first")), pacer.call(new_message("second"))
    )

    assert sorted(slack.texts()) == ["first", "second"]
    assert pacer.rate_limited == 1
    assert first["ok"] and second["ok"]
    # The refused call went again once Slack's wait was over.
    assert max(at for at, _, _ in slack.sent) - started >= 0.3 * 0.9
    await pacer.close()


async def test_the_whole_lane_waits_out_a_429():
    slack = Slack()
    slack.limit_next = 1
    slack.retry_after = 0.3
    pacer = pacer_for(slack)
    started = time.monotonic()
    await pacer.call(new_message("first"))
    await pacer.call(new_message("second"))

    assert slack.texts() == ["first", "second"]
    assert [round(at - started, 1) >= 0.27 for at, _, _ in slack.sent] == [True, True]


async def test_slack_refusing_for_another_reason_reaches_every_caller_of_the_call():
    slack = Slack()
    pacer = pacer_for(slack)
    await asyncio.gather(*(pacer.call(new_message(f"spend {n}")) for n in range(2)))
    slack.failure = ValueError("msg_too_long")
    results = await asyncio.gather(
        *(pacer.call(reply("1.0", f"vote {n}")) for n in range(3)), return_exceptions=True
    )

    assert all(isinstance(r, ValueError) for r in results)
    await pacer.close()


async def test_methods_without_a_limit_are_not_queued():
    slack = Slack()
    pacer = pacer_for(slack)
    await asyncio.gather(*(pacer.call(Call("auth.test", {})) for _ in range(50)))
    assert len(slack.sent) == 50
    await pacer.close()


async def test_a_burst_with_429s_loses_no_reply_and_ends_with_every_message_newest():
    """40 votes on 10 messages: an update and a reply each, while Slack refuses at random."""
    slack = Slack(delay=0.002)
    rng = random.Random(7)
    pacer = pacer_for(slack)

    async def vote(n: int) -> None:
        message = f"{n % 10}.0"
        if rng.random() < 0.2:
            slack.limit_next += 1
        await asyncio.gather(
            pacer.call(update(message, f"{message} shows votes up to {n}")),
            pacer.call(reply(message, f"vote {n}")),
        )

    await asyncio.gather(*(vote(n) for n in range(40)))

    replies = " · ".join(a["text"] for _, m, a in slack.sent if m == "chat.postMessage")
    assert sorted(int(p.split()[1]) for p in replies.split(" · ")) == list(range(40))
    for m in range(10):
        shown = [a["text"] for _, method, a in slack.sent if a.get("ts") == f"{m}.0"]
        newest = max(n for n in range(40) if n % 10 == m)
        assert shown[-1] == f"{m}.0 shows votes up to {newest}"
    assert len(slack.sent) < 80  # coalesced and merged
    await pacer.close()


async def test_closing_sends_what_is_queued_then_refuses_the_rest():
    slack = Slack()
    pacer = pacer_for(slack, Limits(methods={}, channel_posts=Limit(2.0, burst=1)))
    queued = [asyncio.create_task(pacer.call(new_message(f"m {n}"))) for n in range(4)]
    await asyncio.sleep(0)
    await pacer.close(timeout=0.6)

    results = await asyncio.gather(*queued, return_exceptions=True)
    sent = [r for r in results if isinstance(r, dict)]
    assert 2 <= len(sent) <= 3
    assert all(isinstance(r, NotSent) for r in results if not isinstance(r, dict))
    with pytest.raises(NotSent):
        await pacer.call(new_message("too late"))


def test_a_bucket_refills_at_its_rate_up_to_its_burst():
    limit = Limit(per_second=2.0, burst=3)
    state = BucketState.full(limit, now=0.0)
    for _ in range(3):
        wait, state = state.take(limit, 0.0, reserve=0.0)
        assert wait == 0.0
    wait, _ = state.take(limit, 0.0, reserve=0.0)
    assert wait == pytest.approx(0.5)
    wait, state = state.take(limit, 0.5, reserve=0.0)
    assert wait == 0.0
    wait, state = state.take(limit, 100.0, reserve=0.0)
    assert wait == 0.0 and state.level == pytest.approx(2.0)


def test_a_less_urgent_call_leaves_tokens_for_the_urgent():
    limit = Limit(per_second=1.0, burst=5)
    state = BucketState(level=2.5, at=0.0)
    wait, _ = state.take(limit, 0.0, reserve=2.0)
    assert wait == pytest.approx(0.5)
    wait, _ = state.take(limit, 0.0, reserve=0.0)
    assert wait == 0.0
    # A reserve never asks for more than the bucket can hold.
    tiny = Limit(per_second=1.0, burst=1)
    wait, _ = BucketState.full(tiny, 0.0).take(tiny, 0.0, reserve=2.0)
    assert wait == 0.0


def test_retry_after_closes_the_bucket_until_then():
    limit = Limit(per_second=10.0, burst=5)
    state = BucketState.full(limit, 0.0).held_off(limit, now=1.0, seconds=2.0)
    wait, _ = state.take(limit, 2.0, reserve=0.0)
    assert wait == pytest.approx(1.0)
    wait, _ = state.take(limit, 3.1, reserve=0.0)
    assert wait == 0.0


def test_merged_replies_read_as_one_line_or_one_per_line():
    assert merge_replies(["✅ bob approved", "❌ erin rejected: flaky"]) == (
        "✅ bob approved · ❌ erin rejected: flaky"
    )
    assert merge_replies(["✅ bob approved", "❌ erin rejected\nstill needs 1"]) == (
        "✅ bob approved\n❌ erin rejected\nstill needs 1"
    )


async def test_merging_stays_inside_slacks_text_limit():
    slack = Slack()
    pacer = pacer_for(slack)
    await asyncio.gather(*(pacer.call(new_message(f"spend {n}")) for n in range(2)))
    long = "x" * 1000
    await asyncio.gather(*(pacer.call(reply("1.0", f"{n} {long}")) for n in range(10)))

    texts = [a["text"] for _, _, a in slack.sent if a.get("thread_ts")]
    assert all(len(t) <= MERGED_TEXT_LIMIT for t in texts)
    assert sum(t.count(long) for t in texts) == 10


async def test_replies_keep_their_order_in_a_thread_and_merge_only_under_pressure():
    slack = Slack()
    pacer = pacer_for(slack, Limits(methods={}, channel_posts=Limit(20.0, burst=5)))
    vote = pacer.call(reply("1.0", "✅ carol approved"))
    outcome = pacer.call(
        Call(
            "chat.postMessage",
            {"channel": "C1", "thread_ts": "1.0", "text": "🚀 Deployed"},
            Priority.PERSON,
            merge=True,
        )
    )
    await asyncio.gather(vote, outcome)

    # The budget had room: two replies, the outcome after the vote it follows.
    assert slack.texts() == ["✅ carol approved", "🚀 Deployed"]
    assert pacer.merged == 0
    await pacer.close()


async def test_an_update_no_longer_wanted_when_its_turn_comes_is_dropped():
    slack = Slack()
    pacer = pacer_for(slack)
    wanted = {"2.0": True, "3.0": False}

    def still(ts: str):
        async def ask() -> bool:
            return wanted[ts]

        return ask

    await asyncio.gather(
        *(pacer.call(update(f"9{n}.0", "spend", Priority.PERSON)) for n in range(2))
    )
    answers = await asyncio.gather(
        *(
            pacer.call(dataclasses.replace(update(ts, f"tally {ts}"), still_wanted=still(ts)))
            for ts in wanted
        )
    )

    assert slack.texts() == ["spend", "spend", "tally 2.0"]
    assert answers[1] == {"ok": True, "skipped": True}
    await pacer.close()
