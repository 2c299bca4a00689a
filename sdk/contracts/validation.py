"""A one-time validation's result: what a validator reports and the platform keeps with the
dataset version it checked (the wire contract between the validator job and the platform)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_FINDINGS = 100  # a report stays a small event; the counts say how many more there were


class Severity(StrEnum):
    ERROR = "error"  # the dataset fails: a trainer would misread or drop data
    WARNING = "warning"  # worth a look; the dataset still passes


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    severity: Severity
    message: str = Field(min_length=1, max_length=500)
    line: int | None = Field(default=None, ge=1, description="1-based line of the file, where one applies")


class ValidationReport(BaseModel):
    """`passed` is true exactly when no finding is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)
    validator: str = Field(min_length=1, max_length=64, description="which check ran, e.g. intent-csv/1")
    passed: bool
    findings: list[Finding] = Field(default_factory=list, max_length=MAX_FINDINGS)
    checked: dict[Annotated[str, Field(min_length=1, max_length=64)], int] = Field(
        default_factory=dict, max_length=32, description="counts: bytes, rows, labels, findings by severity"
    )

    @model_validator(mode="after")
    def _passed_means_no_error(self) -> ValidationReport:
        if self.passed and any(f.severity is Severity.ERROR for f in self.findings):
            raise ValueError("a report with an error finding cannot have passed")
        if self.passed and self.checked.get("errors", 0):
            raise ValueError("a report that counted errors cannot have passed")
        return self
