"""CloudEvent types and payload schemas: the wire contract between trainers and platform.

Every event a trainer posts has `subject` = its job id; the platform checks it against
the job-scoped token. Payloads are validated with these models at the edge.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sdk.contracts.validation import ValidationReport


class EventType(StrEnum):
    TASK_REQUESTED = "io.trainyard.task.requested"
    JOB_CREATED = "io.trainyard.job.created"
    JOB_RUNNING = "io.trainyard.job.running"
    JOB_EPOCH = "io.trainyard.job.epoch"
    JOB_CHECKPOINT = "io.trainyard.job.checkpoint"
    JOB_METADATA = "io.trainyard.job.metadata"
    JOB_SUCCEEDED = "io.trainyard.job.succeeded"
    JOB_FAILED = "io.trainyard.job.failed"
    JOB_FINISHED = "io.trainyard.job.finished"
    # Several of one job's reports, in the order the trainer sent them (one batch the ingress
    # accepted as a whole): the report function applies them in order, in O(1) store writes.
    JOB_REPORTS = "io.trainyard.job.reports"
    PING = "dev.knative.sources.ping"


# Events a trainer (holding a job token) may post through the ingress.
TRAINER_EVENTS = frozenset(
    {
        EventType.JOB_RUNNING,
        EventType.JOB_EPOCH,
        EventType.JOB_CHECKPOINT,
        EventType.JOB_METADATA,
        EventType.JOB_SUCCEEDED,
        EventType.JOB_FAILED,
    }
)

# CloudEvent extension attribute naming the tenant of an event. Only the authenticated edge
# (the events ingress) sets it, from the caller's token; functions trust it for that reason.
TENANT_EXTENSION = "trainyardtenant"

Metrics = dict[Annotated[str, Field(min_length=1, max_length=64)], float]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobRunning(_Payload):
    sdk_version: str | None = Field(
        default=None, max_length=64, description="the trainer's SDK version, as it reports it (kept in its metadata)"
    )


class EpochReport(_Payload):
    epoch: int = Field(ge=0, description="0-based or 1-based epoch number, as the trainer counts")
    metrics: Metrics = Field(default_factory=dict, max_length=64)


class CheckpointReport(_Payload):
    epoch: int = Field(ge=0)
    key: str = Field(min_length=1, max_length=512, description="artifact key the weights were uploaded to")
    metrics: Metrics = Field(default_factory=dict, max_length=64)
    size_bytes: int = Field(ge=0, default=0)
    sha256: str = Field(default="", max_length=64)


class MetadataReport(_Payload):
    learning_rate: float | None = Field(default=None, gt=0)
    total_epochs: int | None = Field(default=None, ge=1)
    extra: dict[str, str | float | int | bool] = Field(default_factory=dict, max_length=32)


class JobSucceeded(_Payload):
    metrics: Metrics = Field(default_factory=dict, max_length=64)
    # A validation task's result; the platform keeps it with the dataset version the task checked
    # (and refuses it from any other job, or naming another dataset version).
    report: ValidationReport | None = None


class JobFailed(_Payload):
    reason: str = Field(min_length=1, max_length=2000)
    logs: str = Field(default="", max_length=64_000, description="tail of the trainer's log")


class JobCreated(_Payload):
    tenant: str
    job_id: str


class JobFinished(_Payload):
    tenant: str
    job_id: str
    state: str


# A batch of one job's reports through the ingress (CloudEvents batched mode,
# `application/cloudevents-batch+json`): at most this many events, this many bytes.
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
# 90: a batch is applied in one DynamoDB transaction (at most 100 items): its records, plus
# the job, the task summary, the replay key and an audit record.
MAX_BATCH_EVENTS = 90
MAX_BATCH_BYTES = 1024 * 1024


class BatchedReport(_Payload):
    """One report of a batch, as the ingress validated it (its payload in `data`)."""

    type: EventType
    id: str = Field(min_length=1, max_length=256)
    data: dict[str, Any]


class JobReports(_Payload):
    """The data of an io.trainyard.job.reports event: one job's reports, in order."""

    events: list[BatchedReport] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class TaskRequested(_Payload):
    """Another system asks for a task; the event id makes the request idempotent."""

    tenant: str = Field(min_length=1, max_length=64)
    project_id: str = Field(min_length=1, max_length=64)
    task: dict[str, object]


PAYLOADS: dict[EventType, type[_Payload]] = {
    EventType.JOB_RUNNING: JobRunning,
    EventType.JOB_EPOCH: EpochReport,
    EventType.JOB_CHECKPOINT: CheckpointReport,
    EventType.JOB_METADATA: MetadataReport,
    EventType.JOB_SUCCEEDED: JobSucceeded,
    EventType.JOB_FAILED: JobFailed,
    EventType.JOB_CREATED: JobCreated,
    EventType.JOB_FINISHED: JobFinished,
    EventType.TASK_REQUESTED: TaskRequested,
    EventType.JOB_REPORTS: JobReports,
}
