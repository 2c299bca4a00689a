"""Retries: which finished attempts get another, and after how long."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.domain.model import Job, JobState
from sdk.contracts.specs import NEVER_RETRIED, RetryPolicy


def attempt_id(task_id: str, attempt: int) -> str:
    """Deterministic, so a redelivered 'finished' event cannot create a second attempt."""
    return f"{task_id}.{attempt}"


def backoff(policy: RetryPolicy, attempt: int) -> timedelta:
    """Delay before attempt `attempt + 1`: backoff_s * factor**(attempt-1), capped."""
    delay = policy.backoff_s * policy.backoff_factor ** max(attempt - 1, 0)
    return timedelta(seconds=min(delay, policy.max_backoff_s))


def should_retry(job: Job) -> bool:
    if job.state not in (JobState.FAILED, JobState.TIMED_OUT) or job.failure_kind in (None, *NEVER_RETRIED):
        return False
    return job.failure_kind in job.retry.retry_on and job.attempt <= job.retry.max_retries


def next_attempt(job: Job, now: datetime) -> Job | None:
    """The next attempt of a failed/timed-out job, queued behind its backoff, or None."""
    if not should_retry(job):
        return None
    return Job(
        job_id=attempt_id(job.task_id, job.attempt + 1),
        task_id=job.task_id,
        project_id=job.project_id,
        tenant=job.tenant,
        attempt=job.attempt + 1,
        pool=job.pool,
        priority=job.priority,
        resources=job.resources,
        limits=job.limits,
        retry=job.retry,
        created_at=now,
        not_before=now + backoff(job.retry, job.attempt),
    )
