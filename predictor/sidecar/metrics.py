"""Prometheus metrics of the prediction path, per tenant and per model, on both tiers.

The inference server reports its memory-tier hit/miss, load and forward times to the
sidecar in trailing metadata, so one /metrics endpoint covers both containers. Each
instance owns its registry (nothing global), so tests and several apps do not collide.

`Metrics(per_model=False)` drops the tenant and model labels (every series is then a total
per route): what a sidecar exposes when its /metrics needs no credential, so an anonymous
scrape names no tenant and no model id.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_SLOW = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Tier:
    hit: Counter
    miss: Counter

    def count(self, hit: bool) -> None:
        (self.hit if hit else self.miss).inc()


@dataclass(frozen=True)
class ModelSeries:
    """One tenant's model's series, looked up once: `.labels()` costs more than the increment."""

    resolve: Tier
    disk: Tier
    memory: Tier
    download_seconds: Histogram
    extract_seconds: Histogram
    load_seconds: Histogram
    inference_seconds: Histogram
    request_seconds: Histogram
    ok: Counter


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, per_model: bool = True) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.per_model = per_model
        model = ("tenant", "model") if per_model else ()
        self.requests = Counter(
            "trainyard_predict_requests",
            "Prediction requests by route and HTTP status.",
            ["route", *model, "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "trainyard_predict_request_seconds",
            "Sidecar time per successful prediction, body to response.",
            ["route", *model],
            buckets=_FAST,
            registry=r,
        )
        self.resolve_cache = Counter(
            "trainyard_resolve_cache", "Resolution cache lookups (result=hit|miss).", [*model, "result"], registry=r
        )
        self.disk_cache = Counter(
            "trainyard_disk_cache", "Disk tier lookups (result=hit|miss).", [*model, "result"], registry=r
        )
        self.memory_cache = Counter(
            "trainyard_memory_cache", "Inference memory tier lookups (result=hit|miss).", [*model, "result"], registry=r
        )
        self.download_seconds = Histogram(
            "trainyard_model_download_seconds", "Archive download time.", model, buckets=_SLOW, registry=r
        )
        self.extract_seconds = Histogram(
            "trainyard_model_extract_seconds", "Archive check + extraction time.", model, buckets=_SLOW, registry=r
        )
        self.load_seconds = Histogram(
            "trainyard_model_load_seconds", "Model load time in the inference server.", model, buckets=_SLOW, registry=r
        )
        self.inference_seconds = Histogram(
            "trainyard_inference_seconds",
            "Tokenize/decode + forward + softmax in the inference server.",
            model,
            buckets=_FAST,
            registry=r,
        )
        self.disk_bytes = Gauge("trainyard_disk_cache_bytes", "Bytes of extracted models on disk.", registry=r)
        self.disk_budget_bytes = Gauge("trainyard_disk_cache_budget_bytes", "Disk tier budget.", registry=r)

        self._series: dict[tuple[str, str, str], ModelSeries] = {}

    def model(self, route: str, tenant: str, model_id: str) -> ModelSeries:
        key = (route, tenant, model_id) if self.per_model else (route, "", "")
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._make(route, key[1:] if self.per_model else ())
        return series

    def refused(self, route: str, status: int) -> None:
        """Count a request answered with an error (no model series: the model may not exist)."""
        model = ("", "") if self.per_model else ()
        self.requests.labels(route, *model, str(status)).inc()

    def _make(self, route: str, model: tuple[str, ...]) -> ModelSeries:
        def tier(counter: Counter) -> Tier:
            return Tier(hit=counter.labels(*model, "hit"), miss=counter.labels(*model, "miss"))

        def per_model(histogram: Histogram) -> Histogram:
            return histogram.labels(*model) if model else histogram

        return ModelSeries(
            resolve=tier(self.resolve_cache), disk=tier(self.disk_cache), memory=tier(self.memory_cache),
            download_seconds=per_model(self.download_seconds), extract_seconds=per_model(self.extract_seconds),
            load_seconds=per_model(self.load_seconds), inference_seconds=per_model(self.inference_seconds),
            request_seconds=self.request_seconds.labels(route, *model),
            ok=self.requests.labels(route, *model, "200"),
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
