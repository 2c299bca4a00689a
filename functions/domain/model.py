"""Entities of the training hierarchy: Project -> Task -> Job (one attempt).

Pure data (frozen pydantic models); every change goes through functions that return a
new value, so a handler can load, apply, and save with a version condition.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from functions.domain.runs import Pin, RunRecord
from sdk.contracts.specs import FailureKind, Limits, Resources, RetryPolicy, TaskSpec


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Project(_Entity):
    project_id: str
    tenant: str
    name: str
    purpose: str
    datasets: tuple[str, ...] = ()
    created_at: datetime
    expires_at: datetime
    active: bool = True

    def is_live(self, now: datetime) -> bool:
        return self.active and now < self.expires_at


class Task(_Entity):
    task_id: str
    project_id: str
    tenant: str
    spec: TaskSpec
    created_at: datetime
    requested_by: str | None = None  # the person who created it: their own data grants count too
    description: str = ""
    tags: tuple[str, ...] = ()
    archived: bool = False  # left out of the default comparison; still readable and audited
    rerun_of: str | None = None  # the task this one re-runs (same spec unless overridden)
    provenance: dict[str, str] = Field(default_factory=dict)  # platform version, spec digest at creation
    pin: Pin | None = None  # a re-run: the earlier attempt's image digest / code hash it must match
    version: int = 0  # optimistic-locking counter of task updates


class JobState(StrEnum):
    QUEUED = "QUEUED"
    LAUNCHING = "LAUNCHING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"

    @property
    def is_active(self) -> bool:
        return self in (JobState.LAUNCHING, JobState.RUNNING)

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED})


# After a restart, a trainer's retried reports arrive within the SDK's longest retry gap
# (sdk.trainer.REPORT_BACKOFF: 10 s), so an adopted job gets at least this long to be heard.
ADOPTION_GRACE_S = 30.0


class Job(_Entity):
    """One attempt of a Task. `version` is the optimistic-locking counter of the store."""

    job_id: str
    task_id: str
    project_id: str
    tenant: str
    attempt: int = Field(ge=1)
    pool: str
    priority: int = 0
    resources: Resources
    limits: Limits
    retry: RetryPolicy
    state: JobState = JobState.QUEUED
    created_at: datetime
    not_before: datetime | None = None  # backoff: may not launch before this
    launched_at: datetime | None = None
    running_at: datetime | None = None
    last_epoch_at: datetime | None = None
    # A restarted platform re-adopted it: reports could not reach the platform before this.
    adopted_at: datetime | None = None
    finished_at: datetime | None = None
    last_epoch: int | None = None
    reason: str = ""
    failure_kind: FailureKind | None = None
    metadata: dict[str, str | float | int | bool] = Field(default_factory=dict)
    final_metrics: dict[str, float] = Field(default_factory=dict)
    capacity_held: bool = False  # pool/tenant capacity is reserved for this job
    cleaned_up: bool = False  # logs stored, runtime resources deleted, capacity released
    log_key: str | None = None
    grants: tuple[str, ...] = ()  # approval ids that let it read its task's datasets (set at launch)
    announce_after: datetime | None = None  # finished, cleanup pending: when the sweep may announce it again
    pruned_checkpoints: tuple[int, ...] = ()  # epochs whose checkpoint retention deleted
    provenance: RunRecord = Field(default_factory=RunRecord)  # what ran, recorded by the platform
    version: int = 0

    @property
    def deadline_at(self) -> datetime | None:
        """When the next time limit expires, for active jobs only (the sweep's index key)."""
        if not self.state.is_active or self.launched_at is None:
            return None
        ttl_end = self.launched_at + timedelta(seconds=self.limits.ttl_s)
        if self.state is JobState.LAUNCHING:
            last, limit = self.launched_at, self.limits.launch_s
        else:
            last, limit = self.last_epoch_at or self.running_at or self.launched_at, self.limits.epoch_s
        report_end = last + timedelta(seconds=limit)
        if self.adopted_at is not None:  # the report clock restarted when the platform could hear again
            report_end = max(report_end, self.adopted_at + timedelta(seconds=max(limit, ADOPTION_GRACE_S)))
        return min(ttl_end, report_end)


class Epoch(_Entity):
    job_id: str
    tenant: str
    epoch: int
    metrics: dict[str, float]
    reported_at: datetime


class Checkpoint(_Entity):
    job_id: str
    tenant: str
    epoch: int
    key: str
    metrics: dict[str, float]
    size_bytes: int = 0
    sha256: str = ""
    reported_at: datetime


class ReportMark(_Entity):
    """What the events ingress accepted (2xx) for a job, before the report is applied.

    The sweep judges a job only from what the trainer was told was accepted: its grace
    counts from `accepted_at`, and an accepted outcome (`outcome_at`) is never overtaken
    by a verdict while it waits in the broker.
    """

    job_id: str
    tenant: str
    accepted_at: datetime
    outcome_at: datetime | None = None


class TaskSummary(_Entity):
    """A task's row of the comparison, kept current by every epoch report (and by each new
    attempt), so a page of the comparison is a few batch reads, never a query per task.

    It speaks for the task's latest attempt (a success is never retried, so that is its
    success if it has one): `series` are that attempt's metrics, epoch by epoch.
    """

    task_id: str
    tenant: str
    job_id: str
    attempt: int
    series: dict[str, list[tuple[int, float]]] = Field(default_factory=dict)

    @staticmethod
    def of(job: Job) -> TaskSummary:
        """A new attempt: it speaks for the task now, with no epochs yet."""
        return TaskSummary(task_id=job.task_id, tenant=job.tenant, job_id=job.job_id, attempt=job.attempt)

    def with_epoch(self, epoch: Epoch) -> TaskSummary:
        """The summary after `epoch` (a re-sent epoch replaces its earlier values)."""
        return self.with_epochs([epoch])

    def with_epochs(self, epochs: list[Epoch]) -> TaskSummary:
        """The summary after `epochs`, in order (a batch of reports: one pass over the series,
        not one per epoch; a re-sent epoch replaces its earlier values, the last word wins)."""
        if not epochs:
            return self
        latest = {e.epoch: e for e in epochs}  # the last report of an epoch number wins
        series = {name: [p for p in points if p[0] not in latest] for name, points in self.series.items()}
        for epoch in sorted(latest.values(), key=lambda e: e.epoch):
            for name, value in epoch.metrics.items():
                series.setdefault(name, []).append((epoch.epoch, value))
        ordered = {name: sorted(points) for name, points in series.items() if points}
        return self.model_copy(update={"series": ordered})
