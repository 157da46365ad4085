"""Kept answers: fresh for their time, misses included, bounded in number."""

from bot.runtime.ttl_cache import TtlCache


def test_an_answer_is_kept_for_its_time_and_a_miss_too():
    now = [0.0]
    cache: TtlCache[str | None] = TtlCache(10.0, 100, lambda: now[0])
    cache.keep("U0ALICE", "alice")
    cache.keep("U0GONE", None)
    now[0] = 9.9
    assert cache.get("U0ALICE") == (True, "alice")
    assert cache.get("U0GONE") == (True, None)
    assert cache.get("U0BOB") == (False, None)
    now[0] = 10.0
    assert cache.get("U0ALICE") == (False, None)


def test_a_full_cache_starts_afresh():
    cache: TtlCache[str] = TtlCache(10.0, 2, lambda: 0.0)
    cache.keep("a", "1")
    cache.keep("b", "2")
    cache.keep("c", "3")
    assert cache.get("a") == (False, None)
    assert cache.get("c") == (True, "3")
