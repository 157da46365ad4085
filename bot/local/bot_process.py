"""The bot as a separate operating-system process, for tests that kill, stop and restart it.

``python -m bot.local.bot_process '<tuning as JSON>'`` runs the bot exactly as ``approvals-bot
run`` does (settings from the environment, JSON logs, SIGTERM for a graceful stop), with the
given timings; ``BotProcess`` starts one and waits until ``/readyz`` says it is ready (its
listener answers ``/healthz`` from the start, before NATS and Slack are reached).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from bot.run import run_bot
from bot.wiring import Tuning

READY_TIMEOUT = 20.0


class BotProcess:
    def __init__(self, env: dict[str, str], tuning: Tuning, log_path: Path) -> None:
        self.env = env
        self.tuning = tuning
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.local.bot_process",
            json.dumps(dataclasses.asdict(self.tuning)),
            env={"PATH": os.environ.get("PATH", ""), **self.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        await self._wait_until_ready()

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(f"bot exited at start:\n{self.logs()}")
                try:
                    async with session.get(f"{self.url}/readyz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"bot not ready within {READY_TIMEOUT}s:\n{self.logs()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash or an OOM kill."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    async def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM and wait; returns the exit code and how long the exit took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, time.monotonic() - started

    async def wait_killed(self) -> None:
        if self.process is not None:
            await self.process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def main() -> int:
    tuning = Tuning(**json.loads(sys.argv[1])) if len(sys.argv) > 1 else Tuning()
    return run_bot(os.environ, "json", tuning)


if __name__ == "__main__":
    sys.exit(main())
