"""An LRU map bounded by the bytes its values account for, not by their count.

Models differ in size by orders of magnitude, so a count limit either wastes memory or
overflows it. Entries in use can be pinned: eviction skips them, which may leave the map
briefly over budget (reported by `over_budget`) rather than pulling a file or a model
from under a request that is using it. The map does no I/O and takes no locks: callers
run it on one event loop, and get back what was evicted so they can release it (delete
files, drop references) outside.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    value: V
    size: int
    pins: int = 0


class ByteLRU(Generic[K, V]):
    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive")
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._used = 0

    @property
    def used_bytes(self) -> int:
        return self._used

    @property
    def over_budget(self) -> bool:
        return self._used > self.budget_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def keys(self) -> Iterator[K]:
        """Least recently used first."""
        return iter(list(self._entries))

    def get(self, key: K) -> V | None:
        """The value, marked most recently used; None on a miss."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.value

    def peek(self, key: K) -> V | None:
        """The value without touching its recency."""
        entry = self._entries.get(key)
        return None if entry is None else entry.value

    def put(self, key: K, value: V, size: int) -> list[tuple[K, V]]:
        """Insert (or replace) `key`; return the entries evicted to make room.

        A value larger than the whole budget is refused (ValueError): caching it would
        evict everything and still not fit.
        """
        if size < 0:
            raise ValueError("size must be >= 0")
        if size > self.budget_bytes:
            raise ValueError(f"{size} bytes cannot fit a {self.budget_bytes}-byte budget")
        evicted: list[tuple[K, V]] = []
        old = self._entries.pop(key, None)
        if old is not None:
            self._used -= old.size
            if old.value is not value:
                evicted.append((key, old.value))
        self._entries[key] = _Entry(value, size, old.pins if old is not None else 0)
        self._used += size
        evicted.extend(self._evict(keep=key))
        return evicted

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._used -= entry.size
        return entry.value

    def pin(self, key: K) -> None:
        """Protect `key` from eviction until a matching `unpin` (KeyError if absent)."""
        self._entries[key].pins += 1

    def unpin(self, key: K) -> list[tuple[K, V]]:
        """Release one pin; return what could now be evicted if the map was over budget."""
        entry = self._entries.get(key)
        if entry is None or entry.pins == 0:
            return []
        entry.pins -= 1
        return self._evict(keep=None) if self.over_budget else []

    def _evict(self, *, keep: K | None) -> list[tuple[K, V]]:
        evicted: list[tuple[K, V]] = []
        if not self.over_budget:
            return evicted
        for key in list(self._entries):
            if not self.over_budget:
                break
            entry = self._entries[key]
            if key == keep or entry.pins:
                continue
            del self._entries[key]
            self._used -= entry.size
            evicted.append((key, entry.value))
        return evicted
