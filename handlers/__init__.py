"""Slack listeners. Each module registers the listeners of one kind."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.pending import PendingApprovals
from handlers import actions, commands, home, messages, views
from handlers.deps import HandlerDeps

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: HandlerDeps, pending: PendingApprovals) -> None:
    """Attach every Slack listener to ``app``, behind the workspace check."""

    async def only_our_workspace(
        context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
    ) -> BoltResponse | None:
        # A request signed with our secret but from another workspace is refused before any
        # listener runs (Enterprise Grid org installs are not supported).
        if context.team_id is not None and context.team_id != deps.team_id:
            log.warning("refused a request from another workspace", extra={"team": context.team_id})
            return BoltResponse(status=403, body="")
        await next()
        return None

    app.middleware(only_our_workspace)
    actions.register(app, deps)
    views.register(app, deps)
    commands.register(app, deps, pending)
    messages.register(app, deps)
    home.register(app, deps, pending)
