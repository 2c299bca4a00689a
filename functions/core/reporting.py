"""The trainer's reports (running, epoch, checkpoint, metadata, succeeded, failed).

Each report is applied as load -> pure transition -> conditional save, with the event id
written in the same atomic write, so a replayed report changes nothing. A version race
reloads and re-applies; a report that the lifecycle refuses (e.g. an epoch after the job
timed out) is a permanent error the edge acknowledges without redelivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

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
    _require_running_first(job, payload)
    step = _step(deps, job, payload, deps.clock.now(), event_type=event_type)
    summary = _summary_of(deps, job).with_epoch(step.epoch) if step.epoch is not None else None
    return _save(
        deps, job, step.job, dedup=report_dedup(job, event_id), request_id=event_id, steps=[step], summary=summary
    )


@dataclass(frozen=True)
class _Step:
    """One report applied in memory: the job after it, and the record it adds."""

    job: Job
    epoch: Epoch | None = None
    checkpoint: Checkpoint | None = None
    validated: DatasetVersion | None = None  # a validation task's report, kept with its dataset version


def _require_running_first(job: Job, payload: BaseModel) -> None:
    if job.state is JobState.LAUNCHING and not isinstance(payload, _BEFORE_RUNNING):
        # Brokers may reorder: this report overtook the job's 'running'. Redeliver later.
        raise TemporaryError(f"job {job.job_id} has not reported running yet", delay_s=1.0)


def _step(deps: Deps, job: Job, payload: BaseModel, now: datetime, *, event_type: str) -> _Step:
    """The pure transition of one report (a refusal is permanent: the job moved on)."""
    try:
        if isinstance(payload, ev.JobRunning):
            running = lifecycle.mark_running(job, now)
            if payload.sdk_version:  # the trainer's word, kept as data beside its other metadata
                metadata = {**running.metadata, "sdk_version": payload.sdk_version}
                running = running.model_copy(update={"metadata": metadata})
            return _Step(running)
        if isinstance(payload, ev.EpochReport):
            metrics = dict(payload.metrics)
            epoch = Epoch(job_id=job.job_id, tenant=job.tenant, epoch=payload.epoch, metrics=metrics, reported_at=now)
            return _Step(lifecycle.record_epoch(job, payload.epoch, now), epoch=epoch)
        if isinstance(payload, ev.CheckpointReport):
            require_own_artifact(job, payload.key)
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
            return _Step(lifecycle.record_checkpoint(job), checkpoint=checkpoint)
        if isinstance(payload, ev.MetadataReport):
            return _Step(lifecycle.record_metadata(job, _metadata_values(payload)))
        if isinstance(payload, ev.JobSucceeded):
            succeeded = lifecycle.succeed(job, now, dict(payload.metrics))
            return _Step(succeeded, validated=_validation(deps, job, payload))
        if isinstance(payload, ev.JobFailed):
            _keep_reported_logs(deps, job, payload.logs)
            return _Step(lifecycle.fail(job, now, reason=payload.reason, kind=FailureKind.TRAINER))
        raise PermanentError(f"event type {event_type} is not a report")
    except TrainyardError as exc:
        if isinstance(exc, (ValidationError, PermanentError)):
            raise
        raise PermanentError(str(exc)) from exc


def _save(
    deps: Deps,
    before: Job,
    after: Job,
    *,
    dedup: str,
    request_id: str,
    steps: list[_Step],
    summary: TaskSummary | None,
) -> Job:
    """One atomic write of what `steps` did to `before` (their records, the summary, the
    replay key, the audit of a state change); then the follow-ups of what was saved."""
    trainer = Actor(sub=f"job:{before.job_id}", tenant=before.tenant, request_id=request_id)
    # The replay key is the job's own: an event id chosen by one trainer cannot pre-empt another's.
    saved = deps.jobs.save_job(
        after,
        expected_version=before.version,
        dedup=dedup,
        epochs=[s.epoch for s in steps if s.epoch is not None],
        checkpoints=[s.checkpoint for s in steps if s.checkpoint is not None],
        summary=summary,
        audit=audit.job_change(deps, before, after, actor=trainer),
    )
    for step in steps:
        if step.validated is not None:
            datasets.audit_validation(deps, saved, step.validated)
    if saved.state.is_terminal:
        events.job_finished(deps, saved)
    elif any(s.checkpoint is not None for s in steps):
        _apply_retention(deps, saved)
    return saved


def report_batch(deps: Deps, *, tenant: str, job_id: str, batch_id: str, reports: list[ev.BatchedReport]) -> Job | None:
    """Apply one job's batch of reports in order, in as few atomic writes as the audit allows:
    one per state change (a batch `running, epoch x 50, succeeded` is two writes, 50 epochs one).
    Each write carries its own replay key, so a redelivered batch skips the writes already done
    and applies the rest. A report the lifecycle refuses (the job moved on) ends the batch: the
    reports before it are saved, it and the rest are not (a PermanentError, acknowledged).
    Returns the last saved job (None when everything was a replay)."""
    items: list[_Item] = [(r, ev.PAYLOADS[r.type].model_validate(r.data)) for r in reports]
    saved: Job | None = None
    for n, part in enumerate(_segments(items)):
        saved = _apply_segment(deps, tenant=tenant, job_id=job_id, dedup_id=f"{batch_id}.{n}", part=part) or saved
    return saved


_Item = tuple[ev.BatchedReport, BaseModel]


def _segments(items: list[_Item]) -> list[list[_Item]]:
    """The batch cut so that each part changes the job's state at most once (one audit record
    per write): a state-changing report starts a new part when the current one has one."""
    parts: list[list[_Item]] = [[]]
    changed = False
    for item in items:
        changes = isinstance(item[1], _STATE_CHANGES)
        if changes and changed:
            parts.append([])
        changed = changed or changes
        parts[-1].append(item)
    return [p for p in parts if p]


def _apply_segment(deps: Deps, *, tenant: str, job_id: str, dedup_id: str, part: list[_Item]) -> Job | None:
    for _ in range(MAX_RACES):
        job = deps.jobs.get_job(tenant, job_id)
        _require_running_first(job, part[0][1])
        now = deps.clock.now()
        steps: list[_Step] = []
        refused: PermanentError | ValidationError | None = None
        current = job
        for index, (report, payload) in enumerate(part):
            try:
                step = _step(deps, current, payload, now, event_type=report.type)
            except (PermanentError, ValidationError) as exc:
                refused = exc
                log.warning(
                    "batched report refused: it and the reports after it are dropped",
                    extra={"job_id": job_id, "event_id": report.id, "batch": dedup_id, "index": index},
                )
                break
            steps.append(step)
            current = step.job
        epochs = [s.epoch for s in steps if s.epoch is not None]
        summary = _summary_of(deps, job).with_epochs(epochs) if epochs else None
        if refused is not None and not steps and deps.jobs.processed(report_dedup(job, dedup_id)):
            return None  # a redelivered batch: this part was applied before (the job moved on since)
        try:
            saved = (
                _save(
                    deps,
                    job,
                    current,
                    dedup=report_dedup(job, dedup_id),
                    request_id=part[0][0].id,
                    steps=steps,
                    summary=summary,
                )
                if steps
                else None
            )
        except AlreadyProcessed:
            log.info("replayed part of a batch ignored", extra={"job_id": job_id, "batch": dedup_id})
            return None
        except Conflict:
            continue  # someone saved the job meanwhile: reload and re-apply
        if refused is not None:
            raise refused
        return saved
    raise Conflict(f"job {job_id}: too many concurrent updates")


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
_STATE_CHANGES = (ev.JobRunning, ev.JobSucceeded, ev.JobFailed)


def _metadata_values(payload: ev.MetadataReport) -> dict[str, str | float | int | bool]:
    values: dict[str, str | float | int | bool] = dict(payload.extra)
    if payload.learning_rate is not None:
        values["learning_rate"] = payload.learning_rate
    if payload.total_epochs is not None:
        values["total_epochs"] = payload.total_epochs
    return values


def artifact_prefix(job: Job) -> str:
    return blob_keys.artifact_prefix(job.tenant, job.project_id, job.job_id)


def require_own_artifact(job: Job, key: str) -> None:
    # A trainer may only point at what it uploaded itself, never at another job's files.
    if not key.startswith(artifact_prefix(job)) or ".." in key:
        raise ValidationError([Problem("data.key", f"checkpoint key must lie under {artifact_prefix(job)}")])


def _keep_reported_logs(deps: Deps, job: Job, logs: str) -> None:
    if logs:
        deps.logs.put(blob_keys.reported_log(job.tenant, job.job_id), logs.encode(), content_type="text/plain")
