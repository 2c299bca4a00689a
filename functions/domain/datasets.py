"""Dataset versions: each upload of a project's dataset name is a new, numbered, immutable version.

A version is an object under its own key (never overwritten: the next upload is the next
version), plus what the platform learnt about it: its last validation. Which version a task
reads is decided when the task is created (its pin, else the latest; with
`require_validated`, the latest that passed) and recorded in the task, so an attempt, a
retry or a re-run reads the same bytes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from sdk.contracts.validation import ValidationReport


class Validation(BaseModel):
    """The last validation of a version: which job ran it, when, and its report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    task_id: str
    finished_at: datetime
    report: ValidationReport

    @property
    def passed(self) -> bool:
        return self.report.passed


class DatasetVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    project_id: str
    name: str
    version: int
    key: str  # the object in the datasets bucket (its own key: an old version stays readable)
    created_at: datetime
    created_by: str
    validation: Validation | None = None

    @property
    def validated(self) -> bool:
        """Validated and passed (what `require_validated` asks for)."""
        return self.validation is not None and self.validation.passed

    @property
    def status(self) -> str:
        if self.validation is None:
            return "unvalidated"
        return "passed" if self.validation.passed else "failed"

    def validated_by(self, validation: Validation) -> DatasetVersion:
        """This version with `validation` as its last one (an older report never replaces a newer)."""
        current = self.validation
        if current is not None and current.finished_at > validation.finished_at:
            return self
        return self.model_copy(update={"validation": validation})


def latest(versions: list[DatasetVersion], *, validated: bool = False) -> DatasetVersion | None:
    """The highest version (that passed validation, with `validated`), or None."""
    chosen = [v for v in versions if v.validated or not validated]
    return max(chosen, key=lambda v: v.version) if chosen else None
