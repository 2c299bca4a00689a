"""The local stand-in for a Knative Broker + Triggers, driven by the same routing table.

Events POSTed to /broker (binary or structured CloudEvents) are queued and delivered
over HTTP to each subscribed function, at least once, with jittered exponential backoff
(never sooner than a function's Retry-After), then to a dead-letter list. Events with the
same subject go through the same shard, so one job's reports are delivered in the order
they were accepted.

With a `journal` (functions.local.event_journal), an event is on disk before its 202 and
leaves it once delivered (or dead-lettered); `start` re-queues what a crash left there.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import ssl
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from functions.local.event_journal import EventJournal
from functions.routing import min_delay_s, redelivered, subscribers

log = logging.getLogger("trainyard.dispatcher")


class _Undelivered(Exception):
    """A function answered a delivery with a non-2xx status."""

    def __init__(self, status: int, text: str, min_delay_s: float) -> None:
        super().__init__(f"{status} {text}")
        self.status = status
        self.min_delay_s = min_delay_s


def _redeliverable(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPError) or (isinstance(exc, _Undelivered) and redelivered(exc.status))


def _reason(state: RetryCallState) -> str:
    failed = state.outcome.exception() if state.outcome is not None else None
    return str(failed) if isinstance(failed, _Undelivered) else repr(failed)


@dataclass
class DeliveryPolicy:
    attempts: int = 8
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    timeout_s: float = 30.0


@dataclass
class Dispatcher:
    functions_url: str  # subscriber URL = f"{functions_url}/{function name}/"
    shards: int = 4
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    dead_letters: deque[dict[str, object]] = field(default_factory=lambda: deque(maxlen=1000))
    verify: ssl.SSLContext | bool = True  # with mutual TLS: the platform's client certificate and CA
    transport: httpx.AsyncBaseTransport | None = None  # e.g. the internal listener's UNIX socket; tests: in process
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests: no real waiting
    journal: EventJournal | None = None  # None: accepted events live in memory only

    def __post_init__(self) -> None:
        self._queues: list[asyncio.Queue[tuple[int | None, CloudEvent]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._accepted: list[tuple[CloudEvent, asyncio.Future[int]]] = []  # waiting for the next commit
        self._done: list[int] = []  # delivered; forgotten at the next commit
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the delivery workers, first re-queueing what the journal kept from before."""
        self._client = httpx.AsyncClient(timeout=self.policy.timeout_s, verify=self.verify, transport=self.transport)
        self._queues = [asyncio.Queue() for _ in range(self.shards)]
        if self.journal is not None:
            left = await asyncio.to_thread(self.journal.pending)
            if left:
                log.info("redelivering events accepted before a restart", extra={"events": len(left)})
            for seq, event in left:
                self._put(seq, event)
        self._tasks = [asyncio.create_task(self._work(q)) for q in self._queues]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self.journal is not None and self._done:  # best effort: a lost removal is only a redelivery
            await asyncio.to_thread(self.journal.commit, (), self._done)
            self._done = []
        if self._client is not None:
            await self._client.aclose()

    def enqueue(self, event: CloudEvent) -> None:
        """Queue `event` without journaling it (the caller keeps it, or may lose it)."""
        self._put(None, event)

    async def accept(self, event: CloudEvent) -> None:
        """Queue `event` once it is journaled (fsync'd): after this returns it survives kill -9."""
        if self.journal is None:
            self._put(None, event)
            return
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._accepted.append((event, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        self._put(await done, event)

    async def _write(self) -> None:
        """Commit what arrived meanwhile, in one transaction per round, until nothing waits."""
        assert self.journal is not None
        while self._accepted or self._done:
            batch, self._accepted = self._accepted, []
            finished, self._done = self._done, []
            try:
                seqs = await asyncio.to_thread(self.journal.commit, [e for e, _ in batch], finished)
            except Exception as exc:  # the disk refused: those requests are not acknowledged
                log.error("event journal write failed", extra={"error": repr(exc), "events": len(batch)})
                self._done.extend(finished)
                for _, waiter in batch:
                    waiter.set_exception(exc)
                if not self._accepted:
                    return
                continue  # those that arrived meanwhile get their own try
            for seq, (_, waiter) in zip(seqs, batch, strict=True):
                waiter.set_result(seq)
            if not self._accepted:
                return  # removals alone wait for the next append (or stop): no fsync for them now

    def _put(self, seq: int | None, event: CloudEvent) -> None:
        key = str(event.get("subject") or event["id"]).encode()
        self._queues[zlib.crc32(key) % self.shards].put_nowait((seq, event))

    async def deliver_now(self, event: CloudEvent) -> None:
        """Deliver to every subscriber now, outside the queues, and return when done (the
        ticker: so it can tell whether the last sweep is still running)."""
        for name in subscribers(event["type"]):
            await self._deliver(name, event)

    async def idle(self) -> None:
        """Wait until every queued event was delivered or dead-lettered (tests, shutdown)."""
        await asyncio.gather(*(q.join() for q in self._queues))

    async def _work(self, queue: asyncio.Queue[tuple[int | None, CloudEvent]]) -> None:
        while True:
            seq, event = await queue.get()
            try:
                for name in subscribers(event["type"]):
                    await self._deliver(name, event)
                if seq is not None:
                    self._done.append(seq)
            finally:
                queue.task_done()

    async def _deliver(self, name: str, event: CloudEvent) -> None:
        """POST `event` to function `name` until it is acknowledged or refused, redelivering as
        Knative would (functions.routing's rules) with jittered exponential backoff, never sooner
        than the function's Retry-After; then, if it never was, to the dead letters."""
        assert self._client is not None
        headers, body = to_binary(event)
        url = f"{self.functions_url}/{name}/"
        jitter = wait_exponential_jitter(
            initial=self.policy.backoff_s, max=self.policy.max_backoff_s, jitter=self.policy.backoff_s
        )

        def wait(state: RetryCallState) -> float:
            failed = state.outcome.exception() if state.outcome is not None else None
            asked = failed.min_delay_s if isinstance(failed, _Undelivered) else 0.0
            return max(jitter(state), asked)

        def log_retry(state: RetryCallState) -> None:
            log.debug(
                "delivery retry",
                extra={
                    "function": name,
                    "event_id": event["id"],
                    "attempt": state.attempt_number,
                    "error": _reason(state),
                },
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait,
            sleep=self.sleep,
            retry=retry_if_exception(_redeliverable),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(url, headers, body)
        except (_Undelivered, httpx.HTTPError) as exc:
            last = str(exc) if isinstance(exc, _Undelivered) else repr(exc)
            log.error(
                "dead letter", extra={"function": name, "event_id": event["id"], "type": event["type"], "error": last}
            )
            self.dead_letters.append({"function": name, "id": event["id"], "type": event["type"], "error": last})

    async def _post(self, url: str, headers: dict[str, str], body: bytes | None) -> None:
        assert self._client is not None
        resp = await self._client.post(url, headers=headers, content=body)
        if resp.status_code >= 300:
            raise _Undelivered(resp.status_code, resp.text[:300], min_delay_s(resp.headers))

    def app(self) -> Starlette:
        async def ingest(request: Request) -> JSONResponse:
            try:
                event = from_http(dict(request.headers), await request.body())
            except Exception as exc:  # cloudevents raises several unrelated types
                return JSONResponse({"error": f"not a CloudEvent: {exc}"}, status_code=400)
            try:
                await self.accept(event)
            except (OSError, sqlite3.Error) as exc:  # not kept, so not accepted: the sender retries
                return JSONResponse({"error": f"event not journaled: {exc}"}, status_code=503)
            return JSONResponse({"accepted": event["id"]}, status_code=202)

        async def dead(_: Request) -> JSONResponse:
            return JSONResponse({"items": list(self.dead_letters)})

        return Starlette(routes=[Route("/", ingest, methods=["POST"]), Route("/dead-letters", dead, methods=["GET"])])
