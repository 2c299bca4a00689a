"""The trainer's reports, sent in order from one background thread, batched when they come
faster than a round trip.

`put` queues a report and returns at once (it waits only while the queue is full: a trainer
that outruns the platform for long is slowed down, never loses a report). The sender takes
whatever queued while its last request was in flight, up to a batch's limits, and sends it
as one request: a lone report alone, several as one batch. One sender, first in first out:
never reordered. `flush` waits until everything queued so far is acknowledged; a report the
platform refused is raised there (or at the next `put`), once.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cloudevents.http import CloudEvent

from sdk.contracts.errors import TrainyardError


@dataclass(frozen=True)
class Queued:
    """A report ready to send: its envelope and its size as JSON (for the batch's byte limit)."""

    event: CloudEvent
    size: int


Send = Callable[[list[Queued]], None]


class ReportQueue:
    """`send` delivers a batch (retrying as it sees fit) or raises; `capacity` bounds the queue."""

    def __init__(self, send: Send, *, capacity: int = 1024, max_events: int = 64, max_bytes: int = 512 * 1024) -> None:
        self._send = send
        self._capacity = capacity
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._cond = threading.Condition()
        self._pending: deque[Queued] = deque()
        self._queued = 0  # reports ever put
        self._done = 0  # reports the sender finished with (sent or refused)
        self._error: TrainyardError | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches: list[int] = []  # the size of each request sent (for tests and figures)

    def put(self, report: Queued, *, raise_refused: bool = True) -> None:
        """Queue `report`; first raise an earlier refusal not yet raised (unless not `raise_refused`:
        an outcome is queued whatever happened before it, and flush raises)."""
        with self._cond:
            if raise_refused:
                self._raise_pending()
            if self._closed:
                raise RuntimeError("the trainer's reports are closed")
            while len(self._pending) >= self._capacity:
                self._cond.wait()
            self._pending.append(report)
            self._queued += 1
            self._start()
            self._cond.notify_all()

    def flush(self) -> None:
        """Wait until every report put so far was sent; raise the first refusal not yet raised."""
        with self._cond:
            target = self._queued
            while self._done < target:
                self._cond.wait()
            self._raise_pending()

    def close_quietly(self) -> None:
        """close(), for the interpreter's exit: a refusal then has nobody left to hear it."""
        with contextlib.suppress(TrainyardError):
            self.close()

    def close(self) -> None:
        """Send what is queued, then stop the sender (a refusal is raised, as by flush)."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join()

    def _raise_pending(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trainyard-reports", daemon=True)
            self._thread.start()

    def _take(self) -> list[Queued]:
        batch: list[Queued] = []
        size = 0
        while self._pending and len(batch) < self._max_events:
            nxt = self._pending[0]
            if batch and size + nxt.size > self._max_bytes:
                break
            batch.append(self._pending.popleft())
            size += nxt.size
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = self._take()
                self._cond.notify_all()  # room in the queue
            error: TrainyardError | None = None
            try:
                self._send(batch)
            except TrainyardError as exc:
                error = exc
            except Exception as exc:  # the sender thread must survive, to release the waiters
                error = TrainyardError(f"reports could not be sent: {exc!r}")
            with self._cond:
                self.batches.append(len(batch))
                if error is not None and self._error is None:
                    self._error = error
                self._done += len(batch)
                self._cond.notify_all()
