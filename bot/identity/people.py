"""Finding the Slack account of a forest user, so messages can mention people."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from bot.identity.link_store import LinkStore
from bot.runtime.ttl_cache import TtlCache
from bot.slack.web import SlackRefused, SlackWeb

log = logging.getLogger(__name__)

# users.lookupByEmail is rate limited (Tier 3), so answers, misses included, are kept a while.
EMAIL_CACHE_SECONDS = 600.0
# Every render looks up every voter and the author, one key-value read each, which made these
# reads most of the bot's NATS traffic under load. Links change rarely, so answers (misses
# included) are kept briefly: a new link or a logout shows in messages within this time.
LINK_CACHE_SECONDS = 10.0
# Bounds each cache in an organisation of any size.
MAX_CACHED_PEOPLE = 10_000


class People:
    def __init__(
        self,
        links: LinkStore,
        web: SlackWeb,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._links = links
        self._web = web
        self._by_email: TtlCache[str | None] = TtlCache(
            EMAIL_CACHE_SECONDS, MAX_CACHED_PEOPLE, clock
        )
        self._by_forest_user: TtlCache[str | None] = TtlCache(
            LINK_CACHE_SECONDS, MAX_CACHED_PEOPLE, clock
        )

    async def slack_user(self, forest_user_id: str, email: str = "") -> str | None:
        """The Slack user id from our link table, else by email, else None."""
        linked = await self._linked(forest_user_id)
        if linked:
            return linked
        if email:
            return await self._lookup_email(email)
        return None

    async def slack_users(self, forest_user_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for user_id in set(forest_user_ids):
            slack_id = await self._linked(user_id)
            if slack_id:
                found[user_id] = slack_id
        return found

    async def _linked(self, forest_user_id: str) -> str | None:
        known, slack_id = self._by_forest_user.get(forest_user_id)
        if not known:
            slack_id = await self._links.slack_user_of(forest_user_id)
            self._by_forest_user.keep(forest_user_id, slack_id)
        return slack_id

    async def _lookup_email(self, email: str) -> str | None:
        known, slack_id = self._by_email.get(email)
        if known:
            return slack_id
        try:
            user_id = await self._web.user_by_email(email)
        except SlackRefused as error:
            log.warning("users.lookupByEmail failed: %s", error.code)
            return None
        self._by_email.keep(email, user_id)
        return user_id
