"""POST /v1/events: the CloudEvents ingress (binary or structured mode).

Trainers post their reports here with their job token; the ingress authenticates,
checks the event acts for that very job, validates the payload, and forwards it to
the broker with the tenant attached. Nothing is stored when any check fails.
"""

from __future__ import annotations

from typing import Any

from cloudevents.http import from_http
from fastapi import APIRouter, Request
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from functions.api.auth import Caller, DepsDep
from functions.api.schemas import EventAccepted
from functions.core import reporting
from functions.core.deps import Deps
from functions.ports import OutEvent
from sdk.auth.tokens import Claims
from sdk.contracts import events as ev
from sdk.contracts import tracing
from sdk.contracts.errors import Conflict, Forbidden, NotFound, Problem, ValidationError
from sdk.contracts.events import TENANT_EXTENSION, EventType
from sdk.contracts.specs import TaskSpec

router = APIRouter(prefix="/v1", tags=["events"])
MAX_EVENT_BYTES = 256 * 1024


@router.post("/events", status_code=202)
async def ingest(request: Request, caller: Caller, deps: DepsDep) -> EventAccepted:
    raw = await request.body()
    if len(raw) > MAX_EVENT_BYTES:
        raise ValidationError([Problem("body", f"event larger than {MAX_EVENT_BYTES} bytes")])
    try:
        event = from_http(dict(request.headers), raw)
    except Exception as exc:  # the SDK raises many unrelated types for malformed input
        raise ValidationError([Problem("cloudevent", f"not a valid CloudEvent: {exc}")]) from exc
    out = _checked(event, caller)
    if caller.is_job:
        await run_in_threadpool(_require_live_job, deps, caller)
    elif out.type == EventType.TASK_REQUESTED:  # the caller hears of a missing project now, not a dead letter
        await run_in_threadpool(deps.projects.get_project, caller.tenant, str(out.data["project_id"]))
    await _publish(deps, out)
    if caller.is_job:  # after the broker took it, before the 2xx: an accepted report is on record
        assert caller.job is not None
        await run_in_threadpool(reporting.accept, deps, tenant=caller.tenant, job_id=caller.job, event_type=out.type)
    return EventAccepted(id=out.id, type=out.type, accepted=True)


def _checked(event: Any, caller: Claims) -> OutEvent:
    kind = event["type"]
    data = event.get_data()
    if caller.is_job:
        if kind not in ev.TRAINER_EVENTS:
            raise ValidationError([Problem("type", f"a trainer may post {sorted(ev.TRAINER_EVENTS)}, not {kind!r}")])
        if event.get("subject") != caller.job:
            raise Forbidden("the event's subject must be the job id of the token")
    elif kind == EventType.TASK_REQUESTED:
        if isinstance(data, dict) and data.get("tenant", caller.tenant) != caller.tenant:
            raise NotFound("tenant", str(data.get("tenant")))
        data = {**data, "tenant": caller.tenant} if isinstance(data, dict) else data
    else:
        raise Forbidden(f"users may post {EventType.TASK_REQUESTED}, not {kind!r}")
    model = ev.PAYLOADS[EventType(kind)]
    try:
        payload = model.model_validate(data if data is not None else {})
    except PydanticValidationError as exc:
        raise ValidationError(
            [Problem("data." + ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc
    if isinstance(payload, ev.TaskRequested):
        _valid_task(payload.task)
    return OutEvent(
        type=kind,
        source=event["source"],
        subject=event.get("subject") or "",
        data=payload.model_dump(mode="json"),
        id=event["id"],
        extensions={
            TENANT_EXTENSION: caller.tenant,
            # the trainer's trace continues (an invalid value starts a new one)
            tracing.EXTENSION: tracing.child(event.get(tracing.EXTENSION)),
        },
    )


def _valid_task(task: dict[str, object]) -> None:
    """The task spec the create function will build: its problems are the caller's 400."""
    try:
        TaskSpec.model_validate(task)
    except PydanticValidationError as exc:
        raise ValidationError(
            [Problem("data.task." + ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc


def _require_live_job(deps: Deps, caller: Claims) -> None:
    assert caller.job is not None
    job = deps.jobs.get_job(caller.tenant, caller.job)
    if job.state.is_terminal:
        raise Conflict(f"job {job.job_id} is {job.state.value}; it accepts no more reports")


async def _publish(deps: Deps, out: OutEvent) -> None:
    await run_in_threadpool(deps.events.publish, out)
