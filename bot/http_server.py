"""The HTTP listener: Slack's requests, health, readiness and metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot.runtime.metrics import Metrics
from bot.slack.request import bolt_request, signature_is_valid

SLACK_PATH = "/slack/events"
# Slack's own payloads are far smaller; this keeps a hostile body from costing memory.
MAX_BODY_BYTES = 1024 * 1024

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


def build_http_app(
    bolt: AsyncApp | None,
    readiness: ReadinessCheck,
    metrics: Metrics,
    signing_secret: str = "",
) -> web.Application:
    """The listener's routes; ``bolt`` (with the ``signing_secret`` it checks) serves Slack's
    requests over HTTP, None in Socket Mode."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def slack_events(request: web.Request) -> web.Response:
        assert bolt is not None
        raw = await request.read()
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
