"""The job lifecycle as pure functions of (job, event, now) -> job.

QUEUED -> LAUNCHING -> RUNNING -> SUCCEEDED | FAILED | TIMED_OUT | CANCELLED.
Anything else raises InvalidTransition; nothing here reads a clock or a store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.domain.model import Job, JobState
from sdk.contracts.errors import InvalidTransition
from sdk.contracts.specs import FailureKind

# A finished job is announced once; only if its cleanup has not happened by then is it
# announced again (the broker's own redelivery aside), with the wait doubling each time.
REANNOUNCE_AFTER = timedelta(seconds=60)
MAX_REANNOUNCE_GAP = timedelta(hours=1)

_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.LAUNCHING, JobState.CANCELLED}),
    JobState.LAUNCHING: frozenset({JobState.RUNNING, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED}),
}


def _move(job: Job, to: JobState, why: str = "", **changes: object) -> Job:
    if to not in _ALLOWED.get(job.state, frozenset()):
        raise InvalidTransition(job.job_id, job.state, to, why)
    return job.model_copy(update={"state": to, **changes})


def _require(job: Job, states: frozenset[JobState], to: str) -> None:
    if job.state not in states:
        raise InvalidTransition(job.job_id, job.state, to)


def launch(job: Job, now: datetime) -> Job:
    """Admission granted: capacity is reserved and the runtime is asked to start it."""
    if job.not_before is not None and now < job.not_before:
        raise InvalidTransition(
            job.job_id, job.state, JobState.LAUNCHING, f"backing off until {job.not_before.isoformat()}"
        )
    return _move(job, JobState.LAUNCHING, launched_at=now, capacity_held=True)


def mark_running(job: Job, now: datetime) -> Job:
    return _move(job, JobState.RUNNING, running_at=now)


_REPORTING = frozenset({JobState.RUNNING})


def record_epoch(job: Job, epoch: int, now: datetime) -> Job:
    """An epoch report restarts the epoch clock."""
    _require(job, _REPORTING, "RUNNING (epoch report)")
    return job.model_copy(update={"last_epoch_at": now, "last_epoch": epoch})


def record_checkpoint(job: Job) -> Job:
    _require(job, _REPORTING, "RUNNING (checkpoint report)")
    return job


def record_metadata(job: Job, values: dict[str, str | float | int | bool]) -> Job:
    _require(job, frozenset({JobState.LAUNCHING, JobState.RUNNING}), "RUNNING (metadata)")
    return job.model_copy(update={"metadata": {**job.metadata, **values}})


def adopt(job: Job, now: datetime) -> Job:
    """A restarted platform takes an active job back whose trainer kept running meanwhile.

    Reports sent while the platform was down never arrived, so the launch and epoch
    limits count again from `now`, judged by the trainer's next reports; the TTL does not
    move (it bounds the whole job, however long the platform was away).
    """
    _require(job, frozenset({JobState.LAUNCHING, JobState.RUNNING}), "adopted (active)")
    return job.model_copy(update={"adopted_at": now})


def succeed(job: Job, now: datetime, metrics: dict[str, float]) -> Job:
    return _move(job, JobState.SUCCEEDED, finished_at=now, final_metrics=metrics, reason="succeeded")


def fail(job: Job, now: datetime, *, reason: str, kind: FailureKind) -> Job:
    return _move(job, JobState.FAILED, finished_at=now, reason=reason, failure_kind=kind)


def cancel(
    job: Job, now: datetime, *, reason: str = "cancelled by user", kind: FailureKind = FailureKind.CANCELLED
) -> Job:
    return _move(job, JobState.CANCELLED, finished_at=now, reason=reason, failure_kind=kind)


def expired_limit(job: Job, now: datetime) -> FailureKind | None:
    """Which time limit has passed at `now`, if any (TTL wins over the report limits)."""
    if not job.state.is_active or job.launched_at is None:
        return None
    if now >= job.launched_at + timedelta(seconds=job.limits.ttl_s):
        return FailureKind.TTL_TIMEOUT
    deadline = job.deadline_at
    if deadline is None or now < deadline:
        return None
    if job.state is JobState.LAUNCHING:
        return FailureKind.LAUNCH_TIMEOUT
    return FailureKind.EPOCH_TIMEOUT


_TIMEOUT_REASONS = {
    FailureKind.TTL_TIMEOUT: "did not finish within the TTL of {s:g}s",
    FailureKind.LAUNCH_TIMEOUT: "did not report running within the launch limit of {s:g}s",
    FailureKind.EPOCH_TIMEOUT: "no epoch report within the epoch limit of {s:g}s",
}


def time_out(job: Job, now: datetime) -> Job:
    kind = expired_limit(job, now)
    if kind is None:
        raise InvalidTransition(job.job_id, job.state, JobState.TIMED_OUT, "no time limit has passed")
    seconds = {
        FailureKind.TTL_TIMEOUT: job.limits.ttl_s,
        FailureKind.LAUNCH_TIMEOUT: job.limits.launch_s,
        FailureKind.EPOCH_TIMEOUT: job.limits.epoch_s,
    }[kind]
    reason = _TIMEOUT_REASONS[kind].format(s=seconds)
    return _move(job, JobState.TIMED_OUT, finished_at=now, reason=reason, failure_kind=kind)


def mark_cleaned(job: Job, *, log_key: str | None) -> Job:
    """Cleanup done: logs stored, runtime resources gone, capacity released (once)."""
    if not job.state.is_terminal:
        raise InvalidTransition(job.job_id, job.state, "CLEANED", "job has not finished")
    return job.model_copy(update={"cleaned_up": True, "capacity_held": False, "log_key": log_key})


def announce_due(job: Job) -> datetime:
    """When a finished job whose cleanup is still pending may be announced again."""
    if job.announce_after is not None:
        return job.announce_after
    return (job.finished_at or job.created_at) + REANNOUNCE_AFTER


def reannounced(job: Job, now: datetime) -> Job:
    """Announced again at `now`: the next time waits twice as long (at most an hour)."""
    if not job.state.is_terminal or job.cleaned_up:
        raise InvalidTransition(job.job_id, job.state, "REANNOUNCED", "only a finished job awaiting cleanup")
    finished = job.finished_at or job.created_at
    waited = max(announce_due(job) - finished, REANNOUNCE_AFTER)
    return job.model_copy(update={"announce_after": now + min(waited * 2, MAX_REANNOUNCE_GAP)})
