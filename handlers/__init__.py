"""Slack listeners. Each module registers the listeners of one kind."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.state.errors import StoreUnavailable
from handlers import actions, commands, home, messages, plans, unasked, views
from handlers.deps import HandlerDeps
from handlers.payloads import replay_mark

log = logging.getLogger(__name__)

# The replay check runs before Slack gets its answer, which Slack wants within 3 s.
REPLAY_CHECK_SECONDS = 1.0
_INTERACTIONS = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}


def register(app: AsyncApp, deps: HandlerDeps) -> None:
    """Attach every Slack listener to ``app``, behind the workspace check."""

    async def only_our_workspace(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]
    ) -> BoltResponse | None:
        # A request signed with our secret but naming another workspace anywhere is refused
        # before any listener runs (for a modal Bolt picks the installing workspace, whoever
        # submits it; Enterprise Grid org installs are not supported).
        named = {context.team_id, *_teams_named(body)} - {None, ""}
        if any(team != deps.team_id for team in named):
            log.warning("refused a request from another workspace", extra={"team": sorted(named)})
            return BoltResponse(status=403, body="")
        if _is_interaction(body) and (_acting_user(body) is None or not named):
            return BoltResponse(status=400, body="")
        if unasked.is_rate_limited_notice(body):
            return unasked.rate_limited(body, deps.metrics)
        await next()
        return None

    async def once_per_interaction(
        body: dict[str, Any], next: Callable[[], Awaitable[Any]]
    ) -> BoltResponse | None:
        # A signed request captured and sent again within Slack's five minutes passes the
        # signature check; marked across replicas, it does nothing the second time (a
        # replayed Approve would otherwise undo a later Reject).
        mark = replay_mark(body)
        if mark is not None:
            try:
                first = await deps.dedup.first_time(mark, timeout=REPLAY_CHECK_SECONDS)
            except StoreUnavailable as error:
                # Not known either way: the vote path itself says whether anything was recorded.
                log.warning("could not check for a replay: %s", error)
                first = True
            if not first:
                log.warning(
                    "ignored a replayed interaction", extra={"slack_user": _acting_user(body)}
                )
                return BoltResponse(status=200, body="")
        await next()
        return None

    app.middleware(only_our_workspace)
    app.middleware(once_per_interaction)
    actions.register(app, deps)
    plans.register(app, deps)
    views.register(app, deps)
    commands.register(app, deps)
    messages.register(app, deps)
    home.register(app, deps)
    unasked.register(app)  # last: it takes every event no listener above took


def _is_interaction(body: dict[str, Any]) -> bool:
    return body.get("type") in _INTERACTIONS or "command" in body


def _acting_user(body: dict[str, Any]) -> str | None:
    """Who acts in an interaction: ``user.id``, or ``user_id`` for a slash command. Bolt would
    fall back to the author of the clicked message, which is never the person who clicked."""
    user = body.get("user")
    candidate = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return candidate if isinstance(candidate, str) and candidate else None


def _teams_named(body: dict[str, Any]) -> set[str]:
    if "event" in body:  # Events API: the installing workspace, from authorizations
        return set()
    found = {body.get("team_id")}
    for part, key in (
        ("team", "id"),
        ("user", "team_id"),
        ("view", "team_id"),
        ("view", "app_installed_team_id"),
    ):
        holder = body.get(part)
        if isinstance(holder, dict):
            found.add(holder.get(key))
    return {team for team in found if isinstance(team, str) and team}
