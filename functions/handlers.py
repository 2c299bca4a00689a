"""CloudEvent functions: decode the event, call the core, decide ack vs redelivery.

A non-2xx answer makes the broker redeliver: that is what TemporaryError and lost races
(Conflict) get. Permanent problems (an event for a job that moved on, a malformed
payload) are logged and acknowledged, or answered 400 so they go to the dead letters.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from cloudevents.http import CloudEvent
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException

from functions import eventauth, metrics
from functions.core import cleanup as cleanup_core
from functions.core import launching, reporting, sweeping, tasks
from functions.core.deps import Deps
from functions.routing import REDELIVER, retry_after
from sdk.contracts import events as ev
from sdk.contracts import tracing
from sdk.contracts.errors import (
    TrainyardError,
    ValidationError,
)
from sdk.contracts.events import TENANT_EXTENSION, EventType
from sdk.contracts.specs import TaskSpec

log = logging.getLogger("trainyard.functions")


def _authentic(deps: Deps, event: CloudEvent) -> None:
    """Trust the tenant an event names only if the platform signed it (when it has a key)."""
    key = deps.config.event_key
    if key is None:
        return
    if not eventauth.verify(key, event.get_attributes(), event.get_data()):
        log.warning("unsigned or forged event refused", extra={"event_id": event["id"], "event_type": event["type"]})
        raise HTTPException(401, detail="the event carries no valid platform signature")


def _payload(event: CloudEvent, model: type[BaseModel]) -> Any:
    data = event.get_data()
    try:
        return model.model_validate(data if data is not None else {})
    except PydanticValidationError as exc:
        raise HTTPException(400, detail=f"invalid data for {event['type']}: {exc.errors(include_url=False)}") from exc


def settle(event: CloudEvent, work: Callable[[], object]) -> None:
    """Run `work` and settle the event from what it raised: the one place that decides ack vs
    redelivery. Retryable errors (TemporaryError, a lost race) answer 503 with Retry-After =
    the error's delay_s, so the broker redelivers; other TrainyardErrors are acknowledged (e.g.
    Forbidden: a requested task's datasets have no active grant; it is audited, and
    redelivering the same event cannot change that); a ValidationError is refused (400, to the
    dead letters). Anything else is a bug: it propagates (500) and the broker redelivers."""
    ids = {"event_id": event["id"], "event_type": event["type"], "subject": event.get("subject")}
    try:
        work()
    except ValidationError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    except TrainyardError as exc:
        if not exc.retryable:
            log.warning("event acknowledged without effect: %s", exc, extra=ids)
            return
        delay = max(exc.delay_s, 0.0)
        log.info("event to be redelivered: %s", exc, extra={**ids, "delay_s": delay})
        raise HTTPException(REDELIVER, detail=str(exc), headers={"Retry-After": retry_after(delay)}) from exc


def create(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.TASK_REQUESTED)
    _authentic(deps, event)
    req = _payload(event, ev.TaskRequested)
    try:
        spec = TaskSpec.model_validate(req.task)
    except PydanticValidationError as exc:
        raise HTTPException(400, detail=f"invalid task: {exc.errors(include_url=False)}") from exc
    settle(
        event,
        lambda: tasks.create(
            deps, tenant=req.tenant, project_id=req.project_id, spec=spec, request_id=f"{event['source']}/{event['id']}"
        ),
    )


def launch(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.JOB_CREATED)
    _authentic(deps, event)
    created = _payload(event, ev.JobCreated)
    with metrics.ADMISSION.time():
        settle(event, lambda: launching.admit_pool(deps, deps.jobs.get_job(created.tenant, created.job_id).pool))


def report(deps: Deps, event: CloudEvent) -> None:
    kind = event["type"]
    if kind not in ev.TRAINER_EVENTS and kind != EventType.JOB_REPORTS:
        raise HTTPException(400, detail=f"report does not handle {kind}")
    _authentic(deps, event)
    tenant = event.get(TENANT_EXTENSION)
    if not tenant or not event.get("subject"):
        raise HTTPException(400, detail=f"report events need subject and the {TENANT_EXTENSION} extension")
    payload = _payload(event, ev.PAYLOADS[EventType(kind)])
    if isinstance(payload, ev.JobReports):
        batch = payload
        settle(
            event,
            lambda: reporting.report_batch(
                deps, tenant=tenant, job_id=event["subject"], batch_id=event["id"], reports=batch.events
            ),
        )
        return
    settle(
        event,
        lambda: reporting.report(
            deps, tenant=tenant, job_id=event["subject"], event_type=kind, event_id=event["id"], payload=payload
        ),
    )


def cleanup(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.JOB_FINISHED)
    _authentic(deps, event)
    finished = _payload(event, ev.JobFinished)
    settle(event, lambda: cleanup_core.cleanup(deps, tenant=finished.tenant, job_id=finished.job_id))


_SWEEPING = threading.Lock()  # one sweep at a time in this process, whoever pings


def sweep(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.PING)
    if not _SWEEPING.acquire(blocking=False):
        log.info("sweep skipped: the last one still runs", extra={"event_id": event["id"]})
        return
    try:
        with metrics.SWEEP.time():
            result = sweeping.sweep(deps)
    finally:
        _SWEEPING.release()
    for what, items in vars(result).items():
        metrics.SWEEP_ITEMS.labels(what).inc(items if isinstance(items, int) else len(items))
    _count_queues(deps)
    if result.changed():
        log.info("sweep", extra={"event_id": event["id"], **vars(result)})


def _count_queues(deps: Deps) -> None:
    depth: Counter[tuple[str, str]] = Counter()
    for pool in sorted(deps.config.pools):  # one query per pool: the per-tenant queued counters
        for tenant, share in deps.jobs.pool_tenants(pool).items():
            if share.queued:
                depth[(pool, tenant)] = share.queued
    metrics.QUEUE_DEPTH.clear()  # tenants whose queue emptied drop out
    for (pool, tenant), count in depth.items():
        metrics.QUEUE_DEPTH.labels(pool, tenant).set(count)


def dead_letter(_: object, event: CloudEvent) -> None:
    record_dead_letter(event)


def record_dead_letter(event: CloudEvent) -> None:
    attrs = {k: v for k, v in event.get_attributes().items() if k != "data"}
    log.error(
        "dead letter: event could not be delivered",
        extra={"event_id": event["id"], "attributes": attrs, "data": event.get_data()},
    )


def _expect(event: CloudEvent, kind: EventType) -> None:
    if event["type"] != kind:
        raise HTTPException(400, detail=f"expected {kind}, got {event['type']}")


_KNOWN_TYPES = frozenset(EventType)
D = TypeVar("D")


def _counted(function: str, handler: Callable[[D, CloudEvent], None]) -> Callable[[D, CloudEvent], None]:
    """`handler`, counting every event it handles by outcome (trainyard_events_handled_total)."""

    def run(deps: D, event: CloudEvent) -> None:
        kind = event["type"] if event["type"] in _KNOWN_TYPES else "other"  # bounded label values
        outcome = "retry"
        try:
            with tracing.continuing(event.get(tracing.EXTENSION)):  # what it publishes continues the trace
                handler(deps, event)
            outcome = "ok"
        except HTTPException as exc:
            outcome = "rejected" if exc.status_code < 500 else "retry"
            raise
        finally:
            metrics.EVENTS.labels(function, kind, outcome).inc()

    return run


# The dead-letter sink needs no dependencies: its Service has no settings, secret or AWS role.
DEAD_LETTER: Callable[[object, CloudEvent], None] = _counted("dead_letter", dead_letter)
HANDLERS: dict[str, Callable[[Deps, CloudEvent], None]] = {
    **{
        name: _counted(name, handler)
        for name, handler in {
            "create": create,
            "launch": launch,
            "report": report,
            "cleanup": cleanup,
            "sweep": sweep,
        }.items()
    },
    "dead_letter": DEAD_LETTER,
}
