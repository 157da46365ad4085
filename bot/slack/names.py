"""People's Slack names, for making what they typed readable outside Slack."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.runtime.ttl_cache import TtlCache
from bot.slack.web import SlackRefused, SlackUnreachable, SlackWeb
from bot.slack.wire_text import decode, mentioned_users

log = logging.getLogger(__name__)

# Names change rarely; users.info is Tier 4 (100+ a minute), and a reply mentions few people.
NAME_CACHE_SECONDS = 600.0
MAX_CACHED_NAMES = 10_000
# A comment mentioning more people than this shows the rest as the labels Slack sent.
MAX_LOOKUPS_PER_TEXT = 10


class SlackNames:
    def __init__(self, web: SlackWeb, clock: Callable[[], float] = time.monotonic) -> None:
        self._web = web
        self._kept: TtlCache[str | None] = TtlCache(NAME_CACHE_SECONDS, MAX_CACHED_NAMES, clock)

    async def readable(self, wire_text: str) -> str:
        """``wire_text`` (a message as Slack delivered it) as the person wrote it, with
        ``<@U…>`` shown as ``@name``."""
        names: dict[str, str] = {}
        for user_id in mentioned_users(wire_text)[:MAX_LOOKUPS_PER_TEXT]:
            name = await self.name_of(user_id)
            if name:
                names[user_id] = name
        return decode(wire_text, names)

    async def name_of(self, user_id: str) -> str | None:
        """The name Slack shows for ``user_id`` (display name, else username); None when Slack
        cannot say, and the caller shows something else."""
        known, name = self._kept.get(user_id)
        if known:
            return name
        try:
            user = await self._web.user_info(user_id)
        except SlackRefused as error:
            log.warning("users.info failed: %s", error.code, extra={"slack_user": user_id})
            if error.code != "user_not_found":
                return None  # not kept: the next mention asks again
            name = None
        except SlackUnreachable as error:
            log.warning("users.info failed: %s", error.code)
            return None
        else:
            name = _shown_name(user)
        self._kept.keep(user_id, name)
        return name


def _shown_name(user: object) -> str | None:
    if not isinstance(user, dict):
        return None
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    for candidate in (profile.get("display_name"), user.get("name"), user.get("real_name")):
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())
    return None
