"""The trainer's reports (running, epoch, checkpoint, metadata, succeeded, failed).

Each report is applied as load -> pure transition -> conditional save, with the event id
written in the same atomic write, so a replayed report changes nothing. A version race
reloads and re-applies; a report that the lifecycle refuses (e.g. an epoch after the job
timed out) is a permanent error the edge acknowledges without redelivery.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from functions.core import audit, datasets, events, retention
from functions.core.deps import Deps
from functions.domain import lifecycle
from functions.domain.audit import Actor
from functions.domain.datasets import DatasetVersion
from functions.domain.model import Checkpoint, Epoch, Job, JobState, TaskSummary
from sdk.contracts import blob_keys
from sdk.contracts import events as ev
from sdk.contracts.errors import (
    AlreadyProcessed,
    Conflict,
    PermanentError,
    Problem,
    TemporaryError,
    TrainyardError,
    ValidationError,
)
from sdk.contracts.specs import FailureKind

log = logging.getLogger(__name__)
MAX_RACES = 5


OUTCOMES = frozenset({ev.EventType.JOB_SUCCEEDED, ev.EventType.JOB_FAILED})


def accept(deps: Deps, *, tenant: str, job_id: str, event_type: str) -> None:
    """The ingress is about to answer 2xx for a report of this job: record it, so the sweep
    never judges the job on older news than the trainer was given (see sweeping)."""
    deps.jobs.note_report(tenant, job_id, at=deps.clock.now(), outcome=event_type in OUTCOMES)


def report(deps: Deps, *, tenant: str, job_id: str, event_type: str, event_id: str, payload: BaseModel) -> Job | None:
    """Apply one report. Returns the saved job, or None for a replayed event."""
    for _ in range(MAX_RACES):
        job = deps.jobs.get_job(tenant, job_id)
        try:
            return _apply_once(deps, job, event_type=event_type, event_id=event_id, payload=payload)
        except AlreadyProcessed:
            log.info("replayed report ignored", extra={"job_id": job_id, "event_id": event_id})
            return None
        except Conflict:
            continue  # someone saved the job meanwhile: reload and re-apply
    raise Conflict(f"job {job_id}: too many concurrent updates")


def _apply_once(deps: Deps, job: Job, *, event_type: str, event_id: str, payload: BaseModel) -> Job:
    now = deps.clock.now()
    if job.state is JobState.LAUNCHING and not isinstance(payload, _BEFORE_RUNNING):
        # Brokers may reorder: this report overtook the job's 'running'. Redeliver later.
        raise TemporaryError(f"job {job.job_id} has not reported running yet", delay_s=1.0)
    epoch: Epoch | None = None
    checkpoint: Checkpoint | None = None
    summary: TaskSummary | None = None
    validated: DatasetVersion | None = None
    try:
        if isinstance(payload, ev.JobRunning):
            new = lifecycle.mark_running(job, now)
            if payload.sdk_version:  # the trainer's word, kept as data beside its other metadata
                new = new.model_copy(update={"metadata": {**new.metadata, "sdk_version": payload.sdk_version}})
        elif isinstance(payload, ev.EpochReport):
            new = lifecycle.record_epoch(job, payload.epoch, now)
            epoch = Epoch(
                job_id=job.job_id,
                tenant=job.tenant,
                epoch=payload.epoch,
                metrics=dict(payload.metrics),
                reported_at=now,
            )
            summary = _summary_of(deps, job).with_epoch(epoch)
        elif isinstance(payload, ev.CheckpointReport):
            _require_own_artifact(job, payload.key)
            new = lifecycle.record_checkpoint(job)
            checkpoint = Checkpoint(
                job_id=job.job_id,
                tenant=job.tenant,
                epoch=payload.epoch,
                key=payload.key,
                metrics=dict(payload.metrics),
                size_bytes=payload.size_bytes,
                sha256=payload.sha256,
                reported_at=now,
            )
        elif isinstance(payload, ev.MetadataReport):
            new = lifecycle.record_metadata(job, _metadata_values(payload))
        elif isinstance(payload, ev.JobSucceeded):
            new = lifecycle.succeed(job, now, dict(payload.metrics))
            validated = _validation(deps, job, payload)
        elif isinstance(payload, ev.JobFailed):
            _keep_reported_logs(deps, job, payload.logs)
            new = lifecycle.fail(job, now, reason=payload.reason, kind=FailureKind.TRAINER)
        else:
            raise PermanentError(f"event type {event_type} is not a report")
    except TrainyardError as exc:
        if isinstance(exc, (ValidationError, PermanentError)):
            raise
        raise PermanentError(str(exc)) from exc
    trainer = Actor(sub=f"job:{job.job_id}", tenant=job.tenant, request_id=event_id)
    # The replay key is the job's own: an event id chosen by one trainer cannot pre-empt another's.
    saved = deps.jobs.save_job(
        new,
        expected_version=job.version,
        dedup=report_dedup(job, event_id),
        epoch=epoch,
        checkpoint=checkpoint,
        summary=summary,
        audit=audit.job_change(deps, job, new, actor=trainer),
    )
    if validated is not None:
        datasets.audit_validation(deps, saved, validated)
    if saved.state.is_terminal:
        events.job_finished(deps, saved)
    elif checkpoint is not None:
        _apply_retention(deps, saved)
    return saved


def _validation(deps: Deps, job: Job, payload: ev.JobSucceeded) -> DatasetVersion | None:
    """A validation task's report, kept with the dataset version the task checked before the
    job's success is saved (so a success is never without its report; keeping it again on a
    re-applied report only re-states it). A validation job must send one."""
    task = deps.tasks.get_task(job.tenant, job.task_id)
    if payload.report is None:
        if task.spec.kind == "validation":
            raise ValidationError([Problem("data.report", "a validation task succeeds with its report")])
        return None
    return datasets.record_validation(deps, job=job, task=task, report=payload.report)


def report_dedup(job: Job, event_id: str) -> str:
    """The replay key of a report: scoped to its tenant and job, never global."""
    return f"report#{job.tenant}#{job.job_id}#{event_id}"


def _summary_of(deps: Deps, job: Job) -> TaskSummary:
    """The task's comparison row as this attempt left it (the job's version lock orders the
    read-modify-write: a concurrent report of the job makes this save a Conflict, re-applied)."""
    found = deps.jobs.task_summaries(job.tenant, [job.task_id]).get(job.task_id)
    return found if found is not None and found.job_id == job.job_id else TaskSummary.of(job)


def _apply_retention(deps: Deps, job: Job) -> None:
    # The report is saved; a failure to prune now is finished at cleanup, never a failed report.
    try:
        retention.apply(deps, tenant=job.tenant, job_id=job.job_id)
    except TrainyardError:
        log.warning("checkpoint retention deferred to cleanup", extra={"job_id": job.job_id}, exc_info=True)


_BEFORE_RUNNING = (ev.JobRunning, ev.MetadataReport, ev.JobFailed)


def _metadata_values(payload: ev.MetadataReport) -> dict[str, str | float | int | bool]:
    values: dict[str, str | float | int | bool] = dict(payload.extra)
    if payload.learning_rate is not None:
        values["learning_rate"] = payload.learning_rate
    if payload.total_epochs is not None:
        values["total_epochs"] = payload.total_epochs
    return values


def artifact_prefix(job: Job) -> str:
    return blob_keys.artifact_prefix(job.tenant, job.project_id, job.job_id)


def _require_own_artifact(job: Job, key: str) -> None:
    # A trainer may only point at what it uploaded itself, never at another job's files.
    if not key.startswith(artifact_prefix(job)) or ".." in key:
        raise ValidationError([Problem("data.key", f"checkpoint key must lie under {artifact_prefix(job)}")])


def _keep_reported_logs(deps: Deps, job: Job, logs: str) -> None:
    if logs:
        deps.logs.put(blob_keys.reported_log(job.tenant, job.job_id), logs.encode(), content_type="text/plain")
