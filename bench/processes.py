"""Child processes of a benchmark run: starting them, waiting for them, and reading their cost."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPOSITORY = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_SECONDS = 20.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def bench_module(name: str) -> list[str]:
    """The command that runs ``bench.<name>`` (started with the repository as working folder)."""
    return [sys.executable, "-m", f"bench.{name}"]


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


# The fake Slack of these phases has no rate limits, and they post far faster than Slack
# allows (a burst of 1,000 approvals in one channel): the bot runs with its pacing off, so they
# measure its own work. The release train (bench/train.py) measures it inside Slack's limits.
UNPACED = json.dumps({"slack_pacing": False})


def bot_command(source: Path | None = None) -> Command:
    """The bot as ``approvals-bot run`` runs it (``bot.local.bot_process``, production timings),
    pacing off; or ``approvals-bot run`` from another checkout of the bot (to compare two
    versions on one machine): run from that folder, its ``bot`` comes first."""
    if source is not None:
        source = source.resolve()
        return Command(
            [sys.executable, "-m", "bot.cli", "run"], {"PYTHONPATH": str(source)}, source
        )
    return Command([sys.executable, "-m", "bot.local.bot_process", UNPACED], {}, REPOSITORY)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory_mb(self) -> tuple[float, float]:
        """(peak resident set, resident set now) in MB, from /proc/<pid>/status."""
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) / 1024
        return fields["VmHWM"], fields["VmRSS"]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> float:
        """SIGTERM, and the seconds it took to exit (killed after a while)."""
        begun = time.monotonic()
        stop_process(self.process)
        return time.monotonic() - begun

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
            )


def start(
    name: str, command: list[str], env: dict[str, str], log_dir: Path, cwd: Path = REPOSITORY
) -> Child:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    started_at = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return Child(name, process, log_path, started_at)


async def start_stack(
    log_dir: Path, store_dir: Path, *, rate_limits: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """The fakes' process; returns it with its control URL."""
    limits = ["--rate-limits"] if rate_limits else []
    process = subprocess.Popen(  # noqa: ASYNC220 - starting it takes no time; reading does
        [*bench_module("stack_process"), "--store", str(store_dir), *limits],
        cwd=REPOSITORY,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=(log_dir / "stack.log").open("ab"),
    )
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    if not line:
        raise RuntimeError(f"the stack process did not start; see {log_dir / 'stack.log'}")
    return process, str(json.loads(line)["control_url"])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited after a while (the stack, or any child)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_ready(child: Child, url: str, timeout: float = 120.0) -> float:
    """Seconds from the child's launch until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            child.check_alive()
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as reply:
                    if reply.status == 200:
                        return time.monotonic() - child.started_at
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.005)
    raise TimeoutError(f"{child.name} was not ready at {url} within {timeout:.0f}s")


async def wait_line(child: Child, text: str, timeout: float = 30.0) -> float:
    """Seconds from launch until ``text`` appears in the child's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check_alive()
        if text in child.log_path.read_text(errors="replace"):
            return time.monotonic() - child.started_at
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{child.name} did not print {text!r} within {timeout:.0f}s")


class Profiler:
    """py-spy sampling one process, for one phase, into collapsed stacks (flamegraph input).

    Only samples of the thread holding the GIL are kept (``--gil``): that is the Python work
    that competes for the one interpreter. Time a thread spends waiting for the GIL or in I/O
    is left out, so the profile shows where CPU goes, not where requests wait.
    """

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self._pid = pid
        self._out = out
        self._rate = rate
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self._process = subprocess.Popen(
            [
                py_spy, "record", "--pid", str(self._pid), "--rate", str(self._rate),
                "--format", "raw", "--gil", "--nonblocking", "--output", str(self._out),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._process = None
