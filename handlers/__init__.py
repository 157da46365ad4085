"""Slack listeners. Each module registers the handlers of one kind with ``register``."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp


def register(app: AsyncApp, **_: object) -> None:
    """Attach every Slack listener to ``app``."""
