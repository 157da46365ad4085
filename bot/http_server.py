"""The HTTP listener: Slack's requests, health, readiness and metrics.

Slow clients cannot hold it: a connection must send its request's headers within
``header_timeout`` (of connecting, or of its previous response) and its body within
``body_timeout``, and the listener keeps at most ``max_connections`` open (below the process's
file-descriptor limit, so that NATS, forest and Slack still get sockets): at the cap, a new
connection closes the longest-waiting idle one, and is answered 503 only when all are busy.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot.runtime.metrics import Metrics
from bot.slack.request import bolt_request, signature_is_valid

SLACK_PATH = "/slack/events"
# Slack's own payloads are far smaller; this keeps a hostile body from costing memory.
MAX_BODY_BYTES = 1024 * 1024

# What the process keeps for everything but the listener: NATS, forest, Slack, logs, files.
FD_RESERVE = 100
MAX_CONNECTIONS = 4096
LINGER_SECONDS = 1.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
    b"Retry-After: 1\r\n\r\n"
)

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class ListenerLimits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 0  # 0: from the file-descriptor limit (connection_cap)


def connection_cap(limits: ListenerLimits) -> int:
    """At most MAX_CONNECTIONS, and FD_RESERVE below the soft limit on open files."""
    if limits.max_connections:
        return limits.max_connections
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft - FD_RESERVE))


class _Refuse(asyncio.Protocol):
    """A connection past the cap: told 503, closed, its descriptor free at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


class _CappedServer:
    """aiohttp's protocol factory, keeping at most ``cap`` connections.

    At the cap, a new connection first makes room by closing the connection that has waited
    longest without a request in progress (a slow client trickling its headers, or an idle
    keep-alive): so a flood of slow clients cannot lock Slack's requests and /healthz out for
    the length of the header timeout. Only when every connection is busy is the new one refused.
    """

    def __init__(self, server: web.Server, cap: int) -> None:
        self._server = server
        self._cap = cap
        self._opened: dict[object, float] = {}
        self._evicted: set[object] = set()

    def __call__(self) -> asyncio.Protocol:
        connections = self._server.connections
        self._evicted &= set(connections)
        if len(connections) - len(self._evicted) >= self._cap and not self._evict(connections):
            return _Refuse()
        if len(self._opened) > 2 * self._cap:
            alive = set(connections)
            self._opened = {h: t for h, t in self._opened.items() if h in alive}
        handler = self._server()
        self._opened[handler] = time.monotonic()
        return handler

    def _evict(self, connections: list[RequestHandler]) -> bool:
        # aiohttp has no public "is this connection handling a request": its own flag, read
        # with a default that never evicts if it goes away.
        idle = [
            handler
            for handler in connections
            if handler not in self._evicted and not getattr(handler, "_request_in_progress", True)
        ]
        if not idle:
            return False
        oldest = min(idle, key=lambda handler: self._opened.get(handler, 0.0))
        self._evicted.add(oldest)
        oldest.force_close()
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class ListenerRunner(web.AppRunner):
    """``web.AppRunner`` with the header timeout and the connection cap."""

    def __init__(self, app: web.Application, limits: ListenerLimits) -> None:
        # aiohttp closes a connection that is idle this long, and waiting for a request's
        # headers is idle: so this is the header timeout (from connecting, or from the
        # previous response), and the keep-alive time too.
        # A body left unread is drained this long (aiohttp's default is 10 s), not more.
        super().__init__(
            app,
            access_log=None,
            keepalive_timeout=limits.header_timeout,
            lingering_time=LINGER_SECONDS,
        )
        self._cap = connection_cap(limits)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _CappedServer(server, self._cap)  # type: ignore[return-value]


def build_http_app(
    bolt: AsyncApp | None,
    readiness: ReadinessCheck,
    metrics: Metrics,
    signing_secret: str = "",
    body_timeout: float = ListenerLimits.body_timeout,
) -> web.Application:
    """The listener's routes; ``bolt`` (with the ``signing_secret`` it checks) serves Slack's
    requests over HTTP, None in Socket Mode."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def slack_events(request: web.Request) -> web.Response:
        assert bolt is not None
        try:
            async with asyncio.timeout(body_timeout):
                raw = await request.read()
        except TimeoutError:
            too_slow = web.Response(status=408, text="request body too slow")
            too_slow.force_close()  # the rest of the body is never waited for
            return too_slow
        # Verified before anything parses the body: an unsigned body costs one HMAC.
        if not signature_is_valid(signing_secret, raw, request.headers, time.time()):
            return web.Response(status=401, text="unsigned request")
        try:
            slack_request = bolt_request(raw, request.query_string, request.headers)
        except (ValueError, TypeError, AttributeError, RecursionError):
            # Signed, yet not UTF-8, a payload that is not JSON, or JSON not shaped like
            # Slack's: Bolt cannot read it, and Slack never sends it.
            return web.Response(status=400, text="malformed request")
        if not _slack_shaped(slack_request.body):
            return web.Response(status=400, text="malformed request")
        return await to_aiohttp_response(await bolt.async_dispatch(slack_request))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness()
        ready = all(value == "ok" for value in checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status=200 if ready else 503,
        )

    async def metrics_page(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    if bolt is not None:
        app.router.add_post(SLACK_PATH, slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


def _slack_shaped(body: dict[str, Any]) -> bool:
    """Bolt reads these parts of every request before any listener without checking them (a
    request breaking them would end in a 500); Slack always sends them this way."""
    actions = body.get("actions", [{}])
    if not isinstance(actions, list) or not actions:
        return False
    if not all(isinstance(action, dict) for action in actions):
        return False
    return all(isinstance(body.get(part, {}), dict) for part in ("view", "event"))
