"""InMemoryStore: an honest fake of DynamoStore for unit tests of the core (every port it has).

Same errors, same ordering (the index keys of functions.store.rules), same budget and
dedup checks, and the same precedence when several conditions fail at once. Entities
are kept as JSON, as DynamoDB keeps them, so whatever does not round-trip fails here
too. One lock makes each call atomic, like one DynamoDB transaction. Unlike DynamoDB,
dedup keys never expire and lists are never stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from functions.domain.admission import Capacity, PoolPolicy, TenantShare
from functions.domain.audit import AuditRecord
from functions.domain.model import Checkpoint, Epoch, Job, Project, ReportMark, Task, TaskSummary
from functions.store import rules
from functions.store.memory_approvals import InMemoryApprovalStore
from functions.store.memory_datasets import InMemoryDatasetStore
from functions.store.memory_models import InMemoryModelStore
from sdk.contracts.errors import AlreadyProcessed, Conflict, NotFound

_Entry = Callable[[Job], rules.Entry | None]


class InMemoryStore(InMemoryDatasetStore, InMemoryApprovalStore, InMemoryModelStore):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._projects: dict[str, str] = {}
        self._tasks: dict[str, str] = {}
        self._jobs: dict[str, str] = {}
        self._epochs: dict[tuple[str, int], str] = {}
        self._checkpoints: dict[tuple[str, int], str] = {}
        self._usage: dict[str, dict[str, int]] = {}
        self._running: dict[tuple[str, str], int] = {}
        self._tenant_used: dict[tuple[str, str], dict[str, int]] = {}
        self._queued: dict[tuple[str, str], int] = {}
        self._dedup: set[str] = set()
        self._marks: dict[str, str] = {}
        self._summaries: dict[str, str] = {}
        self._parsed: dict[str, tuple[str, Job]] = {}  # job id -> (body, parsed): parse each body once
        self._parsed_tasks: dict[str, tuple[str, Task]] = {}  # task id -> (body, parsed), as for jobs
        self._entries: dict[tuple[str, str], tuple[str, rules.Entry | None]] = {}  # (index, job id) -> (body, entry)

    # projects

    def create_project(self, project: Project) -> None:
        with self._lock:
            if project.project_id in self._projects:
                raise Conflict(f"project {project.project_id} already exists")
            self._projects[project.project_id] = project.model_dump_json()

    def get_project(self, tenant: str, project_id: str) -> Project:
        with self._lock:
            body = self._projects.get(project_id)
        project = None if body is None else Project.model_validate_json(body)
        if project is None or project.tenant != tenant:
            raise NotFound("project", project_id)
        return project

    def list_projects(self, tenant: str) -> list[Project]:
        with self._lock:
            projects = [Project.model_validate_json(body) for body in self._projects.values()]
        mine = [p for p in projects if p.tenant == tenant]
        return sorted(mine, key=lambda p: rules.utc_iso(p.created_at), reverse=True)

    def update_project(self, project: Project) -> None:
        with self._lock:
            body = self._projects.get(project.project_id)
            if body is None or Project.model_validate_json(body).tenant != project.tenant:
                raise NotFound("project", project.project_id)
            self._projects[project.project_id] = project.model_dump_json()

    # tasks

    def create_task(
        self, task: Task, first_job: Job, *, dedup: str | None = None, audit: AuditRecord | None = None
    ) -> None:
        with self._lock:
            self._check_dedup(dedup)
            if task.task_id in self._tasks:
                raise Conflict(f"task {task.task_id} already exists")
            self._check_new_job(first_job)
            self._check_audit_locked(audit)
            self._tasks[task.task_id] = task.model_dump_json()
            self._put_new_locked(first_job)
            self._mark(dedup)
            self._put_audit_locked(audit)

    def get_task(self, tenant: str, task_id: str) -> Task:
        with self._lock:
            body = self._tasks.get(task_id)
        task = None if body is None else Task.model_validate_json(body)
        if task is None or task.tenant != tenant:
            raise NotFound("task", task_id)
        return task

    def _parse_task(self, task_id: str, body: str) -> Task:
        cached = self._parsed_tasks.get(task_id)
        if cached is not None and cached[0] == body:
            return cached[1]
        task = Task.model_validate_json(body)
        self._parsed_tasks[task_id] = (body, task)
        return task

    def list_tasks(self, tenant: str, project_id: str) -> list[Task]:
        with self._lock:
            tasks = [self._parse_task(tid, body) for tid, body in self._tasks.items()]
        mine = [t for t in tasks if t.project_id == project_id and t.tenant == tenant]
        return sorted(mine, key=lambda t: rules.utc_iso(t.created_at))

    def task_page(
        self, tenant: str, project_id: str, *, after: str | None = None, limit: int = 50
    ) -> tuple[list[Task], str | None]:
        start = rules.parse_task_cursor(after) if after is not None else None
        with self._lock:
            tasks = [self._parse_task(tid, body) for tid, body in self._tasks.items()]
        mine = [t for t in tasks if t.project_id == project_id and t.tenant == tenant]
        ordered = sorted(((rules.utc_iso(t.created_at), t.task_id), t) for t in mine)  # one key per task
        page = [t for key, t in ordered if start is None or key > start][:limit]
        return page, rules.task_cursor(page[-1]) if len(page) == limit else None

    def task_summaries(self, tenant: str, task_ids: Iterable[str]) -> dict[str, TaskSummary]:
        with self._lock:
            bodies = [body for task_id in dict.fromkeys(task_ids) if (body := self._summaries.get(task_id))]
        found = [TaskSummary.model_validate_json(body) for body in bodies]
        return {s.task_id: s for s in found if s.tenant == tenant}

    def update_task(self, task: Task, *, expected_version: int, audit: AuditRecord | None = None) -> Task:
        with self._lock:
            body = self._tasks.get(task.task_id)
            stored = None if body is None else Task.model_validate_json(body)
            if stored is None or stored.tenant != task.tenant:
                raise NotFound("task", task.task_id)
            if stored.version != expected_version:
                raise Conflict(f"task {task.task_id}: stored version is not {expected_version}")
            self._check_audit_locked(audit)
            saved = task.model_copy(update={"version": expected_version + 1})
            self._tasks[task.task_id] = saved.model_dump_json()
            self._put_audit_locked(audit)
            return saved

    # jobs

    def get_job(self, tenant: str, job_id: str) -> Job:
        with self._lock:
            job = self._job(job_id)
        if job is None or job.tenant != tenant:
            raise NotFound("job", job_id)
        return job

    def list_jobs(self, tenant: str, task_id: str) -> list[Job]:
        mine = [j for j in self._all_jobs() if j.task_id == task_id and j.tenant == tenant]
        return sorted(mine, key=lambda j: j.attempt)

    def create_job(self, job: Job, *, dedup: str | None = None, audit: AuditRecord | None = None) -> None:
        with self._lock:
            self._check_dedup(dedup)
            self._check_new_job(job)
            self._check_audit_locked(audit)
            self._put_new_locked(job)
            self._mark(dedup)
            self._put_audit_locked(audit)

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
        with self._lock:
            self._check_dedup(dedup)
            stored = self._check_version(job, expected_version)
            if stored.capacity_held != job.capacity_held:
                raise self._stale(job, expected_version, rules.HELD_CHANGED)
            self._check_audit_locked(audit)
            if rules.left_queue_by_save(job) and rules.queue_entry(stored) is None:
                raise self._stale(job, expected_version, rules.NOT_QUEUED)
            saved = self._store(job, expected_version)
            if rules.left_queue_by_save(job):
                self._queued[(job.pool, job.tenant)] -= 1
            self._put_audit_locked(audit)
            for e in epochs:
                self._epochs[(e.job_id, e.epoch)] = e.model_dump_json()
            for c in checkpoints:
                self._checkpoints[(c.job_id, c.epoch)] = c.model_dump_json()
            if summary is not None:
                self._summaries[summary.task_id] = summary.model_dump_json()
            self._mark(dedup)
        return saved

    def epochs(self, tenant: str, job_id: str) -> list[Epoch]:
        with self._lock:
            found = [Epoch.model_validate_json(body) for (jid, _), body in self._epochs.items() if jid == job_id]
        return sorted((e for e in found if e.tenant == tenant), key=lambda e: e.epoch)

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]:
        with self._lock:
            found = [
                Checkpoint.model_validate_json(body) for (jid, _), body in self._checkpoints.items() if jid == job_id
            ]
        return sorted((c for c in found if c.tenant == tenant), key=lambda c: c.epoch)

    # capacity

    def launch_job(
        self, job: Job, *, expected_version: int, policy: PoolPolicy, audit: AuditRecord | None = None
    ) -> Job:
        rules.check_launchable(job)
        limits = rules.usage_limits(job, policy)
        request = rules.counters(rules.request_of(job))
        with self._lock:
            stored = self._check_version(job, expected_version)
            if rules.queue_entry(stored) is None:
                raise self._stale(job, expected_version, rules.NOT_QUEUED)
            usage = self._usage.setdefault(job.pool, dict.fromkeys(rules.COUNTERS, 0))
            if any(usage[name] > limits[name] for name in rules.COUNTERS):
                raise rules.over_budget(job)
            if self._running.get((job.pool, job.tenant), 0) >= policy.tenant_cap:
                raise rules.over_tenant_cap(job, policy)
            self._check_audit_locked(audit)
            self._put_audit_locked(audit)
            mine = self._tenant_used.setdefault((job.pool, job.tenant), dict.fromkeys(rules.COUNTERS, 0))
            for name in rules.COUNTERS:
                usage[name] += request[name]
                mine[name] += request[name]
            self._running[(job.pool, job.tenant)] = self._running.get((job.pool, job.tenant), 0) + 1
            self._queued[(job.pool, job.tenant)] -= 1
            return self._store(job, expected_version)

    def release_job(self, job: Job, *, expected_version: int, dedup: str | None = None) -> Job:
        rules.check_releasable(job)
        amount = rules.counters(rules.request_of(job))
        with self._lock:
            self._check_dedup(dedup)
            stored = self._check_version(job, expected_version)
            if rules.release_entry(stored) is None:
                raise self._stale(job, expected_version, rules.HOLDS_NOTHING)
            usage = self._usage.get(job.pool, dict.fromkeys(rules.COUNTERS, 0))
            if any(usage[name] < amount[name] for name in rules.COUNTERS):
                raise Conflict(f"pool {job.pool!r}: releasing job {job.job_id} would go below zero")
            if self._running.get((job.pool, job.tenant), 0) < 1:
                raise Conflict(f"pool {job.pool!r}: tenant {job.tenant!r} has no job to release")
            mine = self._tenant_used.setdefault((job.pool, job.tenant), dict.fromkeys(rules.COUNTERS, 0))
            for name in rules.COUNTERS:
                usage[name] -= amount[name]
                mine[name] = max(0, mine[name] - amount[name])
            self._running[(job.pool, job.tenant)] -= 1
            saved = self._store(job, expected_version)
            self._mark(dedup)
            return saved

    def usage(self, pool: str) -> tuple[Capacity, dict[str, int]]:
        with self._lock:
            used = Capacity(**self._usage.get(pool, {}))
            running = {tenant: n for (p, tenant), n in self._running.items() if p == pool and n > 0}
        return used, running

    # index lookups

    def queued_jobs(self, pool: str, *, tenant: str, limit: int = 100) -> list[Job]:
        return self._indexed({rules.queue_partition(pool, tenant)}, rules.queue_entry)[:limit]

    def pool_tenants(self, pool: str) -> dict[str, TenantShare]:
        with self._lock:
            names = {t for (p, t) in (*self._running, *self._queued) if p == pool}
            return {
                t: TenantShare(
                    used=Capacity(**self._tenant_used.get((pool, t), {})),
                    running=self._running.get((pool, t), 0),
                    queued=self._queued.get((pool, t), 0),
                )
                for t in sorted(names)
            }

    def due_jobs(self, pool: str, now: datetime, *, limit: int = 100) -> list[Job]:
        cutoff = rules.utc_iso(now)
        active = self._indexed(set(rules.deadline_partitions(pool)), rules.deadline_entry)
        return [job for job in active if _key(job, rules.deadline_entry) <= cutoff][:limit]

    def active_jobs(self, pool: str, *, page: int = 100) -> Iterator[list[Job]]:
        for partition in rules.deadline_partitions(pool):
            found = self._indexed({partition}, rules.deadline_entry)
            for start in range(0, len(found), page):
                yield found[start : start + page]

    def unreleased_jobs(self, pool: str, now: datetime, *, limit: int = 100) -> list[Job]:
        cutoff = rules.utc_iso(now)
        waiting = self._indexed({pool}, rules.release_entry)
        return [job for job in waiting if _key(job, rules.release_entry) <= cutoff][:limit]

    def jobs_by_id(self, job_ids: Iterable[str]) -> list[Job]:
        with self._lock:
            found = [self._job(job_id) for job_id in dict.fromkeys(job_ids)]
        return [job for job in found if job is not None]

    # report marks (the ingress)

    def processed(self, dedup: str) -> bool:
        with self._lock:
            return dedup in self._dedup

    def note_report(self, tenant: str, job_id: str, *, at: datetime, outcome: bool) -> None:
        with self._lock:
            body = self._marks.get(job_id)
            old = None if body is None else ReportMark.model_validate_json(body)
            mark = ReportMark(
                job_id=job_id,
                tenant=tenant,
                accepted_at=max(at, old.accepted_at) if old else at,
                outcome_at=(at if outcome else None) or (old.outcome_at if old else None),
            )
            self._marks[job_id] = mark.model_dump_json()

    def report_marks(self, job_ids: Iterable[str]) -> dict[str, ReportMark]:
        with self._lock:
            bodies = [body for job_id in dict.fromkeys(job_ids) if (body := self._marks.get(job_id))]
        marks = [ReportMark.model_validate_json(body) for body in bodies]
        return {mark.job_id: mark for mark in marks}

    # helpers (callers hold the lock where they change state)

    def _job(self, job_id: str) -> Job | None:
        body = self._jobs.get(job_id)
        return None if body is None else self._parse(job_id, body)

    def _parse(self, job_id: str, body: str) -> Job:
        cached = self._parsed.get(job_id)
        if cached is not None and cached[0] == body:
            return cached[1]
        job = Job.model_validate_json(body)
        self._parsed[job_id] = (body, job)
        return job

    def _all_jobs(self) -> list[Job]:
        with self._lock:
            return [self._parse(job_id, body) for job_id, body in self._jobs.items()]

    def _indexed(self, partitions: set[str], entry: _Entry) -> list[Job]:
        with self._lock:
            rows = [(self._entry(job_id, body, entry), job_id, body) for job_id, body in self._jobs.items()]
            kept = sorted((e.key, job_id, body) for e, job_id, body in rows if e is not None and e.pool in partitions)
            return [self._parse(job_id, body) for _, job_id, body in kept]

    def _entry(self, job_id: str, body: str, entry: _Entry) -> rules.Entry | None:
        """The job's row in an index, computed once per stored version (as DynamoDB keeps it)."""
        cached = self._entries.get((entry.__name__, job_id))
        if cached is not None and cached[0] == body:
            return cached[1]
        found = entry(self._parse(job_id, body))
        self._entries[(entry.__name__, job_id)] = (body, found)
        return found

    def _check_dedup(self, dedup: str | None) -> None:
        if dedup is not None and dedup in self._dedup:
            raise AlreadyProcessed(f"event {dedup!r} was already applied")

    def _mark(self, dedup: str | None) -> None:
        if dedup is not None:
            self._dedup.add(dedup)

    def _put_new_locked(self, job: Job) -> None:
        self._jobs[job.job_id] = job.model_dump_json()
        self._summaries[job.task_id] = TaskSummary.of(job).model_dump_json()
        if rules.queue_entry(job) is not None:
            self._queued[(job.pool, job.tenant)] = self._queued.get((job.pool, job.tenant), 0) + 1

    def _check_new_job(self, job: Job) -> None:
        if job.job_id in self._jobs:
            raise Conflict(f"job {job.job_id} already exists")

    def _check_version(self, job: Job, expected_version: int) -> Job:
        stored = self._job(job.job_id)
        if stored is None or stored.version != expected_version or stored.tenant != job.tenant:
            raise self._stale(job, expected_version)
        return stored

    @staticmethod
    def _stale(job: Job, expected_version: int, why: str = "") -> Conflict:
        return Conflict(f"job {job.job_id}: stored version is not {expected_version}{why}")

    def _store(self, job: Job, expected_version: int) -> Job:
        saved = job.model_copy(update={"version": expected_version + 1})
        self._jobs[job.job_id] = saved.model_dump_json()
        return saved


def _key(job: Job, entry: _Entry) -> str:
    found = entry(job)
    assert found is not None  # callers keep only jobs that have an entry
    return found.key
