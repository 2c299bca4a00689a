"""The ports the core asks for. Each has a real adapter and an honest in-memory fake.

Store methods that apply an event take `dedup`: a key (consumer + event id) written in
the same atomic write as the change. If that key already exists the whole write is
refused with AlreadyProcessed, so a replayed event changes nothing.

Methods that change a job's state or a grant take `audit`: the audit record of that
change, appended in the same atomic write, so a change is never without its record and
a write that lost its condition leaves no record behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from functions.domain.admission import Capacity, PoolPolicy, TenantShare
from functions.domain.approvals import Approval, ApprovalState
from functions.domain.audit import AuditRecord
from functions.domain.datasets import DatasetVersion
from functions.domain.model import Checkpoint, Epoch, Job, Project, ReportMark, Task, TaskSummary
from functions.domain.registry import PublishedModel
from functions.domain.runs import RunRecord
from sdk.contracts.errors import PermanentError


class Clock(Protocol):
    def now(self) -> datetime: ...


class ProjectStore(Protocol):
    def create_project(self, project: Project) -> None:
        """Conflict if the id exists."""

    def get_project(self, tenant: str, project_id: str) -> Project:
        """NotFound if missing or another tenant's."""

    def list_projects(self, tenant: str) -> list[Project]:
        """The tenant's projects, newest first."""

    def update_project(self, project: Project) -> None: ...


class TaskStore(Protocol):
    def create_task(
        self, task: Task, first_job: Job, *, dedup: str | None = None, audit: AuditRecord | None = None
    ) -> None:
        """Task and its first attempt (and its summary), atomically. Conflict if either exists."""

    def get_task(self, tenant: str, task_id: str) -> Task: ...

    def list_tasks(self, tenant: str, project_id: str) -> list[Task]:
        """Oldest first."""

    def task_page(
        self, tenant: str, project_id: str, *, after: str | None = None, limit: int = 50
    ) -> tuple[list[Task], str | None]:
        """One page of a project's tasks, oldest first (one index query), and the cursor of
        the next page (None at the end). `after` is a cursor this method returned."""

    def update_task(self, task: Task, *, expected_version: int, audit: AuditRecord | None = None) -> Task:
        """Write `task` if the stored version is `expected_version`; returns it with version + 1.
        Conflict on a version mismatch; NotFound if missing or another tenant's."""


class JobStore(Protocol):
    def get_job(self, tenant: str, job_id: str) -> Job:
        """NotFound if missing or another tenant's."""

    def list_jobs(self, tenant: str, task_id: str) -> list[Job]:
        """A task's attempts, by attempt number."""

    def create_job(self, job: Job, *, dedup: str | None = None, audit: AuditRecord | None = None) -> None:
        """A new attempt; it now speaks for its task's summary. Conflict if it exists."""

    def save_job(
        self,
        job: Job,
        *,
        expected_version: int,
        dedup: str | None = None,
        summary: TaskSummary | None = None,
        audit: AuditRecord | None = None,
        epochs: Sequence[Epoch] = (),
        checkpoints: Sequence[Checkpoint] = (),
    ) -> Job:
        """Write `job` if the stored version is `expected_version`; returns it with
        version + 1. The epoch and checkpoint records (in order: one report's, or a batch's)
        and the task summary are written in the same atomic write.
        Conflict on a version mismatch, AlreadyProcessed on a seen dedup key."""

    def launch_job(
        self, job: Job, *, expected_version: int, policy: PoolPolicy, audit: AuditRecord | None = None
    ) -> Job:
        """Save a QUEUED->LAUNCHING job and reserve its capacity atomically.
        CapacityExhausted if the pool budget or the tenant cap would be exceeded."""

    def release_job(self, job: Job, *, expected_version: int, dedup: str | None = None) -> Job:
        """Save a cleaned-up job and give its capacity back atomically (never below 0)."""

    def queued_jobs(self, pool: str, *, tenant: str, limit: int = 100) -> list[Job]:
        """A tenant's QUEUED jobs in a pool in launch order (priority, then creation); no scan."""

    def pool_tenants(self, pool: str) -> dict[str, TenantShare]:
        """Every tenant that has queued or runs jobs in the pool: what it uses, runs and has
        queued (one query of the pool's capacity partition)."""

    def due_jobs(self, pool: str, now: datetime, *, limit: int = 100) -> list[Job]:
        """Active jobs whose deadline_at <= now, from the sharded sparse index (every shard,
        items read proportional to what is due); no scan."""

    def active_jobs(self, pool: str, *, page: int = 100) -> Iterator[list[Job]]:
        """Every LAUNCHING/RUNNING job of a pool (sparse index), page by page to the end."""

    def unreleased_jobs(self, pool: str, now: datetime, *, limit: int = 100) -> list[Job]:
        """Finished jobs still holding capacity whose re-announcement is due at `now`."""

    def task_summaries(self, tenant: str, task_ids: Iterable[str]) -> dict[str, TaskSummary]:
        """The comparison rows of these tasks (those that have one and are the tenant's); batch reads."""

    def jobs_by_id(self, job_ids: Iterable[str]) -> list[Job]:
        """The jobs that exist among these ids, of any tenant (the caller checks); batch reads."""

    def processed(self, dedup: str) -> bool:
        """Whether a write with this dedup key was made (one consistent key read)."""

    def note_report(self, tenant: str, job_id: str, *, at: datetime, outcome: bool) -> None:
        """Record that the ingress accepted a report of the job at `at` (its final outcome
        if `outcome`); the latest acceptance wins, an outcome is never forgotten."""

    def report_marks(self, job_ids: Iterable[str]) -> dict[str, ReportMark]:
        """The marks of these jobs (those that have one), by job id; batch reads."""

    def usage(self, pool: str) -> tuple[Capacity, dict[str, int]]:
        """Capacity in use in the pool, and running jobs per tenant."""

    def epochs(self, tenant: str, job_id: str) -> list[Epoch]: ...

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]: ...


class ModelStore(Protocol):
    def create_model(self, model: PublishedModel) -> None:
        """Conflict if the id exists."""

    def get_model(self, tenant: str, model_id: str) -> PublishedModel:
        """NotFound if missing or another tenant's."""

    def list_models(self, tenant: str) -> list[PublishedModel]:
        """The tenant's models, newest first (an index, not a scan)."""

    def update_model(self, model: PublishedModel) -> None:
        """NotFound if missing or another tenant's."""


class ApprovalStore(Protocol):
    """Grants. Every lookup is a key read or an index query (never a scan), re-read
    consistently, so a grant is seen in its current state even if the index lags."""

    def create_approval(self, approval: Approval, *, audit: AuditRecord | None = None) -> None:
        """Conflict if the id exists."""

    def get_approval(self, tenant: str, approval_id: str) -> Approval:
        """NotFound if missing or another tenant's."""

    def save_approval(self, approval: Approval, *, expected_version: int, audit: AuditRecord | None = None) -> Approval:
        """Write if the stored version is `expected_version`; returns it with version + 1.
        Conflict on a version mismatch; NotFound if missing or another tenant's."""

    def approvals_in_state(
        self, tenant: str, state: ApprovalState, *, expiring_after: datetime | None = None
    ) -> list[Approval]:
        """The tenant's grants recorded in `state` (optionally only those expiring after
        the moment), by expiry."""

    def approvals_for_dataset(
        self, tenant: str, dataset: str, *, expiring_after: datetime | None = None
    ) -> list[Approval]:
        """The tenant's grants naming `dataset`, by expiry."""

    def approvals_for_grantee(self, tenant: str, grantee: str) -> list[Approval]:
        """Grants to a principal or to `project:<id>`, by expiry."""

    def approvals_requested_by(self, tenant: str, principal: str) -> list[Approval]:
        """Grants a principal asked for, by expiry."""

    def approvals_by_id(self, approval_ids: Iterable[str]) -> list[Approval]:
        """The grants that exist among these ids, of any tenant (the caller checks)."""

    def due_approvals(self, now: datetime, *, limit: int = 100) -> list[Approval]:
        """Approved grants whose expires_at <= now, of every tenant, from a sparse index."""


class DatasetStore(Protocol):
    """Versions of a project's datasets, keyed by (tenant, project, name, version): a key read
    or one query of a dataset's versions, never a scan."""

    def create_dataset_version(self, version: DatasetVersion) -> None:
        """Conflict if that version of the dataset exists (the next upload takes the next number)."""

    def dataset_versions(self, tenant: str, project_id: str, name: str) -> list[DatasetVersion]:
        """Every version of the dataset, oldest first ([] if none or another tenant's)."""

    def get_dataset_version(self, tenant: str, project_id: str, name: str, version: int) -> DatasetVersion:
        """NotFound if missing or another tenant's."""

    def save_dataset_version(self, version: DatasetVersion) -> None:
        """Replace an existing version's record (its validation); NotFound if it does not exist."""


class AuditStore(Protocol):
    """Append-only: there is no method to change or delete a record, by design."""

    def append(self, record: AuditRecord) -> None:
        """Conflict if a record with this id and time exists (it is never overwritten)."""

    def audit_records(
        self,
        tenant: str,
        *,
        actor: str | None = None,
        resource: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """The tenant's records, newest first, optionally of one actor and/or one resource."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes:
        """NotFound if missing."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def presign_get(self, key: str, *, expires_s: int) -> str: ...

    def presign_put(self, key: str, *, expires_s: int) -> str: ...

    def digest(self, key: str) -> BlobDigest:
        """The object's content sha256 and size. Computed from its bytes once (streamed), then
        kept with the object's metadata; NotFound if missing."""


@dataclass(frozen=True)
class BlobDigest:
    sha256: str
    size_bytes: int


class CannotStart(PermanentError):
    """The attempt's command can never start as given (its program or code directory is missing)."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a runtime needs to start one attempt."""

    job_id: str
    tenant: str
    project_id: str
    task_id: str
    attempt: int
    image: str
    command: Sequence[str]
    args: Sequence[str]
    env: dict[str, str]
    cpu: float
    memory_mb: int
    gpu: int
    ttl_s: float
    code_dir: str | None = None  # local runtime: where the command runs, read-only in a sandbox
    code_sha256: str | None = None  # a re-run's pin: refuse to start if code_dir's content differs


class RuntimeStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class RuntimeJob:
    job_id: str
    status: RuntimeStatus
    exit_code: int | None = None
    reason: str = ""  # what the runtime knows and the trainer cannot report (OOMKilled, ...)
    image_id: str = ""  # the trainer container's image as the cluster resolved it (pod imageID)
    image_recorded: bool = False  # note_image was told this image_id: the platform has it


class JobRuntime(Protocol):
    def launch(self, spec: LaunchSpec) -> RunRecord:
        """Start the attempt and say what it started (command, image, local code digest).
        Idempotent: an attempt already started is left alone and its record returned again.
        CannotStart if `spec.code_sha256` is set and the code directory no longer matches it."""

    def stop(self, job_id: str) -> None:
        """Kill it if it runs; keep its logs. Missing is fine."""

    def logs(self, job_id: str, *, full: bool = False) -> bytes:
        """Its captured stdout/stderr so far (empty if unknown): the last LOG_CAP_BYTES, or
        everything it holds with `full` (what cleanup keeps in the logs bucket)."""

    def delete(self, job_id: str) -> None:
        """Remove everything the runtime holds for it. Missing is fine."""

    def list(self) -> list[RuntimeJob]:
        """Every attempt the runtime holds, live or exited (for reconcile)."""

    def note_image(self, job_id: str, image_id: str) -> None:
        """Remember that the platform recorded `image_id` for the attempt, so list() reports
        it as `image_recorded` and the sweep reads the job only once for it. Missing is fine."""


@dataclass(frozen=True)
class OutEvent:
    type: str
    source: str
    subject: str
    data: dict[str, object]
    id: str | None = None  # a deterministic id makes re-emission idempotent downstream
    extensions: dict[str, str] = field(default_factory=dict)  # CloudEvent extension attributes


class Predictor(Protocol):
    """The prediction service, asked on a user's behalf (their token, so their tenant's rules)."""

    def predict(self, *, token: str, model_id: str, document: str | None, image: bytes | None) -> dict[str, object]:
        """The predictor's answer for one input (a document for intent models, image bytes for
        vision ones); NotFound for an unknown model, TemporaryError while it cannot answer."""


class EventPublisher(Protocol):
    def publish(self, event: OutEvent) -> None:
        """Deliver to the broker; TemporaryError if it cannot be reached."""
