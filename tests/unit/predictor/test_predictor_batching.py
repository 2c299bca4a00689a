"""Adaptive micro-batching: a lone request goes at once and alone; requests for the same model
that arrive during a call go together in the next one; errors and give-ups stay per request."""

from __future__ import annotations

import asyncio

import pytest

from predictor.sidecar.batching import MicroBatcher
from predictor.sidecar.inference_client import InferenceAnswer, InferenceTimeout
from sdk.contracts.errors import ValidationError


def answer(payload: bytes) -> InferenceAnswer:
    return InferenceAnswer(ranked=[(payload.decode(), 1.0)], hit=True, load_s=0.0, infer_s=0.0)


class FakeInference:
    """Records calls; each call waits for `gate` so tests decide when the server answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.gate = asyncio.Event()
        self.fail: set[bytes] = set()

    async def single(self, model_id: str, payload: bytes, directory: str, timeout: float) -> InferenceAnswer:
        self.calls.append(("single", [payload]))
        await self.gate.wait()
        if payload in self.fail:
            raise ValidationError([])
        return answer(payload)

    async def batch(
        self, model_id: str, payloads: list[bytes], directory: str, timeout: float
    ) -> list[InferenceAnswer | Exception]:
        self.calls.append(("batch", payloads))
        await self.gate.wait()
        return [ValidationError([]) if p in self.fail else answer(p) for p in payloads]


def batcher(fake: FakeInference, max_batch: int = 32) -> MicroBatcher:
    return MicroBatcher(single=fake.single, batch=fake.batch, max_batch=max_batch)


async def ask(b: MicroBatcher, payload: bytes, *, model: str = "m", timeout: float = 5.0) -> InferenceAnswer:
    return await b.predict(model_id=model, payload=payload, directory="d", timeout=timeout)


def test_a_lone_request_is_sent_at_once_and_alone() -> None:
    async def scenario() -> None:
        fake = FakeInference()
        fake.gate.set()
        b = batcher(fake)
        for i in range(3):  # sequential, as one client: never batched, never delayed
            assert (await ask(b, str(i).encode())).ranked[0][0] == str(i)
        assert fake.calls == [("single", [b"0"]), ("single", [b"1"]), ("single", [b"2"])]
        assert b.batches == 0

    asyncio.run(scenario())


def test_requests_arriving_during_a_call_go_together_next() -> None:
    async def scenario() -> None:
        fake = FakeInference()
        b = batcher(fake, max_batch=3)
        first = asyncio.create_task(ask(b, b"a"))
        await asyncio.sleep(0)
        rest = [asyncio.create_task(ask(b, p)) for p in (b"b", b"c", b"d", b"e")]
        other_model = asyncio.create_task(ask(b, b"x", model="other"))  # another model: its own lane
        await asyncio.sleep(0)
        fake.gate.set()
        answers = await asyncio.gather(first, *rest, other_model)
        assert [a.ranked[0][0] for a in answers] == ["a", "b", "c", "d", "e", "x"]
        assert fake.calls == [("single", [b"a"]), ("single", [b"x"]), ("batch", [b"b", b"c", b"d"]), ("single", [b"e"])]
        assert (b.batches, b.batched) == (1, 3)

    asyncio.run(scenario())


def test_one_documents_error_is_its_own() -> None:
    async def scenario() -> None:
        fake = FakeInference()
        fake.fail.add(b"bad")
        b = batcher(fake)
        first = asyncio.create_task(ask(b, b"a"))
        await asyncio.sleep(0)
        good, bad = asyncio.create_task(ask(b, b"good")), asyncio.create_task(ask(b, b"bad"))
        await asyncio.sleep(0)
        fake.gate.set()
        assert (await first).ranked[0][0] == "a"
        assert (await good).ranked[0][0] == "good"
        with pytest.raises(ValidationError):
            await bad

    asyncio.run(scenario())


def test_a_waiter_past_its_deadline_gets_a_timeout_and_leaves_the_batch() -> None:
    async def scenario() -> None:
        fake = FakeInference()
        b = batcher(fake)
        first = asyncio.create_task(ask(b, b"a"))
        await asyncio.sleep(0)
        with pytest.raises(InferenceTimeout):
            await ask(b, b"late", timeout=0.01)
        fake.gate.set()
        await first
        await asyncio.sleep(0)
        assert fake.calls == [("single", [b"a"])]  # nobody is left waiting: no batch is sent
        assert not b._lanes

    asyncio.run(scenario())
