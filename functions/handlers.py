"""CloudEvent functions: decode the event, call the core, decide ack vs redelivery.

A non-2xx answer makes the broker redeliver: that is what TemporaryError and lost races
(Conflict) get. Permanent problems (an event for a job that moved on, a malformed
payload) are logged and acknowledged, or answered 400 so they go to the dead letters.
"""

from __future__ import annotations

import logging
import threading
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
from sdk.contracts import events as ev
from sdk.contracts.errors import (
    AlreadyProcessed,
    Forbidden,
    InvalidTransition,
    NotFound,
    PermanentError,
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


def _acknowledging(event: CloudEvent, work: Callable[[], object]) -> None:
    ids = {"event_id": event["id"], "event_type": event["type"], "subject": event.get("subject")}
    try:
        work()
    except (PermanentError, InvalidTransition, NotFound, AlreadyProcessed, Forbidden) as exc:
        # Forbidden: e.g. a requested task's datasets have no active grant; it is audited,
        # and redelivering the same event cannot change that.
        log.warning("event acknowledged without effect: %s", exc, extra=ids)
    except ValidationError as exc:
        raise HTTPException(400, detail=str(exc)) from exc


def create(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.TASK_REQUESTED)
    _authentic(deps, event)
    req = _payload(event, ev.TaskRequested)
    try:
        spec = TaskSpec.model_validate(req.task)
    except PydanticValidationError as exc:
        raise HTTPException(400, detail=f"invalid task: {exc.errors(include_url=False)}") from exc
    _acknowledging(event, lambda: tasks.create(deps, tenant=req.tenant, project_id=req.project_id, spec=spec,
                                               request_id=f"{event['source']}/{event['id']}"))


def launch(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.JOB_CREATED)
    _authentic(deps, event)
    created = _payload(event, ev.JobCreated)
    _acknowledging(event, lambda: launching.admit_pool(deps, deps.jobs.get_job(created.tenant, created.job_id).pool))


def report(deps: Deps, event: CloudEvent) -> None:
    kind = event["type"]
    if kind not in ev.TRAINER_EVENTS:
        raise HTTPException(400, detail=f"report does not handle {kind}")
    _authentic(deps, event)
    tenant = event.get(TENANT_EXTENSION)
    if not tenant or not event.get("subject"):
        raise HTTPException(400, detail=f"report events need subject and the {TENANT_EXTENSION} extension")
    payload = _payload(event, ev.PAYLOADS[EventType(kind)])
    _acknowledging(event, lambda: reporting.report(deps, tenant=tenant, job_id=event["subject"], event_type=kind,
                                                   event_id=event["id"], payload=payload))


def cleanup(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.JOB_FINISHED)
    _authentic(deps, event)
    finished = _payload(event, ev.JobFinished)
    _acknowledging(event, lambda: cleanup_core.cleanup(deps, tenant=finished.tenant, job_id=finished.job_id))


_SWEEPING = threading.Lock()  # one sweep at a time in this process, whoever pings


def sweep(deps: Deps, event: CloudEvent) -> None:
    _expect(event, EventType.PING)
    if not _SWEEPING.acquire(blocking=False):
        log.info("sweep skipped: the last one still runs", extra={"event_id": event["id"]})
        return
    try:
        result = sweeping.sweep(deps)
    finally:
        _SWEEPING.release()
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
