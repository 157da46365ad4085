"""Finding the Slack account of a forest user, so messages can mention people."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.links import LinkStore

log = logging.getLogger(__name__)

# users.lookupByEmail is rate limited (Tier 3), so answers, misses included, are kept a while.
EMAIL_CACHE_SECONDS = 600.0


class People:
    def __init__(
        self,
        links: LinkStore,
        web: AsyncWebClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._links = links
        self._web = web
        self._clock = clock
        self._by_email: dict[str, tuple[float, str | None]] = {}

    async def slack_user(self, forest_user_id: str, email: str = "") -> str | None:
        """The Slack user id from our link table, else by email, else None."""
        linked = await self._links.slack_user_of(forest_user_id)
        if linked:
            return linked
        if email:
            return await self._lookup_email(email)
        return None

    async def slack_users(self, forest_user_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for user_id in set(forest_user_ids):
            slack_id = await self._links.slack_user_of(user_id)
            if slack_id:
                found[user_id] = slack_id
        return found

    async def _lookup_email(self, email: str) -> str | None:
        now = self._clock()
        cached = self._by_email.get(email)
        if cached and now - cached[0] < EMAIL_CACHE_SECONDS:
            return cached[1]
        try:
            reply = await self._web.users_lookupByEmail(email=email)
            user_id: str | None = reply["user"]["id"]
        except SlackApiError as error:
            if error.response.get("error") != "users_not_found":
                log.warning("users.lookupByEmail failed: %s", error.response.get("error"))
                return None
            user_id = None
        self._by_email[email] = (now, user_id)
        return user_id
