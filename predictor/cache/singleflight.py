"""One in-flight call per key: concurrent misses for the same model share one load.

The shared work runs as its own task and callers await it through `asyncio.shield`, so a
caller that gives up (its request deadline passed, its client went away) does not cancel
the load for the others, and the result is there for the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Task[V]] = {}
        self.started = 0  # how many times work actually ran (tests and metrics count loads)

    def in_flight(self, key: K) -> bool:
        return key in self._inflight

    def task(self, key: K, work: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        """The running task for `key`, starting `work()` if there is none."""
        existing = self._inflight.get(key)
        if existing is not None:
            return existing
        task = asyncio.ensure_future(work())
        self.started += 1
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._done(key, t))
        return task

    async def do(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """Await the shared result of `work()` for `key` (its exception, if it failed)."""
        return await asyncio.shield(self.task(key, work))

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: every waiter may have given up already
