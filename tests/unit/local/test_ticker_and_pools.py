"""Local mode: the ticker never overlaps sweeps, one sweep at a time per process, and the
default pool is sized from the machine."""

from __future__ import annotations

import asyncio
import os
import threading

from cloudevents.http import CloudEvent

from functions import handlers
from functions.local.platform import machine_pool, tick
from sdk.contracts.events import EventType
from tests.support.harness import harness


class SlowSweeps:
    """A ping target whose sweeps take `seconds`; counts how many ran and overlapped."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started, self.running, self.most = seconds, 0, 0, 0

    async def deliver_now(self, event: CloudEvent) -> None:
        self.started += 1
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1


async def _run_ticker(target: SlowSweeps, *, interval_s: float, for_s: float) -> None:
    ticker = asyncio.create_task(tick(target, interval_s))
    await asyncio.sleep(for_s)
    ticker.cancel()


def test_the_ticker_skips_while_the_last_sweep_runs() -> None:
    target = SlowSweeps(seconds=0.25)
    asyncio.run(_run_ticker(target, interval_s=0.02, for_s=0.6))
    assert target.most == 1  # never two at once
    assert 2 <= target.started <= 4  # ~0.6 / 0.25, not ~30 queued pings


def test_a_second_sweep_in_the_process_is_skipped_while_one_runs() -> None:
    h = harness()
    ping = CloudEvent({"type": EventType.PING, "source": "test", "id": "p1"}, {})
    entered, release = threading.Event(), threading.Event()
    calls = []
    listing = h.runtime.list

    def slow_list():  # type: ignore[no-untyped-def]
        calls.append(1)
        entered.set()
        release.wait(5)
        return listing()

    h.runtime.list = slow_list  # type: ignore[method-assign]
    first = threading.Thread(target=handlers.sweep, args=(h.deps, ping))
    first.start()
    assert entered.wait(5)
    handlers.sweep(h.deps, ping)  # returns at once: the first still runs
    release.set()
    first.join(5)
    assert len(calls) == 1
    handlers.sweep(h.deps, ping)  # and later sweeps run again
    assert len(calls) == 2


def test_the_default_local_pool_is_sized_from_the_machine() -> None:
    pool = machine_pool()
    cpus = len(os.sched_getaffinity(0))
    assert (pool.budget.slots, pool.budget.cpu_milli, pool.tenant_cap) == (cpus, cpus * 1000, cpus)
    assert 512 <= pool.budget.memory_mb < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
