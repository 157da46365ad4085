"""Benchmark of the approvals bot against nats-server, the fake forest and the fake Slack.

    python bench/run.py            # the full run (about 7 minutes on 2 cores)
    python bench/run.py --quick    # shorter phases, under 2 minutes
    python bench/run.py --profile bench/profiles   # also sample the bot with py-spy per phase

Prints a table of figures, each beside the floor measured in the same run; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.figures import Row, markdown_table, ms, ratio, verdict
from bench.processes import start_stack, stop_process
from bench.scenarios import Bench, EventFigures, Options, Results
from bench.stack_control import StackControl

CLICK_ACK_P99_TARGET_MS = 50.0
EVENT_P99_TARGET_MS = 100.0
EVENTS_PER_SECOND_TARGET = 300.0
RSS_TARGET_MB = 200.0
FLOOR_FACTOR_TARGET = 3.0


async def run(options: Options, log_dir: Path) -> Results:
    results = Results()
    async with _fresh_stack(options, log_dir, "store-1", results) as bench:
        say("starting the bot, linking reviewers, posting the approvals they click on")
        await bench.start_bot()
        clicks = await bench.prepare_clicks()
        # The floors run with no bot process at all; the bot then starts afresh, so that its
        # five-minute re-read of every open approval falls after the timed phases.
        bench.stop_bot()
        say("floor: bare signature-checking handler")
        floor_acks = await bench.floor_clicks(clicks)
        say("floor: bare JetStream consumer")
        floor_single, floor_burst, floor_rate = await bench.floor_events()
        await bench.start_bot()
        await asyncio.sleep(3.0)  # the start-up re-read of the approvals posted above
        for rate, planned in clicks.items():
            say(f"bot: {len(planned)} clicks at {rate}/s")
            results.clicks.append(await bench.bot_clicks(rate, planned, floor_acks[rate]))
        say("bot: events one at a time, then a burst")
        single, burst, per_second = await bench.bot_events()
        results.events = EventFigures(
            single, burst, per_second, floor_single, floor_burst, floor_rate
        )
        say("bot: nudge storm")
        results.storm = await bench.storm()

    if options.replicas > 1:
        say("memory and start-up are figures of one process: not measured with replicas")
        return results
    async with _fresh_stack(options, log_dir, "store-2", results) as bench:
        say(f"bot: {options.open_approvals} open approvals, restart, close them all")
        startup_empty = await bench.start_bot()
        results.scale = await bench.scale(startup_empty)
    return results


@asynccontextmanager
async def _fresh_stack(
    options: Options, log_dir: Path, store: str, results: Results
) -> AsyncIterator[Bench]:
    """A new stack process and a bench on it; a failure inside is recorded in ``results`` (the
    run goes on to what it can still measure), and the phases' costs are kept."""
    stack, control_url = await start_stack(log_dir, log_dir / store)
    control = StackControl(control_url)
    bench = Bench(control, await control.info(), stack.pid, options, log_dir)
    try:
        await bench.connect()
        yield bench
    except Exception as error:
        results.errors.append(f"{type(error).__name__}: {error}")
    finally:
        results.costs.extend(bench.costs)
        await bench.close()
        await control.close()
        stop_process(stack)


def table(results: Results) -> str:
    rows: list[Row] = []
    for c in results.clicks:
        ok = c.ack.p99 < CLICK_ACK_P99_TARGET_MS if c.rate >= 100 else None
        rows.append(
            Row(
                f"1. click to ack, {c.rate}/s, p50 / p99 / max ({c.ack.count} clicks)",
                f"{ms(c.ack.p50)} / {ms(c.ack.p99)} / {ms(c.ack.max)}",
                f"{ms(c.floor_ack.p50)} / {ms(c.floor_ack.p99)} / {ms(c.floor_ack.max)}",
                f"p99 < {CLICK_ACK_P99_TARGET_MS:.0f} ms" if ok is not None else "",
                verdict(ok) if ok is not None else "",
            )
        )
        within = c.ack.p99 <= FLOOR_FACTOR_TARGET * c.floor_ack.p99
        rows.append(
            Row(
                f"1. click to ack, {c.rate}/s, bot / floor at p50, p99",
                f"{ratio(c.ack.p50, c.floor_ack.p50)}, {ratio(c.ack.p99, c.floor_ack.p99)}",
                "1x",
                f"p99 within {FLOOR_FACTOR_TARGET:.0f}x",
                verdict(within),
            )
        )
        rows.append(
            Row(
                f"2. click to forest has the vote, {c.rate}/s, p50 / p99",
                f"{ms(c.to_forest.p50)} / {ms(c.to_forest.p99)}",
            )
        )
        rows.append(
            Row(
                f"2. click to its chat.update, {c.rate}/s, p50 / p99",
                f"{ms(c.to_update.p50)} / {ms(c.to_update.p99)}"
                + (f" ({c.unseen} never shown)" if c.unseen else ""),
            )
        )
    if results.events is not None:
        e = results.events
        rows.append(
            Row(
                f"3. event to message, one at a time, p50 / p99 ({e.single.count} events)",
                f"{ms(e.single.p50)} / {ms(e.single.p99)}",
                f"{ms(e.floor_single.p50)} / {ms(e.floor_single.p99)}",
                f"p99 < {EVENT_P99_TARGET_MS:.0f} ms",
                verdict(e.single.p99 < EVENT_P99_TARGET_MS),
            )
        )
        rows.append(
            Row(
                "3. event to message, one at a time, bot / floor at p50, p99",
                f"{ratio(e.single.p50, e.floor_single.p50)}, "
                f"{ratio(e.single.p99, e.floor_single.p99)}",
                "1x",
                f"p99 within {FLOOR_FACTOR_TARGET:.0f}x",
                verdict(e.single.p99 <= FLOOR_FACTOR_TARGET * e.floor_single.p99),
            )
        )
        rows.append(
            Row(
                f"3. event to message, burst of {e.burst.count} releases, p50 / p99",
                f"{ms(e.burst.p50)} / {ms(e.burst.p99)}",
                f"{ms(e.floor_burst.p50)} / {ms(e.floor_burst.p99)}",
            )
        )
        rows.append(
            Row(
                "3. sustained events per second (the burst, first publish to last message)",
                f"{e.sustained_per_second:.0f}/s",
                f"{e.floor_sustained_per_second:.0f}/s",
                f">= {EVENTS_PER_SECOND_TARGET:.0f}/s",
                verdict(e.sustained_per_second >= EVENTS_PER_SECOND_TARGET),
            )
        )
    if results.storm is not None:
        s = results.storm
        bound = s.intents * s.windows
        rows.append(
            Row(
                f"4. nudge storm: {s.nudges} nudges over {s.intents} intents in {s.seconds:.1f} s:"
                " forest reads (most for one intent)",
                f"{s.reads} ({s.max_reads_per_intent})",
                "",
                f"<= {bound} ({s.windows} per intent: one per window)",
                verdict(s.max_reads_per_intent <= s.windows),
            )
        )
        rows.append(
            Row(
                "4. nudge storm: chat.update calls (most for one message)",
                f"{s.updates} ({s.max_updates_per_intent})",
                "",
                f"<= {bound}",
                verdict(s.max_updates_per_intent <= s.windows),
            )
        )
        rows.append(
            Row(
                "4. nudge storm: time until every message is true",
                f"{s.true_after_seconds:.2f} s" + (f" ({s.untrue} never true)" if s.untrue else ""),
                "",
                "",
                "",
            )
        )
    if results.scale is not None:
        m = results.scale
        n = f"{m.open_approvals:,}"
        rows.append(
            Row(
                f"5. peak RSS with {n} open approvals (VmHWM: posting them; after a restart)",
                f"{m.peak_rss_posting_mb:.0f} MB; {m.peak_rss_restarted_mb:.0f} MB",
                "",
                f"< {RSS_TARGET_MB:.0f} MB",
                verdict(max(m.peak_rss_posting_mb, m.peak_rss_restarted_mb) < RSS_TARGET_MB),
            )
        )
        rows.append(
            Row(
                f"5. RSS with {n} open; after they all closed (VmRSS)",
                f"{m.rss_restarted_mb:.0f} MB; {m.rss_closed_mb:.0f} MB",
            )
        )
        rows.append(
            Row(
                f"6. start-up, launch to ready: empty; with {n} open approvals; to all {n} re-read",
                f"{m.startup_empty_seconds:.2f} s; {m.startup_ready_seconds:.2f} s; "
                f"{m.startup_reconciled_seconds:.1f} s",
            )
        )
        closing = (
            f"{m.closing_seconds:.1f} s ({m.open_approvals / m.closing_seconds:.0f}/s)"
            if m.closed == m.open_approvals
            else f"only {m.closed:,} of {n} closed; the rest lost their outcome"
        )
        rows.append(
            Row(
                f"   posting {n} approvals; forest ends them all at once: closing",
                f"{m.posting_per_second:.0f}/s; {closing}",
                "",
                "every one closed",
                verdict(m.closed == m.open_approvals),
            )
        )
    return markdown_table(rows)


def details(results: Results) -> str:
    lines = [f"- a phase failed: {error}" for error in results.errors]
    for c in results.clicks:
        lines.append(
            f"- clicks at {c.rate}/s: {c.failed} not answered 200, {c.unseen} never shown; "
            f"the load generator sent each at most {c.latest_start_seconds * 1000:.1f} ms "
            "after its slot"
        )
    lines += [
        "",
        "CPU seconds used in each phase (a phase of N seconds has N per core to share; "
        "'others' is every process outside the benchmark, which should be near 0):",
        "",
        "| phase | seconds | bot or floor | fakes | nats-server | load generator | others |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines.extend(
        f"| {c.phase} | {c.seconds:.1f} | {c.measured:.1f} | {c.fakes:.1f} "
        f"| {c.nats_server:.1f} | {c.load_generator:.1f} | {c.others:.1f} |"
        for c in results.costs
    )
    return "\n".join(lines)


def machine() -> str:
    model = "unknown"
    for line in _output(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return (
        f"- cores (`nproc`): {_output(['nproc']).strip()}\n"
        f"- CPU (`lscpu` model name): {model}\n"
        f"- memory: {memory_kb / 1024 / 1024:.1f} GiB\n"
        f"- Python: {platform.python_version()} on {platform.system()} {platform.release()}\n"
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the approvals bot.")
    parser.add_argument("--quick", action="store_true", help="short phases (under 2 minutes)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="sample the bot with py-spy into DIR"
    )
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep the processes' logs here")
    parser.add_argument(
        "--bot-source",
        type=Path,
        metavar="DIR",
        help="run the bot from this checkout instead of the installed one (before/after)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        metavar="N",
        help="run N bot processes, clicks spread over them (skips memory and start-up)",
    )
    parser.add_argument("--write", type=Path, metavar="FILE", help="also write the report here")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    choices = {
        "profile_dir": args.profile,
        "bot_source": args.bot_source,
        "replicas": args.replicas,
    }
    options = Options.quick(**choices) if args.quick else Options(**choices)
    flags = (" --quick" if args.quick else "") + (
        f" --replicas {args.replicas}" if args.replicas > 1 else ""
    )

    with tempfile.TemporaryDirectory(prefix="approvals-bench-") as scratch:
        log_dir = args.logs or Path(scratch)
        log_dir.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(run(options, log_dir))
    report = "\n\n".join(
        [
            f"Run: `python bench/run.py{flags}`",
            machine(),
            table(results),
            details(results),
        ]
    )
    print(report)
    if args.write:
        args.write.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
