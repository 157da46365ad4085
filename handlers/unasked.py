"""What Slack sends without being asked: answered 200, so Slack never counts it as a failure.

Slack delivers some events to every app whatever it subscribed to, ``app_rate_limited`` among
them (Slack dropped events because the app got more than 30,000 in an hour); an answer other
than 200 counts against the app and, repeated, gets its event subscriptions turned off.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.runtime.metrics import Metrics

log = logging.getLogger(__name__)

RATE_LIMITED = "app_rate_limited"


def is_rate_limited_notice(body: dict[str, Any]) -> bool:
    return body.get("type") == RATE_LIMITED


def rate_limited(body: dict[str, Any], metrics: Metrics) -> BoltResponse:
    """Slack dropped events for a minute: say so, count it, and answer 200."""
    metrics.slack_events_dropped.inc()
    log.warning(
        "Slack dropped events for this app (app_rate_limited)",
        extra={"minute_rate_limited": body.get("minute_rate_limited")},
    )
    return BoltResponse(status=200, body="")


async def _ignore(event: dict[str, Any]) -> None:
    log.debug("ignored a %s event nobody listens to", event.get("type"))


def register(app: AsyncApp) -> None:
    """Every other event type is acknowledged and ignored; register this last, as Bolt runs the
    first listener that matches."""
    app.event(re.compile(".*"))(_ignore)
