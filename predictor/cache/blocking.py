"""Single-flight for threads: concurrent misses in a thread-pool server share one load.

The first caller for a key runs the work in its own thread; the others wait on its
Future, each with its own timeout. A caller that stops waiting does not stop the work:
the result lands in the cache for the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BlockingSingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[K, Future[V]] = {}
        self._waiting: dict[K, int] = {}
        self.started = 0  # how many times work actually ran

    def waiting(self, key: K) -> int:
        """Callers currently waiting on someone else's work for `key`."""
        with self._lock:
            return self._waiting.get(key, 0)

    def do(self, key: K, work: Callable[[], V], *, timeout: float | None = None) -> V:
        """The shared result of `work()` for `key`; TimeoutError if it takes longer than `timeout`."""
        with self._lock:
            future = self._inflight.get(key)
            leader = future is None
            if future is None:
                future = self._inflight[key] = Future()
                self.started += 1
            else:
                self._waiting[key] = self._waiting.get(key, 0) + 1
        if not leader:
            try:
                return future.result(timeout=timeout)
            finally:
                with self._lock:
                    self._waiting[key] -= 1
                    if not self._waiting[key]:
                        del self._waiting[key]
        try:
            future.set_result(work())
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            with self._lock:
                del self._inflight[key]
        return future.result()
