from __future__ import annotations

import pytest

from predictor.cache import ByteLRU


def test_evicts_least_recently_used_until_within_budget() -> None:
    lru: ByteLRU[str, str] = ByteLRU(100)
    assert lru.put("a", "A", 40) == []
    assert lru.put("b", "B", 40) == []
    assert lru.get("a") == "A"  # a is now the most recent
    assert lru.put("c", "C", 40) == [("b", "B")]
    assert list(lru.keys()) == ["a", "c"]
    assert lru.used_bytes == 80


def test_one_big_value_evicts_several_small_ones() -> None:
    lru: ByteLRU[str, int] = ByteLRU(100)
    for i in range(10):
        lru.put(f"k{i}", i, 10)
    evicted = lru.put("big", 99, 75)
    assert [k for k, _ in evicted] == [f"k{i}" for i in range(8)]
    assert lru.used_bytes == 95
    assert not lru.over_budget


def test_value_larger_than_budget_is_refused() -> None:
    lru: ByteLRU[str, int] = ByteLRU(10)
    lru.put("a", 1, 5)
    with pytest.raises(ValueError, match="cannot fit"):
        lru.put("b", 2, 11)
    assert "a" in lru


def test_pinned_entries_survive_and_are_evicted_when_released() -> None:
    lru: ByteLRU[str, int] = ByteLRU(100)
    lru.put("a", 1, 60)
    lru.pin("a")
    assert lru.put("b", 2, 60) == []  # a is in use: the map goes over budget instead
    assert lru.over_budget
    assert lru.unpin("a") == [("a", 1)]
    assert lru.used_bytes == 60 and not lru.over_budget


def test_replacing_a_key_accounts_the_new_size() -> None:
    lru: ByteLRU[str, int] = ByteLRU(100)
    lru.put("a", 1, 60)
    assert lru.put("a", 2, 30) == [("a", 1)]
    assert lru.used_bytes == 30
    assert lru.peek("a") == 2
    assert lru.pop("a") == 2
    assert lru.used_bytes == 0 and len(lru) == 0
