"""What both stores agree on: index entries, timestamps, capacity arithmetic, preconditions.

DynamoStore writes these values as (sparse) index attributes and InMemoryStore sorts by
the very same strings, so the fake answers in exactly the order the real store does.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from functions.domain import lifecycle
from functions.domain.admission import Capacity, PoolPolicy, queue_key
from functions.domain.model import Job, JobState, Task
from sdk.contracts.errors import CapacityExhausted, InvalidTransition, Problem, ValidationError

# Long enough for any redelivery of a CloudEvent; DynamoDB's TTL removes the key after.
DEDUP_TTL = timedelta(days=7)
# An active job without a launch time has no deadline; it must still show in active_jobs.
NO_DEADLINE = "9999-12-31T23:59:59.999999Z"
USAGE_SK = "usage"
# Why a job write lost its condition, besides a stale version (said the same by both stores).
HELD_CHANGED = " (or capacity_held changed outside launch_job/release_job)"
NOT_QUEUED = " (or it is no longer QUEUED)"
HOLDS_NOTHING = " (or it holds no capacity)"
TENANT_SK_PREFIX = "tenant#"
# The deadlines index is written on every report of every active job. Keyed by pool alone,
# 10,000 jobs reporting every 10 s put ~2,000 writes/s on one partition (DynamoDB takes
# ~1,000/s per partition); `<pool>#<shard>` spreads them, and the sweep queries each shard.
DEADLINE_SHARDS = 8

COUNTERS = ("slots", "cpu_milli", "memory_mb", "gpu")


class Entry(NamedTuple):
    """One row of a sparse index: its partition (the pool, or `<pool>#<shard>` for the
    deadlines), and the sort key within it."""

    pool: str
    key: str


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 (microseconds, 'Z'), so string order is time order.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def parse_utc(text: str) -> datetime:
    """The inverse of utc_iso."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def queue_partition(pool: str, tenant: str) -> str:
    return f"{pool}#{tenant}"


def queue_entry(job: Job) -> Entry | None:
    """Each tenant's launch queue in a pool holds its QUEUED jobs only (priority, then creation)."""
    if job.state is not JobState.QUEUED:
        return None
    return Entry(queue_partition(job.pool, job.tenant), queue_key(job))


def left_queue_by_save(job: Job) -> bool:
    """save_job is writing a job that was QUEUED and no longer is (cancelled before launch):
    the only save that takes a job out of a queue (launch_job does it for launches)."""
    return (
        job.state is JobState.CANCELLED
        and job.launched_at is None
        and not job.cleaned_up
        and job.announce_after is None
    )


def deadline_shard(job_id: str) -> int:
    return zlib.crc32(job_id.encode()) % DEADLINE_SHARDS


def deadline_partition(pool: str, shard: int) -> str:
    return f"{pool}#{shard}"


def deadline_partitions(pool: str) -> list[str]:
    """Every shard of a pool's deadlines index (the sweep queries each)."""
    return [deadline_partition(pool, shard) for shard in range(DEADLINE_SHARDS)]


def deadline_entry(job: Job) -> Entry | None:
    """The sweep's index holds LAUNCHING/RUNNING jobs only, keyed by their next deadline,
    in one of the pool's DEADLINE_SHARDS partitions (by job id)."""
    if not job.state.is_active:
        return None
    deadline = job.deadline_at
    return Entry(
        deadline_partition(job.pool, deadline_shard(job.job_id)), NO_DEADLINE if deadline is None else utc_iso(deadline)
    )


def release_entry(job: Job) -> Entry | None:
    """Finished jobs whose capacity is still reserved (cleanup not done yet), keyed by
    when they may be announced again, so the sweep reads only those due."""
    if not (job.state.is_terminal and job.capacity_held):
        return None
    return Entry(job.pool, utc_iso(lifecycle.announce_due(job)))


def pool_pk(pool: str) -> str:
    return f"pool#{pool}"


def tenant_sk(tenant: str) -> str:
    return f"{TENANT_SK_PREFIX}{tenant}"


def request_of(job: Job) -> Capacity:
    return Capacity.of(job.resources)


def counters(capacity: Capacity) -> dict[str, int]:
    return {name: int(getattr(capacity, name)) for name in COUNTERS}


def usage_limits(job: Job, policy: PoolPolicy) -> dict[str, int]:
    """Per counter, the most usage may be before this job's request is added.

    Raises CapacityExhausted when the request alone exceeds the budget: otherwise a pool
    with no usage row yet would pass the 'attribute_not_exists OR x <= limit' condition.
    """
    request = request_of(job)
    if not request.fits_within(policy.budget):
        raise CapacityExhausted(
            f"job {job.job_id} requests {request} which exceeds the budget of pool {job.pool!r} ({policy.budget})"
        )
    budget, wanted = counters(policy.budget), counters(request)
    return {name: budget[name] - wanted[name] for name in COUNTERS}


def check_launchable(job: Job) -> None:
    """launch_job saves what lifecycle.launch returned, nothing else."""
    if job.state is not JobState.LAUNCHING or not job.capacity_held:
        raise InvalidTransition(
            job.job_id, job.state, JobState.LAUNCHING, "launch_job takes a LAUNCHING job that holds capacity"
        )


def check_releasable(job: Job) -> None:
    """release_job saves what lifecycle.mark_cleaned returned, nothing else."""
    if not job.state.is_terminal or not job.cleaned_up or job.capacity_held:
        raise InvalidTransition(
            job.job_id,
            job.state,
            "RELEASED",
            "release_job takes a finished, cleaned-up job that no longer holds capacity",
        )


def over_budget(job: Job) -> CapacityExhausted:
    return CapacityExhausted(f"pool {job.pool!r}: launching job {job.job_id} would exceed the budget")


def over_tenant_cap(job: Job, policy: PoolPolicy) -> CapacityExhausted:
    return CapacityExhausted(f"pool {job.pool!r}: tenant {job.tenant!r} already runs {policy.tenant_cap} jobs")


def task_cursor(task: Task) -> str:
    """Where the next page of a project's tasks starts (after this task)."""
    return f"{utc_iso(task.created_at)}|{task.task_id}"


def parse_task_cursor(cursor: str) -> tuple[str, str]:
    """(created_at, task_id) of a cursor; ValidationError naming `after` if it is not one."""
    created, sep, task_id = cursor.partition("|")
    if not sep or not task_id or len(created) != len("2030-01-01T00:00:00.000000Z"):
        raise ValidationError([Problem("after", "not a cursor this listing returned")])
    return created, task_id
