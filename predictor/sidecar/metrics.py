"""Prometheus metrics of the prediction path, per tenant and per model, on both tiers.

The inference server reports its memory-tier hit/miss, load and forward times to the
sidecar in trailing metadata, so one /metrics endpoint covers both containers. Each
instance owns its registry (nothing global), so tests and several apps do not collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_SLOW = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_MODEL = ("tenant", "model")


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
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter("trainyard_predict_requests", "Prediction requests by route and HTTP status.",
                                ["route", "tenant", "model", "status"], registry=r)
        self.request_seconds = Histogram("trainyard_predict_request_seconds",
                                         "Sidecar time per successful prediction, body to response.",
                                         ["route", *_MODEL], buckets=_FAST, registry=r)
        self.resolve_cache = Counter("trainyard_resolve_cache", "Resolution cache lookups (result=hit|miss).",
                                     [*_MODEL, "result"], registry=r)
        self.disk_cache = Counter("trainyard_disk_cache", "Disk tier lookups (result=hit|miss).",
                                  [*_MODEL, "result"], registry=r)
        self.memory_cache = Counter("trainyard_memory_cache", "Inference memory tier lookups (result=hit|miss).",
                                    [*_MODEL, "result"], registry=r)
        self.download_seconds = Histogram("trainyard_model_download_seconds", "Archive download time.",
                                          _MODEL, buckets=_SLOW, registry=r)
        self.extract_seconds = Histogram("trainyard_model_extract_seconds", "Archive check + extraction time.",
                                         _MODEL, buckets=_SLOW, registry=r)
        self.load_seconds = Histogram("trainyard_model_load_seconds", "Model load time in the inference server.",
                                      _MODEL, buckets=_SLOW, registry=r)
        self.inference_seconds = Histogram("trainyard_inference_seconds",
                                           "Tokenize/decode + forward + softmax in the inference server.",
                                           _MODEL, buckets=_FAST, registry=r)
        self.disk_bytes = Gauge("trainyard_disk_cache_bytes", "Bytes of extracted models on disk.", registry=r)
        self.disk_budget_bytes = Gauge("trainyard_disk_cache_budget_bytes", "Disk tier budget.", registry=r)

        self._series: dict[tuple[str, str, str], ModelSeries] = {}

    def model(self, route: str, tenant: str, model_id: str) -> ModelSeries:
        key = (route, tenant, model_id)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._make(route, tenant, model_id)
        return series

    def _make(self, route: str, tenant: str, model_id: str) -> ModelSeries:
        def tier(counter: Counter) -> Tier:
            return Tier(hit=counter.labels(tenant, model_id, "hit"), miss=counter.labels(tenant, model_id, "miss"))

        return ModelSeries(
            resolve=tier(self.resolve_cache), disk=tier(self.disk_cache), memory=tier(self.memory_cache),
            download_seconds=self.download_seconds.labels(tenant, model_id),
            extract_seconds=self.extract_seconds.labels(tenant, model_id),
            load_seconds=self.load_seconds.labels(tenant, model_id),
            inference_seconds=self.inference_seconds.labels(tenant, model_id),
            request_seconds=self.request_seconds.labels(route, tenant, model_id),
            ok=self.requests.labels(route, tenant, model_id, "200"),
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
