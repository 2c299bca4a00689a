"""The platform API's answers as the SDK reads them: small pydantic views that keep unknown
fields (so `model_dump()` is the server's JSON). `sdk.client.Client` returns these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sdk.contracts.specs import TaskSpec

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED"})
Scalar = str | int | float | bool
V = TypeVar("V", bound=BaseModel)


class _View(BaseModel):
    # defer_build: a view is built when first used (a CLI command uses one or two of them)
    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)


class ProjectView(_View):
    project_id: str
    tenant: str
    name: str
    purpose: str
    datasets: list[str] = Field(default_factory=list)
    created_at: datetime
    expires_at: datetime
    active: bool = True


class TaskView(_View):
    task_id: str
    project_id: str
    tenant: str
    spec: TaskSpec
    created_at: datetime
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    archived: bool = False
    rerun_of: str | None = None
    provenance: dict[str, str] = Field(default_factory=dict)
    pin: dict[str, Any] | None = None  # a re-run: the attempt it re-runs, its image digest / code hash


class SpecDifference(_View):
    field: str
    value: Any = None
    other: Any = None


class TaskDiff(_View):
    """Which runnable fields two tasks differ in (labels such as the name never count)."""

    task_id: str
    other_id: str
    same: bool
    only: str | None = Field(default=None, description="the one field they differ in, if exactly one")
    differences: list[SpecDifference] = Field(default_factory=list)


class JobView(_View):
    job_id: str
    task_id: str
    project_id: str
    tenant: str
    attempt: int
    state: str
    created_at: datetime
    launched_at: datetime | None = None
    running_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    last_epoch: int | None = None
    reason: str = ""
    failure_kind: str | None = None
    metadata: dict[str, Scalar] = Field(default_factory=dict)
    final_metrics: dict[str, float] = Field(default_factory=dict)
    cleaned_up: bool = False  # ended and cleaned up: a next attempt, if any, exists by now
    provenance: dict[str, Any] = Field(default_factory=dict)  # what ran, recorded by the platform

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def total_epochs(self) -> int | None:
        value = self.metadata.get("total_epochs")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class TaskCreated(_View):
    task: TaskView
    job: JobView


class EpochView(_View):
    epoch: int
    metrics: dict[str, float] = Field(default_factory=dict)
    reported_at: datetime


class CheckpointView(_View):
    epoch: int
    key: str
    metrics: dict[str, float] = Field(default_factory=dict)
    size_bytes: int = 0
    sha256: str = ""
    reported_at: datetime
    pruned: bool = False  # deleted by the task's retention policy; the record stays


class TaskComparison(_View):
    task_id: str
    name: str
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict)
    state: str | None = None
    attempts: int = 0
    archived: bool = False
    best: dict[str, float] = Field(default_factory=dict)
    last: dict[str, float] = Field(default_factory=dict)
    series: dict[str, list[tuple[int, float]]] = Field(default_factory=dict)
    differs_only_in: dict[str, str] = Field(default_factory=dict, description="other task id -> the one field")


class Comparison(_View):
    metrics: list[str] = Field(default_factory=list)
    tasks: list[TaskComparison] = Field(default_factory=list)
    next: str | None = Field(default=None, description="cursor of the next page; None on the last")


class DatasetGrant(_View):
    name: str = ""
    version: int | None = None
    url: str
    method: Literal["GET", "PUT"]
    expires_in: int | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="headers the URL was signed with")
    sha256: str | None = Field(default=None, description="a trainer's grant: the content the platform recorded")
    size_bytes: int | None = None


class FindingView(_View):
    code: str
    severity: str
    message: str
    line: int | None = None


class DatasetValidationView(_View):
    """A version's last validation: which job ran it, and its report."""

    job_id: str
    task_id: str
    finished_at: datetime
    passed: bool
    validator: str = ""
    findings: list[FindingView] = Field(default_factory=list)
    checked: dict[str, int] = Field(default_factory=dict)


class DatasetVersionView(_View):
    version: int
    created_at: datetime
    created_by: str
    size_bytes: int | None = None  # None: not uploaded yet
    sha256: str | None = None
    status: Literal["unvalidated", "passed", "failed"]
    validation: DatasetValidationView | None = None


class DatasetView(_View):
    """A dataset's versions (oldest first) and what is known about each."""

    project_id: str
    name: str
    latest: int | None = None
    latest_validated: int | None = None
    last_validation: DatasetVersionView | None = None
    versions: list[DatasetVersionView] = Field(default_factory=list)


class CheckpointGrant(_View):
    epoch: int
    key: str
    name: str
    sha256: str = ""
    size_bytes: int = 0
    url: str
    expires_in: int | None = None


@dataclass(frozen=True)
class LogPage:
    text: str
    offset: int  # of its first byte in the whole log
    size: int  # of the whole log, in bytes
    next_offset: int | None  # where the next page starts; None: this page ends the log


class ModelView(_View):
    """A published model: one job's checkpoint, frozen for prediction (`modelId` is kept as extra)."""

    model_id: str
    tenant: str
    name: str
    kind: str
    labels: list[str] = Field(default_factory=list)
    project_id: str
    task_id: str
    job_id: str
    epoch: int
    metrics: dict[str, float] = Field(default_factory=dict)
    sha256: str = ""
    size_bytes: int = 0
    created_at: datetime
    active: bool = True


class CodeRecord(_View):
    sha256: str | None = None
    files: int = 0
    size_bytes: int = 0
    unhashed: str = ""  # why it was not hashed (too big, unreadable)


class DatasetRecord(_View):
    key: str
    sha256: str
    size_bytes: int
    version: int | None = None
    granted_at: datetime


class Provenance(_View):
    """What a job ran, as the platform recorded it (`GET /v1/jobs/{id}/provenance`); the seed is
    the trainer's own report."""

    job_id: str
    task_id: str
    rerun_of: str | None = None
    pin: dict[str, Any] | None = None
    image: str | None = None
    image_id: str | None = None
    image_digest: str | None = None
    command: list[str] = Field(default_factory=list)
    code_dir: str | None = None
    code: CodeRecord | None = None
    code_changed: bool | None = None
    datasets: dict[str, DatasetRecord] = Field(default_factory=dict)
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict)
    spec_sha256: str = ""
    platform_version: str = ""
    sdk_version: str = ""
    trainer_sdk_version: Scalar | None = None  # as the trainer reported it
    seed: Scalar | None = None
    seed_source: str | None = None


class CheckpointTry(_View):
    """`POST /v1/jobs/{id}/checkpoints/{epoch}/predict`: the on-demand model and its answer."""

    model: ModelView
    prediction: dict[str, Any]
