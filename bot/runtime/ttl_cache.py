"""Answers kept for a while, misses included, so a rate-limited lookup is not asked again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

Answer = TypeVar("Answer")


class TtlCache(Generic[Answer]):
    """Answers kept for ``ttl`` seconds of ``clock``; at ``limit`` entries it starts afresh
    (bounded in an organisation of any size; clearing only costs a few lookups)."""

    def __init__(self, ttl: float, limit: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._kept: dict[str, tuple[float, Answer]] = {}

    def get(self, key: str) -> tuple[bool, Answer | None]:
        """Whether a fresh answer is kept, and the answer."""
        kept = self._kept.get(key)
        if kept is None or self._clock() - kept[0] >= self._ttl:
            return False, None
        return True, kept[1]

    def keep(self, key: str, answer: Answer) -> None:
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[key] = (self._clock(), answer)
