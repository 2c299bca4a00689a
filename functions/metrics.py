"""Prometheus metrics of the platform's functions, served at GET /metrics by every function
Service (functions.serve wraps each app) and scraped through the pod annotations.

Recorded at the edges, where an event is decoded and answered: what each function handled and
how it ended, how long the sweep took and what it did, how long admission (launch) took.
Labels are bounded sets (function, event type, outcome, sweep item kind, pool, tenant): never ids.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter(
    "trainyard_events_handled_total",
    "CloudEvents handled, by function, type and outcome "
    "(ok, including events acknowledged without effect; rejected = 4xx; retry = 5xx so the broker "
    "redelivers)",
    ["function", "type", "outcome"],
    registry=REGISTRY,
)
ADMISSION = Histogram(
    "trainyard_admission_seconds",
    "time the launch function took to admit a pool's queue",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
SWEEP = Histogram(
    "trainyard_sweep_seconds",
    "duration of one sweep",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
SWEEP_ITEMS = Counter(
    "trainyard_sweep_items_total",
    "jobs and grants the sweep acted on, by what it did "
    "(timed_out, failed, orphans_deleted, launched, logs_shipped, ...)",
    ["what"],
    registry=REGISTRY,
)


QUEUE_DEPTH = Gauge(
    "trainyard_queue_depth",
    "queued jobs per pool and tenant, as the last sweep counted them (from the per-tenant queued counters)",
    ["pool", "tenant"],
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class WithMetrics:
    """An ASGI app answering GET /metrics itself and passing everything else to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") == "/metrics" and scope.get("method") == "GET":
            body, content_type = exposition()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type.encode())]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
