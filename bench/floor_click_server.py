"""The floor for click-to-ack: a bare aiohttp handler that verifies Slack's signature and says 200.

Nothing else happens per request, so its latency is what the machine, aiohttp and the signature
check cost; the bot's ack can only be slower by what Bolt and the bot add.

    SLACK_SIGNING_SECRET=... PORT=... python -m bench.floor_click_server
"""

from __future__ import annotations

import os

from aiohttp import web
from slack_sdk.signature import SignatureVerifier


def build_app(signing_secret: str) -> web.Application:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: web.Request) -> web.Response:
        body = await request.read()
        valid = verifier.is_valid(
            body=body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=request.headers.get("X-Slack-Signature", ""),
        )
        return web.Response(status=200 if valid else 401)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    return app


def main() -> None:
    web.run_app(
        build_app(os.environ["SLACK_SIGNING_SECRET"]),
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
