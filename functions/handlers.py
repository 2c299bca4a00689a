"""CloudEvent functions: decode the event, call the core, decide ack vs redelivery.

A non-2xx answer makes the broker redeliver: that is what TemporaryError and lost races
(Conflict) get. Permanent problems (an event for a job that moved on, a malformed
payload) are logged and acknowledged, or answered 400 so they go to the dead letters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cloudevents.http import CloudEvent
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException

from functions import eventauth
from functions.core import cleanup as cleanup_core
from functions.core import launching, reporting, sweeping, tasks
from functions.core.deps import Deps
from functions.routing import REDELIVER, retry_after
from sdk.contracts import events as ev
from sdk.contracts.errors import TrainyardError, ValidationError
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
    settle(event, lambda: tasks.create(deps, tenant=req.tenant, project_id=req.project_id, spec=spec,
                                               request_id=f"{event['source']}/{event['id']}"))


def launch(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.JOB_CREATED)
    _authentic(deps, event)
    created = _payload(event, ev.JobCreated)
    settle(event, lambda: launching.admit_pool(deps, deps.jobs.get_job(created.tenant, created.job_id).pool))


def report(deps: Deps, event: CloudEvent) -> None:
    kind = event["type"]
    if kind not in ev.TRAINER_EVENTS:
        raise HTTPException(400, detail=f"report does not handle {kind}")
    _authentic(deps, event)
    tenant = event.get(TENANT_EXTENSION)
    if not tenant or not event.get("subject"):
        raise HTTPException(400, detail=f"report events need subject and the {TENANT_EXTENSION} extension")
    payload = _payload(event, ev.PAYLOADS[EventType(kind)])
    settle(event, lambda: reporting.report(deps, tenant=tenant, job_id=event["subject"], event_type=kind,
                                                   event_id=event["id"], payload=payload))


def cleanup(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.JOB_FINISHED)
    _authentic(deps, event)
    finished = _payload(event, ev.JobFinished)
    settle(event, lambda: cleanup_core.cleanup(deps, tenant=finished.tenant, job_id=finished.job_id))


def sweep(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.PING)
    result = sweeping.sweep(deps)
    if any(vars(result).values()):
        log.info("sweep", extra={"event_id": event["id"], **vars(result)})


def dead_letter(_: Deps, event: CloudEvent) -> None:
    attrs = {k: v for k, v in event.get_attributes().items() if k != "data"}
    log.error("dead letter: event could not be delivered", extra={"event_id": event["id"], "attributes": attrs,
                                                                 "data": event.get_data()})


def _expect(event: CloudEvent, kind: EventType) -> None:
    if event["type"] != kind:
        raise HTTPException(400, detail=f"expected {kind}, got {event['type']}")


HANDLERS: dict[str, Callable[[Deps, CloudEvent], None]] = {
    "create": create, "launch": launch, "report": report, "cleanup": cleanup, "sweep": sweep,
    "dead_letter": dead_letter,
}
