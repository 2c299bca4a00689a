"""The sidecar's core: tenant + model id + payload -> ranked labels.

resolve (cached) -> disk tier (download once) -> inference over gRPC (memory tier),
all within one request deadline. A warm request touches no network but the local gRPC
hop: the resolution comes from the cache and the archive is already on disk. When a cold
path cannot finish in time the request fails with TemporaryError (503 + Retry-After) and
the download or load goes on, shared, for the retry.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from predictor.ranking import Ranked
from predictor.sidecar.auth import TokenDecisions
from predictor.sidecar.batching import MicroBatcher
from predictor.sidecar.diskcache import DiskCache, UrlRefused
from predictor.sidecar.inference_client import InferenceClient
from predictor.sidecar.metrics import Metrics, ModelSeries
from predictor.sidecar.resolver import CachedResolver, Resolution
from sdk.contracts.errors import Forbidden, NotFound, Problem, TemporaryError, Unauthenticated, ValidationError

T = TypeVar("T")


class ColdLoadTimeout(TemporaryError):
    """The model could not be made ready within the request deadline; it still is being."""


class PredictionService:
    def __init__(
        self,
        *,
        resolver: CachedResolver,
        disk: DiskCache,
        inference: InferenceClient,
        metrics: Metrics,
        deadline_s: float,
        retry_after_s: float,
        decisions: TokenDecisions | None = None,
        batcher: MicroBatcher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._batcher = batcher
        self._observed: dict[str, asyncio.Task[None]] = {}  # installs being timed, by sha256
        self._decisions = (
            decisions
            if decisions is not None
            else TokenDecisions(ttl_s=30.0, negative_ttl_s=2.0, max_entries=10_000, clock=clock)
        )
        self._disk = disk
        self._inference = inference
        self._metrics = metrics
        self._deadline_s = deadline_s
        self._retry_after_s = retry_after_s
        self._clock = clock

    async def predict(
        self,
        *,
        kind: str,
        tenant: str,
        authorization: str,
        model_id: str,
        payload: bytes,
        token_ttl_s: float = math.inf,
        route: str | None = None,
    ) -> tuple[Ranked, ModelSeries]:
        """Ranked labels, and the metric series of the model (kept only for models that exist)."""
        deadline = self._clock() + self._deadline_s
        resolution, hit = await self._resolve(
            tenant=tenant, model_id=model_id, authorization=authorization, deadline=deadline, token_ttl_s=token_ttl_s
        )
        series = self._metrics.model(route or kind, tenant, model_id)
        series.resolve.count(hit)
        if resolution.kind != kind:
            raise ValidationError([Problem("modelId", f"model {model_id!r} is a {resolution.kind} model")])
        directory = await self._acquire(resolution, authorization=authorization, deadline=deadline, series=series)
        timeout = max(0.001, deadline - self._clock())
        try:
            if kind == "intent" and self._batcher is not None:
                answer = await self._batcher.predict(
                    model_id=model_id, payload=payload, directory=directory, timeout=timeout
                )
            else:
                answer = await self._inference.predict(
                    kind=kind, model_id=model_id, payload=payload, directory=directory, timeout=timeout
                )
        finally:
            self._disk.unpin(resolution.sha256)
        series.memory.count(answer.hit)
        if not answer.hit:
            series.load_seconds.observe(answer.load_s)
        series.inference_seconds.observe(answer.infer_s)
        return answer.ranked, series

    async def describe(
        self, *, tenant: str, authorization: str, model_id: str, token_ttl_s: float = math.inf
    ) -> Resolution:
        """What the model is (kind, labels), with the same checks as `predict`; loads nothing."""
        deadline = self._clock() + self._deadline_s
        resolution, _ = await self._resolve(
            tenant=tenant, model_id=model_id, authorization=authorization, deadline=deadline, token_ttl_s=token_ttl_s
        )
        return resolution

    async def _resolve(
        self, *, tenant: str, model_id: str, authorization: str, deadline: float, token_ttl_s: float
    ) -> tuple[Resolution, bool]:
        """The resolution (and whether it came from the cache). A resolution is cached per
        (tenant, model), but a token the platform has not judged recently is sent to the
        platform first, whatever is cached: the decision is per token, not per model."""
        if self._decisions.accepted(authorization):  # raises a refusal it remembers
            cached = self._resolver.cached(tenant=tenant, model_id=model_id)
            if cached is not None:
                return cached, True
        try:
            resolution = await self._within(
                deadline, self._resolver.resolve(tenant=tenant, model_id=model_id, authorization=authorization)
            )
        except (Unauthenticated, Forbidden) as exc:
            self._decisions.refuse(authorization, exc, token_ttl_s=token_ttl_s)
            raise
        except NotFound:  # the platform checked the token before looking the model up
            self._decisions.accept(authorization, token_ttl_s=token_ttl_s)
            raise
        self._decisions.accept(authorization, token_ttl_s=token_ttl_s)
        return resolution, False

    async def _acquire(
        self, resolution: Resolution, *, authorization: str, deadline: float, series: ModelSeries
    ) -> str:
        """Pin the model's directory on disk, downloading it first when needed."""
        if self._disk.try_pin(resolution.sha256):  # warm: no await, no task
            series.disk.count(True)
            return resolution.sha256
        series.disk.count(False)
        for _ in range(3):  # an entry can be evicted between its install and our pin under pressure
            self._observe_install(resolution, series)
            try:
                lookup = await self._within(deadline, self._disk.ensure(resolution))
            except UrlRefused:
                self._resolver.invalidate(tenant=resolution.tenant, model_id=resolution.model_id)
                resolution = await self._within(
                    deadline,
                    self._resolver.resolve(
                        tenant=resolution.tenant, model_id=resolution.model_id, authorization=authorization
                    ),
                )
                continue
            if self._disk.try_pin(lookup.directory):
                return lookup.directory
        raise TemporaryError("the disk cache is under too much pressure to keep this model", self._retry_after_s)

    def _observe_install(self, resolution: Resolution, series: ModelSeries) -> None:
        """Time the download and extraction once per archive, in a task of its own: the request
        that started it may give up at its deadline (503) while the download goes on."""
        if resolution.sha256 in self._observed:
            return

        async def observe() -> None:
            try:
                lookup = await self._disk.ensure(resolution)
            except Exception:  # the requests waiting on it get the error; this task only times it
                return
            finally:
                self._observed.pop(resolution.sha256, None)
            if not lookup.hit:
                series.download_seconds.observe(lookup.download_s)
                series.extract_seconds.observe(lookup.extract_s)
                self._metrics.disk_bytes.set(self._disk.used_bytes)

        self._observed[resolution.sha256] = asyncio.get_running_loop().create_task(observe())

    async def _within(self, deadline: float, work: Awaitable[T]) -> T:
        remaining = deadline - self._clock()
        try:
            if remaining <= 0:
                raise TimeoutError
            return await asyncio.wait_for(work, remaining)
        except TimeoutError as exc:
            if asyncio.iscoroutine(work):
                work.close()  # never started: avoid a "never awaited" warning
            raise ColdLoadTimeout("the model is still loading; retry shortly", self._retry_after_s) from exc
