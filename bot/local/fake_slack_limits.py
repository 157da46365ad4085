"""Slack's rate limits, as the fake Slack enforces them when asked to.

Slack limits each Web API method per app per workspace by tier (Tier 3 about 50 calls a minute,
Tier 4 about 100, both allowing short bursts) and ``chat.postMessage`` to about one message per
second per channel, also with short bursts. Past a limit it answers HTTP 429 with
``Retry-After`` (whole seconds) and ``{"ok": false, "error": "ratelimited"}``.

Each limit is a token bucket: it holds up to ``burst`` calls and refills at the tier's rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.local.fake_slack_model import JsonDict


@dataclass(frozen=True)
class RateLimit:
    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


TIER_2 = RateLimit(per_minute=20, burst=5)
TIER_3 = RateLimit(per_minute=50, burst=10)
TIER_4 = RateLimit(per_minute=100, burst=20)
# chat.postMessage: about one a second in each channel, short bursts allowed.
CHANNEL_POSTS = RateLimit(per_minute=60, burst=5)

METHOD_TIERS: Mapping[str, RateLimit] = {
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "reactions.add": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.open": TIER_3,
    "users.lookupByEmail": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
    "users.info": TIER_4,
}
POST_METHOD = "chat.postMessage"


@dataclass
class _Bucket:
    level: float
    at: float

    def take(self, limit: RateLimit, now: float) -> float:
        """Take one call; 0 when allowed, else the seconds until one would be."""
        self.level = min(float(limit.burst), self.level + (now - self.at) * limit.per_second)
        self.at = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / limit.per_second


class SlackRateLimits:
    """The buckets of one workspace. Off until ``enabled``; counts what it refused."""

    def __init__(
        self,
        *,
        enabled: bool = False,
        tiers: Mapping[str, RateLimit] = METHOD_TIERS,
        channel_posts: RateLimit = CHANNEL_POSTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.tiers = dict(tiers)
        self.channel_posts = channel_posts
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.refused: dict[str, int] = {}

    def admit(self, method: str, args: JsonDict) -> int | None:
        """None when the call may go ahead (it is counted); else the Retry-After seconds."""
        if not self.enabled:
            return None
        place, limit = self._limit_of(method, args)
        if limit is None:
            return None
        now = self._clock()
        bucket = self._buckets.setdefault((method, place), _Bucket(float(limit.burst), now))
        wait = bucket.take(limit, now)
        if wait == 0.0:
            return None
        self.refused[method] = self.refused.get(method, 0) + 1
        return max(1, math.ceil(wait))

    def _limit_of(self, method: str, args: JsonDict) -> tuple[str, RateLimit | None]:
        if method == POST_METHOD:
            return str(args.get("channel") or ""), self.channel_posts
        return "", self.tiers.get(method)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def reset(self) -> None:
        """Full buckets again (as after a quiet minute), counts kept."""
        self._buckets.clear()
