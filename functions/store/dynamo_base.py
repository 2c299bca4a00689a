"""State and helpers that every part of DynamoStore shares: rows <-> entities, dedup, loads."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.expressions.condition import Condition

from functions.domain.audit import AuditRecord
from functions.domain.model import Job, TaskSummary
from functions.ports import Clock
from functions.store import governance_rules, rules
from functions.store.errors import translated
from functions.store.tables import JobRow, Tables
from functions.store.tx import Write
from sdk.contracts.errors import AlreadyProcessed, Conflict, NotFound


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DynamoBase:
    def __init__(self, tables: Tables, *, clock: Clock | None = None) -> None:
        self._t = tables
        self._clock: Clock = clock or _UtcClock()  # only dates dedup keys for their TTL

    def _commit(self, write: Write) -> None:
        write.commit(self._t.connection)

    def _add_dedup(self, write: Write, dedup: str | None) -> None:
        if dedup is None:
            return
        row = self._t.dedup(key=dedup, expires_at=self._clock.now() + rules.DEDUP_TTL)
        write.put(
            row,
            condition=self._t.dedup.key.does_not_exist(),
            on_fail=AlreadyProcessed(f"event {dedup!r} was already applied"),
        )

    def _add_audit(self, write: Write, record: AuditRecord | None) -> None:
        """Append `record` in the same atomic write as the change it records."""
        if record is None:
            return
        rows = self._t.audit
        row = rows(
            record.tenant,
            governance_rules.at_id(record),
            tenant_actor=governance_rules.scoped(record.tenant, record.actor),
            tenant_resource=governance_rules.scoped(record.tenant, record.resource),
            body=record.model_dump_json(),
        )
        write.put(row, condition=rows.at_id.does_not_exist(), on_fail=governance_rules.duplicate_audit(record))

    def _job_row(self, job: Job) -> JobRow:
        """The full row: body, lock, and the sparse index attributes of the job's state.

        An index attribute is absent (None is not written), not empty: that is what
        keeps the queue, deadline and release indexes sparse.
        """
        queued, active = rules.queue_entry(job), rules.deadline_entry(job)
        unreleased = rules.release_entry(job)
        return self._t.jobs(
            job.job_id,
            task_id=job.task_id,
            attempt=job.attempt,
            tenant=job.tenant,
            version=job.version,
            capacity_held=job.capacity_held,
            body=job.model_dump_json(),
            queue_pool=queued and queued.pool,
            queue_key=queued and queued.key,
            active_pool=active and active.pool,
            deadline_at=active and active.key,
            release_pool=unreleased and unreleased.pool,
            announce_at=unreleased and unreleased.key,
        )

    def _put_new_job(self, write: Write, job: Job) -> None:
        write.put(
            self._job_row(job),
            condition=self._t.jobs.job_id.does_not_exist(),
            on_fail=Conflict(f"job {job.job_id} already exists"),
        )
        if rules.queue_entry(job) is not None:
            self._count_queued(write, job, +1)
        self._put_summary(write, TaskSummary.of(job))

    def _put_summary(self, write: Write, summary: TaskSummary) -> None:
        write.put(self._t.summaries(summary.task_id, tenant=summary.tenant, body=summary.model_dump_json()))

    def _count_queued(self, write: Write, job: Job, delta: int) -> None:
        """The tenant's queued-jobs counter in the pool (admission visits tenants with queued > 0)."""
        cap = self._t.capacity
        write.update(
            cap(rules.pool_pk(job.pool), rules.tenant_sk(job.tenant)),
            actions=[cap.queued.add(delta)],
            condition=None,
            on_fail=Conflict(f"pool {job.pool!r}: queued count of {job.tenant!r} refused"),
        )

    def _put_saved_job(
        self, write: Write, job: Job, *, expected_version: int, stored: Condition | None = None, why: str = ""
    ) -> Job:
        """Add `job` with version + 1, conditioned on the stored version; returns what is written.

        The stored row must also belong to the same tenant and, unless `stored` says what
        else it must be, agree on capacity_held: only launch_job and release_job may
        change that flag, since they move the counters with it.
        """
        saved = job.model_copy(update={"version": expected_version + 1})
        jobs = self._t.jobs
        if stored is None:
            stored = jobs.capacity_held == job.capacity_held
            why = why or rules.HELD_CHANGED
        condition = (jobs.version == expected_version) & (jobs.tenant == job.tenant) & stored
        write.put(
            self._job_row(saved),
            condition=condition,
            on_fail=Conflict(f"job {job.job_id}: stored version is not {expected_version}{why}"),
        )
        return saved

    def _load_job(self, job_id: str) -> JobRow:
        with translated(missing=NotFound("job", job_id)):
            return self._t.jobs.get(job_id, consistent_read=True)


def job_of(row: JobRow) -> Job:
    """The stored body, with the lock counter of the row (the source of truth)."""
    return Job.model_validate_json(row.body).model_copy(update={"version": int(row.version)})
