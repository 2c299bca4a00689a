"""POST /v1/events: the CloudEvents ingress (binary, structured or batched mode).

Trainers post their reports here with their job token; the ingress authenticates,
checks the event acts for that very job, validates the payload, and forwards it to
the broker with the tenant attached. Nothing is stored when any check fails.

Batched mode (`Content-Type: application/cloudevents-batch+json`, a JSON array of
structured-mode events, trainers only): up to MAX_BATCH_EVENTS reports of the caller's own
job, every one validated before any is forwarded (a bad one is a 400 naming its index and
field; another job's subject refuses the whole batch), then forwarded as ONE
io.trainyard.job.reports event that the report function applies in order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cloudevents.http import from_dict, from_http
from fastapi import APIRouter, Request
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from functions.api.auth import Caller, DepsDep
from functions.api.schemas import EventAccepted
from functions.core import reporting
from functions.core.deps import Deps
from functions.domain.model import Job
from functions.ports import OutEvent
from sdk.auth.tokens import Claims
from sdk.contracts import events as ev
from sdk.contracts import tracing
from sdk.contracts.errors import Conflict, Forbidden, NotFound, Problem, TooLarge, ValidationError
from sdk.contracts.events import TENANT_EXTENSION, EventType
from sdk.contracts.specs import TaskSpec

router = APIRouter(prefix="/v1", tags=["events"])
MAX_EVENT_BYTES = 256 * 1024


@router.post("/events", status_code=202)
async def ingest(request: Request, caller: Caller, deps: DepsDep) -> EventAccepted:
    if _media_type(request) == ev.BATCH_CONTENT_TYPE:
        return await _ingest_batch(request, caller, deps)
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


def _require_live_job(deps: Deps, caller: Claims) -> Job:
    assert caller.job is not None
    job = deps.jobs.get_job(caller.tenant, caller.job)
    if job.state.is_terminal:
        raise Conflict(f"job {job.job_id} is {job.state.value}; it accepts no more reports")
    return job


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _ingest_batch(request: Request, caller: Claims, deps: Deps) -> EventAccepted:
    if not caller.is_job or caller.job is None:
        raise Forbidden("only a trainer (a job token) may post a batch of reports")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > ev.MAX_BATCH_BYTES:
        raise TooLarge([Problem("body", f"a batch larger than {ev.MAX_BATCH_BYTES} bytes")])
    raw = await request.body()
    if len(raw) > ev.MAX_BATCH_BYTES:
        raise TooLarge([Problem("body", f"a batch larger than {ev.MAX_BATCH_BYTES} bytes")])
    outs = _checked_batch(_batch_items(raw), caller)
    job = await run_in_threadpool(_require_live_job, deps, caller)
    _own_checkpoints(job, outs)
    batch = OutEvent(
        type=EventType.JOB_REPORTS,
        source=outs[0].source,
        subject=caller.job,
        # the same reports sent again (the SDK's retry of a lost answer) are the same batch
        id="batch-" + hashlib.sha256("\n".join(o.id or "" for o in outs).encode()).hexdigest()[:32],
        data=ev.JobReports(
            events=[ev.BatchedReport(type=EventType(o.type), id=o.id or "", data=o.data) for o in outs]
        ).model_dump(mode="json"),
        extensions=outs[-1].extensions,
    )
    await _publish(deps, batch)
    outcome = next((o.type for o in outs if o.type in reporting.OUTCOMES), outs[-1].type)
    await run_in_threadpool(reporting.accept, deps, tenant=caller.tenant, job_id=caller.job, event_type=outcome)
    return EventAccepted(id=batch.id or "", type=batch.type, accepted=True, count=len(outs))


def _batch_items(raw: bytes) -> list[Any]:
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ValidationError([Problem("body", f"not JSON: {exc}")]) from exc
    if not isinstance(items, list) or not items:
        raise ValidationError([Problem("body", "a batch is a JSON array of 1 or more CloudEvents")])
    if len(items) > ev.MAX_BATCH_EVENTS:
        raise TooLarge([Problem("body", f"{len(items)} events in one batch; at most {ev.MAX_BATCH_EVENTS}")])
    return items


def _checked_batch(items: list[Any], caller: Claims) -> list[OutEvent]:
    """Every event of the batch checked as a single one is (another job's subject refuses the
    whole batch); every problem collected, each under `events[i]`, before anything is sent."""
    outs: list[OutEvent] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"events[{index}]"
        try:
            if not isinstance(item, dict):
                raise ValidationError([Problem("event", "not a JSON object")])
            if not isinstance(item.get("id"), str) or not item["id"]:
                raise ValidationError([Problem("id", "required: the platform dedupes on it")])
            if "data_base64" in item:
                raise ValidationError([Problem("data_base64", "reports carry JSON data")])
            if item["id"] in seen:
                raise ValidationError([Problem("id", f"{item['id']!r} appears twice in the batch")])
            seen.add(item["id"])
            try:
                event = from_dict(item)
            except Exception as exc:  # the SDK raises many unrelated types for malformed input
                raise ValidationError([Problem("cloudevent", f"not a valid CloudEvent: {exc}")]) from exc
            outs.append(_checked(event, caller))
        except ValidationError as exc:
            problems += [Problem(f"{where}.{p.field}", p.message) for p in exc.problems]
    if problems:
        raise ValidationError(problems)
    return outs


def _own_checkpoints(job: Job, outs: list[OutEvent]) -> None:
    """A checkpoint pointing outside the job's own artifacts is the caller's 400, before any
    report of the batch is sent (the report function would refuse it mid-batch)."""
    problems: list[Problem] = []
    for index, out in enumerate(outs):
        if out.type == EventType.JOB_CHECKPOINT:
            try:
                reporting.require_own_artifact(job, str(out.data.get("key", "")))
            except ValidationError as exc:
                problems += [Problem(f"events[{index}].{p.field}", p.message) for p in exc.problems]
    if problems:
        raise ValidationError(problems)


async def _publish(deps: Deps, out: OutEvent) -> None:
    await run_in_threadpool(deps.events.publish, out)
