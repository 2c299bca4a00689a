"""The local dispatcher redelivers as Knative would, from functions.routing's rules: a function's
retry intent (503 + Retry-After) is honoured as a floor under the jittered backoff, a refusal
(400) goes straight to the dead letters, an acknowledgement stops."""

from __future__ import annotations

import asyncio

import httpx
from cloudevents.http import CloudEvent

from functions.local.dispatcher import DeliveryPolicy, Dispatcher

FAST = DeliveryPolicy(attempts=4, backoff_s=0.5, max_backoff_s=2.0, timeout_s=5)


def _run(answers: list[httpx.Response], policy: DeliveryPolicy = FAST) -> tuple[Dispatcher, list[float], int]:
    calls: list[httpx.Request] = []

    def function(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return answers[min(len(calls), len(answers)) - 1]

    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    async def go() -> Dispatcher:
        dispatcher = Dispatcher(
            "http://fn.test", shards=1, policy=policy, transport=httpx.MockTransport(function), sleep=sleep
        )
        await dispatcher.start()
        dispatcher.enqueue(
            CloudEvent(
                {"type": "io.trainyard.job.created", "source": "t", "subject": "j-1"},
                {"tenant": "acme", "job_id": "j-1"},
            )
        )
        await dispatcher.idle()
        await dispatcher.stop()
        return dispatcher

    return asyncio.run(go()), slept, len(calls)


def test_an_acknowledged_event_is_delivered_once() -> None:
    dispatcher, slept, calls = _run([httpx.Response(200)])
    assert calls == 1 and slept == [] and not dispatcher.dead_letters


def test_a_retry_after_is_the_floor_of_the_next_delivery() -> None:
    dispatcher, slept, calls = _run([httpx.Response(503, headers={"Retry-After": "3"}), httpx.Response(200)])
    assert calls == 2 and not dispatcher.dead_letters
    assert slept[0] >= 3.0  # the function's delay_s reached the redelivery


def test_a_refused_event_goes_to_the_dead_letters_without_redelivery() -> None:
    dispatcher, slept, calls = _run([httpx.Response(400, text="invalid data")])
    assert calls == 1 and slept == []
    assert [d["error"] for d in dispatcher.dead_letters] == ["400 invalid data"]


def test_a_crashing_function_is_retried_with_bounded_jittered_backoff_then_dead_lettered() -> None:
    dispatcher, slept, calls = _run([httpx.Response(500, text="boom")])
    assert calls == FAST.attempts and len(slept) == FAST.attempts - 1
    assert all(0 < s <= FAST.max_backoff_s for s in slept)
    assert len(dispatcher.dead_letters) == 1
