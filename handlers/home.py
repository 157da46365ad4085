"""The App Home tab: published afresh each time a person opens it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp

from blocks.home import home_not_linked, home_unavailable, home_view
from bot.forest.errors import ForestError
from bot.identity.linking import NeedsLogin
from handlers.deps import HandlerDeps, tracked

log = logging.getLogger(__name__)


class HomeTab:
    def __init__(self, deps: HandlerDeps) -> None:
        self._deps = deps

    async def opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        # The same event comes for the Messages tab, which the bot does not draw.
        if event.get("tab") != "home":
            return
        user = event.get("user")
        if not isinstance(user, str) or not user:
            log.warning("ignored app_home_opened without a user")
            return
        team = str(body.get("team_id") or self._deps.team_id)
        try:
            view = home_view(await self._deps.pending.for_person(team, user), datetime.now(UTC))
        except NeedsLogin:
            view = home_not_linked()
        except ForestError as error:
            view = home_unavailable(error.sentence)
        # Through the bot's own client (not Bolt's per-request one), so the call is measured.
        await self._deps.answers.publish_home(user, view)


def register(app: AsyncApp, deps: HandlerDeps) -> None:
    app.event("app_home_opened")(tracked(deps.tasks, HomeTab(deps).opened))
