"""Jobs in DynamoDB: versioned saves with their epoch/checkpoint/dedup rows, and the
queue, deadline and release lookups, all served by sparse indexes (never a scan).

Index reads are eventually consistent, so every lookup re-reads the rows it found
(strongly consistent) and keeps only those whose current state still belongs there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice

from pynamodb.expressions.update import Action

from functions.domain.audit import AuditRecord
from functions.domain.model import Checkpoint, Epoch, Job, ReportMark, TaskSummary
from functions.store import rules
from functions.store.dynamo_base import DynamoBase, job_of
from functions.store.errors import translated
from functions.store.tables import JobRow
from functions.store.tx import Write
from sdk.contracts.errors import NotFound

_Entry = Callable[[Job], rules.Entry | None]


class JobsMixin(DynamoBase):
    def get_job(self, tenant: str, job_id: str) -> Job:
        row = self._load_job(job_id)
        if row.tenant != tenant:
            raise NotFound("job", job_id)
        return job_of(row)

    def list_jobs(self, tenant: str, task_id: str) -> list[Job]:
        jobs = self._t.jobs
        with translated():
            rows = list(jobs.by_task.query(task_id, filter_condition=jobs.tenant == tenant))
        return [job_of(row) for row in rows]

    def create_job(self, job: Job, *, dedup: str | None = None, audit: AuditRecord | None = None) -> None:
        write = Write()
        self._add_dedup(write, dedup)
        self._put_new_job(write, job)
        self._add_audit(write, audit)
        self._commit(write)

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
        write = Write()
        self._add_dedup(write, dedup)
        if rules.left_queue_by_save(job):  # a queued job cancelled: it leaves its tenant's queue
            jobs = self._t.jobs
            saved = self._put_saved_job(
                write,
                job,
                expected_version=expected_version,
                stored=jobs.queue_pool.exists() & (jobs.capacity_held == job.capacity_held),
                why=rules.NOT_QUEUED,
            )
            self._count_queued(write, job, -1)
        else:
            saved = self._put_saved_job(write, job, expected_version=expected_version)
        # A report re-sent under a new event id overwrites its own record: last word wins.
        for e in epochs:
            write.put(self._t.epochs(e.job_id, e.epoch, tenant=e.tenant, body=e.model_dump_json()))
        for c in checkpoints:
            write.put(self._t.checkpoints(c.job_id, c.epoch, tenant=c.tenant, body=c.model_dump_json()))
        if summary is not None:
            self._put_summary(write, summary)
        self._add_audit(write, audit)
        self._commit(write)
        return saved

    def epochs(self, tenant: str, job_id: str) -> list[Epoch]:
        epochs = self._t.epochs
        with translated():
            rows = list(epochs.query(job_id, filter_condition=epochs.tenant == tenant, consistent_read=True))
        return [Epoch.model_validate_json(row.body) for row in rows]

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]:
        checkpoints = self._t.checkpoints
        with translated():
            rows = list(checkpoints.query(job_id, filter_condition=checkpoints.tenant == tenant, consistent_read=True))
        return [Checkpoint.model_validate_json(row.body) for row in rows]

    def queued_jobs(self, pool: str, *, tenant: str, limit: int = 100) -> list[Job]:
        partition = rules.queue_partition(pool, tenant)
        with translated():
            found = list(self._t.jobs.queue.query(partition, limit=limit))
        return self._current(found, partitions={partition}, entry=rules.queue_entry)

    def due_jobs(self, pool: str, now: datetime, *, limit: int = 100) -> list[Job]:
        jobs = self._t.jobs
        cutoff = rules.utc_iso(now)
        found: list[JobRow] = []
        partitions = rules.deadline_partitions(pool)
        with translated():
            for partition in partitions:  # each query returns only the shard's due rows
                found += jobs.deadlines.query(partition, jobs.deadline_at <= cutoff, limit=limit)
        due = self._current(found, partitions=set(partitions), entry=rules.deadline_entry)
        return [job for job in due if _key(job, rules.deadline_entry) <= cutoff][:limit]

    def active_jobs(self, pool: str, *, page: int = 100) -> Iterator[list[Job]]:
        for partition in rules.deadline_partitions(pool):
            rows = iter(self._t.jobs.deadlines.query(partition, page_size=page))
            while True:
                with translated():  # each page is read as it is needed, to the end
                    chunk = list(islice(rows, page))
                if not chunk:
                    break
                yield self._current(chunk, partitions={partition}, entry=rules.deadline_entry)

    def unreleased_jobs(self, pool: str, now: datetime, *, limit: int = 100) -> list[Job]:
        jobs = self._t.jobs
        cutoff = rules.utc_iso(now)
        with translated():
            found = list(jobs.unreleased.query(pool, jobs.announce_at <= cutoff, limit=limit))
        waiting = self._current(found, partitions={pool}, entry=rules.release_entry)
        return [job for job in waiting if _key(job, rules.release_entry) <= cutoff]

    def task_summaries(self, tenant: str, task_ids: Iterable[str]) -> dict[str, TaskSummary]:
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return {}
        with translated():
            rows = list(self._t.summaries.batch_get(ids, consistent_read=True))  # reports read-modify-write it
        found = [TaskSummary.model_validate_json(row.body) for row in rows if row.tenant == tenant]
        return {s.task_id: s for s in found}

    def jobs_by_id(self, job_ids: Iterable[str]) -> list[Job]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return []
        with translated():
            rows = list(self._t.jobs.batch_get(ids, consistent_read=True))
        return [job_of(row) for row in rows]

    def processed(self, dedup: str) -> bool:
        with translated():
            return self._t.dedup.count(dedup, consistent_read=True, limit=1) > 0

    def note_report(self, tenant: str, job_id: str, *, at: datetime, outcome: bool) -> None:
        marks = self._t.report_marks
        stamp = rules.utc_iso(at)
        actions: list[Action] = [
            marks.tenant.set(tenant),
            marks.expires_at.set(self._clock.now() + rules.DEDUP_TTL),
            marks.accepted_at.set(stamp),
        ]
        if outcome:
            actions.append(marks.outcome_at.set(stamp))
        with translated():  # one update, no read: the ingress pays a single write per report
            marks(job_id).update(actions=actions)

    def report_marks(self, job_ids: Iterable[str]) -> dict[str, ReportMark]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        with translated():
            rows = list(self._t.report_marks.batch_get(ids, consistent_read=True))
        return {
            row.job_id: ReportMark(
                job_id=row.job_id,
                tenant=row.tenant,
                accepted_at=rules.parse_utc(row.accepted_at),
                outcome_at=rules.parse_utc(row.outcome_at) if row.outcome_at else None,
            )
            for row in rows
        }

    def _current(self, found: Iterable[JobRow], *, partitions: set[str], entry: _Entry) -> list[Job]:
        """Re-read what an index returned; keep the jobs still in it, in its order."""
        ids = [row.job_id for row in found]
        if not ids:
            return []
        with translated():
            rows = list(self._t.jobs.batch_get(ids, consistent_read=True))
        jobs = [job_of(row) for row in rows]
        kept = [job for job in jobs if (e := entry(job)) is not None and e.pool in partitions]
        return sorted(kept, key=lambda job: (_key(job, entry), job.job_id))


def _key(job: Job, entry: _Entry) -> str:
    found = entry(job)
    assert found is not None  # _current keeps only jobs that have an entry
    return found.key
