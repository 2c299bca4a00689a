"""Builders for domain objects in tests, and a clock tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.domain.model import Job, JobState
from sdk.contracts.specs import Limits, Resources, RetryPolicy

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> datetime:
        self.t += timedelta(seconds=seconds)
        return self.t


def job(**overrides: Any) -> Job:
    base: dict[str, Any] = dict(
        job_id="t-1.1",
        task_id="t-1",
        project_id="p-1",
        tenant="acme",
        attempt=1,
        pool="default",
        resources=Resources(cpu=1, memory_mb=512),
        limits=Limits(launch_s=60, epoch_s=120, ttl_s=3600),
        retry=RetryPolicy(max_retries=2, backoff_s=10, backoff_factor=2, max_backoff_s=100),
        state=JobState.QUEUED,
        created_at=T0,
    )
    base.update(overrides)
    return Job(**base)
