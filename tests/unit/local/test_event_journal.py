"""The local broker's journal: an event is on disk before `accept` returns (so before the
202), leaves it once delivered or dead-lettered, and a new dispatcher on the same file
delivers what an old one accepted and never delivered, in the order it was accepted."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
from cloudevents.http import CloudEvent

from functions.local.dispatcher import DeliveryPolicy, Dispatcher
from functions.local.event_journal import EventJournal

FAST = DeliveryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.01, timeout_s=5)


def _event(n: int, *, subject: str = "j-1") -> CloudEvent:
    return CloudEvent(
        {"type": "io.trainyard.job.epoch", "source": "t", "subject": subject, "id": f"e-{n}"},
        {"tenant": "acme", "job_id": subject, "epoch": n},
    )


class CountingJournal(EventJournal):
    """The real journal, counting its transactions (each one is an fsync)."""

    commits = 0

    def commit(self, accepted: object, done: object = ()) -> list[int]:  # type: ignore[override]
        self.commits += 1
        return super().commit(accepted, done)  # type: ignore[arg-type]


def _dispatcher(journal: EventJournal, answer: httpx.Response | None, seen: list[str]) -> Dispatcher:
    def function(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["ce-id"])
        if answer is None:
            raise httpx.ConnectError("the function is down")
        return answer

    async def no_sleep(_: float) -> None:
        return None

    return Dispatcher(
        "http://fn.test",
        shards=2,
        policy=FAST,
        transport=httpx.MockTransport(function),
        sleep=no_sleep,
        journal=journal,
    )


class HeldTransport(httpx.AsyncBaseTransport):
    """A function that answers only once the test lets it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.release.wait()
        return httpx.Response(200)


def test_an_event_is_on_disk_when_accept_returns_and_gone_once_delivered(tmp_path: Path) -> None:
    journal = EventJournal(tmp_path / "broker.db")
    held = HeldTransport()

    def rows() -> int:  # through another connection: committed, not only in this one's cache
        with sqlite3.connect(journal.path) as other:
            return int(other.execute("SELECT count(*) FROM events").fetchone()[0])

    async def go() -> tuple[int, int]:
        d = Dispatcher("http://fn.test", shards=1, policy=FAST, transport=held, journal=journal)
        await d.start()
        await d.accept(_event(1))
        accepted = rows()
        held.release.set()
        await d.idle()
        await d.stop()
        return accepted, rows()

    assert asyncio.run(go()) == (1, 0)


def test_a_restarted_dispatcher_delivers_what_was_accepted_in_order_then_forgets_it(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    down: list[str] = []
    up: list[str] = []

    async def before_crash() -> None:
        d = _dispatcher(EventJournal(path), None, down)  # the functions are down
        d.policy = DeliveryPolicy(attempts=1_000, backoff_s=60, max_backoff_s=60)
        d.sleep = asyncio.sleep  # really waits: the process "dies" mid-backoff
        await d.start()
        for n in range(5):
            await d.accept(_event(n))
        await asyncio.sleep(0.05)
        for task in d._tasks:  # a crash: nothing is finished or cleaned up
            task.cancel()

    async def after_restart() -> None:
        d = _dispatcher(EventJournal(path), httpx.Response(200), up)
        await d.start()
        await d.idle()
        await d.stop()

    asyncio.run(before_crash())
    assert len(EventJournal(path).pending()) == 5
    asyncio.run(after_restart())
    assert up == [f"e-{n}" for n in range(5)]  # one subject: one shard, the accepted order
    assert EventJournal(path).pending() == []


def test_a_dead_lettered_event_leaves_the_journal_too(tmp_path: Path) -> None:
    journal = EventJournal(tmp_path / "broker.db")
    seen: list[str] = []

    async def go() -> Dispatcher:
        d = _dispatcher(journal, httpx.Response(400, text="invalid"), seen)
        await d.start()
        await d.accept(_event(1))
        await d.idle()
        await d.stop()
        return d

    d = asyncio.run(go())
    assert seen == ["e-1"] and len(d.dead_letters) == 1
    assert journal.pending() == []


def test_concurrent_accepts_share_a_commit(tmp_path: Path) -> None:
    journal = CountingJournal(tmp_path / "broker.db")

    async def go() -> None:
        d = _dispatcher(journal, httpx.Response(200), [])
        await d.start()
        await asyncio.gather(*(d.accept(_event(n, subject=f"j-{n}")) for n in range(50)))
        await d.idle()
        await d.stop()

    asyncio.run(go())
    assert journal.count() == 0
    assert 2 <= journal.commits <= 10  # 50 events: the first alone, the rest batched; one more at stop


def test_an_event_the_journal_cannot_keep_is_refused_with_a_503(tmp_path: Path) -> None:
    journal = EventJournal(tmp_path / "broker.db")
    seen: list[str] = []

    async def go() -> httpx.Response:
        d = _dispatcher(journal, httpx.Response(200), seen)
        await d.start()
        journal.close()  # the disk is gone: every commit now fails
        transport = httpx.ASGITransport(app=d.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://broker") as client:
            headers = {"ce-id": "e-1", "ce-type": "io.trainyard.job.epoch", "ce-source": "t", "ce-specversion": "1.0"}
            resp = await client.post("/", headers=headers, content=b"{}")
        await d.idle()
        return resp

    resp = asyncio.run(go())
    assert resp.status_code == 503 and "not journaled" in resp.text
    assert seen == []  # not acknowledged, so not delivered either: the sender retries
