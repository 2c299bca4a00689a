"""GET /metrics of every function: what it handled, by outcome; the sweep's duration and items."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cloudevents.http import CloudEvent
from starlette.exceptions import HTTPException

from functions import handlers, metrics
from functions.metrics import WithMetrics


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def event(kind: str, data: dict[str, Any] | None = None) -> CloudEvent:
    return CloudEvent({"type": kind, "source": "test", "id": "e-1"}, data or {})


def test_a_rejected_event_counts_as_rejected() -> None:
    before = value("trainyard_events_handled_total", function="launch", type="other", outcome="rejected")
    with pytest.raises(HTTPException):
        handlers.HANDLERS["launch"](None, event("made.up.type"))  # type: ignore[arg-type]  # never reaches deps
    assert value("trainyard_events_handled_total", function="launch", type="other", outcome="rejected") == before + 1


def test_a_dead_letter_counts_as_ok_without_dependencies() -> None:
    before = value(
        "trainyard_events_handled_total", function="dead_letter", type="io.trainyard.job.epoch", outcome="ok"
    )
    handlers.DEAD_LETTER(None, event("io.trainyard.job.epoch", {"epoch": 1}))
    assert (
        value("trainyard_events_handled_total", function="dead_letter", type="io.trainyard.job.epoch", outcome="ok")
        == before + 1
    )


def test_metrics_are_served_in_front_of_the_app_and_everything_else_passes_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    wrapped = WithMetrics(app)
    asyncio.run(wrapped({"type": "http", "path": "/metrics", "method": "GET"}, receive, send))
    asyncio.run(wrapped({"type": "http", "path": "/v1/projects", "method": "GET"}, receive, send))
    assert seen == ["/v1/projects"]
    assert sent[0]["status"] == 200 and b"trainyard_events_handled_total" in sent[1]["body"]


def test_the_sweep_reports_its_duration_items_and_the_queue_per_pool_and_tenant() -> None:
    from tests.support.harness import harness

    h = harness(slots=1, tenant_cap=1)
    p, other = h.project(), h.project(tenant="other")
    for project in (p, p, p, other):
        h.task(project)
    sweeps = value("trainyard_sweep_seconds_count")
    launched = value("trainyard_sweep_items_total", what="launched")
    handlers.HANDLERS["sweep"](h.deps, event("dev.knative.sources.ping"))
    assert value("trainyard_sweep_seconds_count") == sweeps + 1
    assert value("trainyard_sweep_items_total", what="launched") == launched + 1  # one slot
    queued = {t: value("trainyard_queue_depth", pool="default", tenant=t) for t in ("acme", "other")}
    assert sum(queued.values()) == 3 and queued["acme"] >= 2
