"""Input specifications users send (and the platform stores): projects and tasks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
DatasetName = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME)]
TaskKind = Literal["training", "validation"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailureKind(StrEnum):
    """Why an attempt ended badly; the retry policy chooses which kinds are retried."""

    TRAINER = "trainer"  # the trainer reported failure or exited non-zero
    INFRASTRUCTURE = "infrastructure"  # lost runner, launch error, vanished process/pod
    LAUNCH_TIMEOUT = "launch_timeout"  # never reported running within launch_s
    EPOCH_TIMEOUT = "epoch_timeout"  # no epoch report within epoch_s of the last
    TTL_TIMEOUT = "ttl_timeout"  # did not finish within ttl_s
    CANCELLED = "cancelled"
    ACCESS_REVOKED = "access_revoked"
    START_FAILED = "start_failed"  # the command cannot start (program or script missing): never retried


NEVER_RETRIED = frozenset({FailureKind.CANCELLED, FailureKind.ACCESS_REVOKED, FailureKind.START_FAILED})


class Resources(_Spec):
    cpu: float = Field(default=1.0, gt=0, le=64, description="CPU cores requested (= limit)")
    memory_mb: int = Field(default=1024, ge=64, le=512_000, description="memory in MiB (= limit)")
    gpu: int = Field(default=0, ge=0, le=8)


class RetryPolicy(_Spec):
    max_retries: int = Field(default=2, ge=0, le=10, description="attempts after the first")
    backoff_s: float = Field(default=5.0, ge=0, le=3600, description="delay before the 2nd attempt")
    backoff_factor: float = Field(default=2.0, ge=1, le=10)
    max_backoff_s: float = Field(default=600.0, ge=0, le=86_400)
    retry_on: frozenset[FailureKind] = Field(
        default=frozenset(
            {
                FailureKind.TRAINER,
                FailureKind.INFRASTRUCTURE,
                FailureKind.LAUNCH_TIMEOUT,
                FailureKind.EPOCH_TIMEOUT,
            }
        )
    )

    @model_validator(mode="after")
    def _never_retry_cancel(self) -> RetryPolicy:
        if self.retry_on & NEVER_RETRIED:
            raise ValueError("cancelled, access_revoked and start_failed attempts are never retried")
        return self


class Limits(_Spec):
    launch_s: float = Field(default=300, gt=0, le=86_400, description="launch -> 'running' report")
    epoch_s: float = Field(default=1800, gt=0, le=7 * 86_400, description="between epoch reports")
    ttl_s: float = Field(default=24 * 3600, gt=0, le=30 * 86_400, description="launch -> finished")


class RetentionPolicy(_Spec):
    """Which checkpoints of a job are kept; the others are deleted from the artifact store
    as the job reports new ones and when it finishes. A checkpoint that a published model
    came from is never deleted. `keep_latest=None` with `keep_best=0` keeps all of them."""

    keep_latest: int | None = Field(
        default=5, ge=0, le=1000, description="the n most recent epochs; None: no bound by recency"
    )
    keep_best: int = Field(default=0, ge=0, le=1000, description="the k best by `metric` (needs `metric`)")
    metric: str | None = Field(default=None, min_length=1, max_length=64, description="what 'best' ranks by")
    mode: Literal["max", "min"] | None = Field(default=None, description="default: min for loss-like names")

    @model_validator(mode="after")
    def _best_needs_metric(self) -> RetentionPolicy:
        if self.keep_best and self.metric is None:
            raise ValueError("keep_best needs a metric to rank checkpoints by")
        if self.keep_latest == 0 and self.keep_best == 0:
            raise ValueError("this policy keeps no checkpoint; use keep_latest >= 1 or keep_best >= 1")
        return self

    @classmethod
    def keep_all(cls) -> RetentionPolicy:
        return cls(keep_latest=None, keep_best=0)

    @property
    def keeps_all(self) -> bool:
        return self.keep_latest is None and self.keep_best == 0


class TaskSpec(_Spec):
    name: str = Field(min_length=1, max_length=100, pattern=NAME)
    image: str = Field(default="", max_length=512, description="container image (Kubernetes runtime)")
    command: list[str] = Field(default_factory=list, max_length=64, description="entrypoint override")
    code_dir: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="local runtime: the absolute host directory holding the trainer's code; the command runs "
        "there, and a sandboxed trainer sees it read-only (the CLI sends its working directory)",
    )
    args: list[str] = Field(default_factory=list, max_length=256)
    hyperparameters: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=64)
    datasets: list[DatasetName] = Field(default_factory=list, max_length=16, description="project datasets it reads")
    resources: Resources = Field(default_factory=Resources)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    limits: Limits = Field(default_factory=Limits)
    pool: str = Field(default="default", min_length=1, max_length=64, pattern=NAME)
    priority: int = Field(default=0, ge=0, le=9, description="higher launches first within a pool")
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy, description="which checkpoints are kept")
    kind: TaskKind = Field(
        default="training",
        description="training: epochs, retries; validation: a one-time check of one dataset version by the "
        "platform's validator (never retried, no epochs), whose report is kept with that version",
    )
    dataset_versions: dict[DatasetName, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        max_length=16,
        description="pins: dataset -> version it reads; an unpinned dataset reads the latest version "
        "(with require_validated: the latest that passed validation), fixed when the task is created",
    )
    require_validated: bool = Field(
        default=False, description="every dataset version it reads must have passed validation"
    )

    @model_validator(mode="after")
    def _runnable(self) -> TaskSpec:
        if self.kind == "validation":
            if self.image or self.command or self.code_dir:
                raise ValueError("a validation task runs the platform's validator: no image, command or code_dir")
            if len(self.datasets) != 1:
                raise ValueError("a validation task checks exactly one dataset")
        elif not self.image and not self.command:
            raise ValueError("a task needs an image or a command")
        unknown = sorted(set(self.dataset_versions) - set(self.datasets))
        if unknown:
            raise ValueError(f"dataset_versions pins datasets the task does not read: {unknown}")
        return self

    @field_validator("code_dir")
    @classmethod
    def _code_dir(cls, code_dir: str | None, info: ValidationInfo) -> str | None:
        if code_dir is not None:
            if info.data.get("image"):
                raise ValueError("code_dir is for local commands: an image carries its own code")
            _check_code_dir(code_dir)
        return code_dir


def _check_code_dir(code_dir: str) -> None:
    """An absolute, normalised host path below the root."""
    if "\0" in code_dir or not code_dir.startswith("/"):
        raise ValueError("code_dir must be an absolute path")
    parts = code_dir.rstrip("/").split("/")[1:]
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise ValueError("code_dir must be a normalised absolute directory below / (no '.', '..' or '//')")


class ProjectSpec(_Spec):
    name: str = Field(min_length=1, max_length=100, pattern=NAME)
    purpose: str = Field(min_length=1, max_length=2000)
    datasets: list[DatasetName] = Field(default_factory=list, max_length=64)
    ttl_days: int = Field(default=90, ge=1, le=3650)


class ProjectPatch(_Spec):
    purpose: str | None = Field(default=None, min_length=1, max_length=2000)
    datasets: list[DatasetName] | None = Field(default=None, max_length=64)
    ttl_days: int | None = Field(default=None, ge=1, le=3650)


class TaskPatch(_Spec):
    """What may change on a task once created: its labels always; its retention policy
    (applies to checkpoints reported from then on, and at cleanup); its priority only while
    its current attempt is still queued. What ran (image, command, data) never changes."""

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NAME)
    description: str | None = Field(default=None, max_length=2000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64, pattern=NAME)]] | None = Field(
        default=None, max_length=32
    )
    retention: RetentionPolicy | None = None
    priority: int | None = Field(default=None, ge=0, le=9)
