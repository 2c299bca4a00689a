from __future__ import annotations

import asyncio

import pytest

from predictor.cache import SingleFlight
from predictor.cache.blocking import BlockingSingleFlight


def test_concurrent_callers_share_one_call() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate = asyncio.Event()
        calls = 0

        async def work() -> int:
            nonlocal calls
            calls += 1
            await gate.wait()
            return 42

        waiters = [asyncio.create_task(flight.do("m", work)) for _ in range(10)]
        await asyncio.sleep(0)
        assert flight.in_flight("m")
        gate.set()
        assert await asyncio.gather(*waiters) == [42] * 10
        assert calls == 1 and flight.started == 1
        assert not flight.in_flight("m")
        assert await flight.do("m", work) == 42  # a later miss runs again
        assert calls == 2

    asyncio.run(scenario())


def test_failure_is_shared_and_not_cached() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate = asyncio.Event()

        async def boom() -> int:
            await gate.wait()
            raise RuntimeError("load failed")

        waiters = [asyncio.create_task(flight.do("m", boom)) for _ in range(3)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert not flight.in_flight("m")

    asyncio.run(scenario())


def test_a_caller_giving_up_does_not_cancel_the_shared_work() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        gate = asyncio.Event()

        async def work() -> str:
            await gate.wait()
            return "loaded"

        impatient = asyncio.create_task(flight.do("m", work))
        await asyncio.sleep(0)
        impatient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await impatient
        assert flight.in_flight("m")
        gate.set()
        assert await flight.do("m", work) == "loaded"
        assert flight.started == 1

    asyncio.run(scenario())


def test_blocking_single_flight_shares_failures_and_forgets_them() -> None:
    flight: BlockingSingleFlight[str, int] = BlockingSingleFlight()

    def boom() -> int:
        raise RuntimeError("load failed")

    with pytest.raises(RuntimeError):
        flight.do("m", boom)
    assert flight.do("m", lambda: 7) == 7  # a failure is not cached
    assert flight.started == 2 and flight.waiting("m") == 0
