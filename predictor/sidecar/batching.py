"""Adaptive micro-batching of intent predictions, per model, with no timer.

The first request for a model goes to the inference server at once, alone: at one client
nothing ever waits, so batching adds no latency. Requests for the same model (and archive)
that arrive while that call is in flight queue up; when it returns, everything queued goes
in one `predict_batch` call — one gRPC round trip and one forward pass for all of them —
up to `max_batch`, and so on while the queue refills. Under load, batches grow by
themselves to what arrives during one call; when the load stops, so does the batching.
(Triton's dynamic batcher and MLServer's adaptive batching wait up to a fixed delay for a
batch to fill; this one never waits on a clock, only on the call already running.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from predictor.sidecar.inference_client import InferenceAnswer, InferenceTimeout

Single = Callable[[str, bytes, str, float], Awaitable[InferenceAnswer]]
Batch = Callable[[str, list[bytes], str, float], Awaitable[list[InferenceAnswer | Exception]]]


@dataclass
class _Waiting:
    payload: bytes
    deadline: float
    future: asyncio.Future[InferenceAnswer]


@dataclass
class _Lane:
    queue: list[_Waiting] = field(default_factory=list)


class MicroBatcher:
    def __init__(
        self, *, single: Single, batch: Batch, max_batch: int = 32, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._single = single
        self._batch = batch
        self._max_batch = max_batch
        self._clock = clock
        self._lanes: dict[tuple[str, str], _Lane] = {}  # a lane exists while a call for its model runs
        self.batches = 0  # calls that carried more than one document (tests and the benchmark read it)
        self.batched = 0  # documents that went in those calls

    async def predict(self, *, model_id: str, payload: bytes, directory: str, timeout: float) -> InferenceAnswer:
        key = (model_id, directory)
        lane = self._lanes.get(key)
        if lane is not None:  # a call for this model is in flight: ride the next batch
            waiting = _Waiting(payload, self._clock() + timeout, asyncio.get_running_loop().create_future())
            lane.queue.append(waiting)
            try:  # on timeout or cancellation the future is cancelled, and its batch skips it
                return await asyncio.wait_for(waiting.future, timeout)
            except TimeoutError as exc:
                raise InferenceTimeout("the inference server did not answer in time; retry shortly") from exc
        lane = self._lanes[key] = _Lane()
        try:
            return await self._single(model_id, payload, directory, timeout)
        finally:
            self._next(key, lane)

    def _next(self, key: tuple[str, str], lane: _Lane) -> None:
        """Send what queued during the last call, or close the lane when nothing did."""
        pending = [w for w in lane.queue if not w.future.done()]  # a waiter that gave up is dropped
        if not pending:
            del self._lanes[key]
            return
        now = self._clock()
        batch, lane.queue = pending[: self._max_batch], pending[self._max_batch :]
        timeout = max(0.001, max(w.deadline for w in batch) - now)
        asyncio.get_running_loop().create_task(self._send(key, lane, batch, timeout))

    async def _send(self, key: tuple[str, str], lane: _Lane, batch: list[_Waiting], timeout: float) -> None:
        try:
            if len(batch) == 1:
                answers: list[InferenceAnswer | Exception] = [
                    await self._single(key[0], batch[0].payload, key[1], timeout)
                ]
            else:
                self.batches += 1
                self.batched += len(batch)
                answers = await self._batch(key[0], [w.payload for w in batch], key[1], timeout)
        except Exception as exc:  # handed to each waiter, raised there
            answers = [exc] * len(batch)
        finally:
            self._next(key, lane)
        for waiting, answer in zip(batch, answers, strict=True):
            if waiting.future.done():
                continue
            if isinstance(answer, Exception):
                waiting.future.set_exception(answer)
            else:
                waiting.future.set_result(answer)
