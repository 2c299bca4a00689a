"""What the rooms of the store contract share: the store they test (a Protocol of the ports),
a fixed clock, two pool policies, builders of domain objects and short steps (queue, launch,
finish and clean)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from functions.domain import lifecycle
from functions.domain.admission import Capacity, PoolPolicy
from functions.domain.datasets import DatasetVersion
from functions.domain.model import Epoch, Job, Project, Task
from functions.ports import DatasetStore, JobStore, ProjectStore, TaskStore
from sdk.contracts.specs import FailureKind, Limits, Resources, RetryPolicy, TaskSpec

T0 = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = PoolPolicy(budget=Capacity(slots=5, cpu_milli=5000, memory_mb=5 * 1024, gpu=0), tenant_cap=20)
BIG = PoolPolicy(budget=Capacity(slots=1000, cpu_milli=1_000_000, memory_mb=1_000_000, gpu=0), tenant_cap=1000)


class Store(ProjectStore, TaskStore, JobStore, DatasetStore, Protocol):
    pass


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def project(pid: str, *, tenant: str = "acme", created: float = 0) -> Project:
    return Project(
        project_id=pid,
        tenant=tenant,
        name=pid,
        purpose="tests",
        created_at=at(created),
        expires_at=at(created + 86_400),
    )


def task(tid: str, *, pid: str = "p1", tenant: str = "acme", created: float = 0) -> Task:
    return Task(
        task_id=tid,
        project_id=pid,
        tenant=tenant,
        created_at=at(created),
        spec=TaskSpec(name=tid, command=["python", "train.py"]),
    )


def job(
    jid: str,
    *,
    tid: str = "t1",
    tenant: str = "acme",
    attempt: int = 1,
    pool: str = "gpu",
    priority: int = 0,
    created: float = 0,
    cpu: float = 1.0,
) -> Job:
    return Job(
        job_id=jid,
        task_id=tid,
        project_id="p1",
        tenant=tenant,
        attempt=attempt,
        pool=pool,
        priority=priority,
        resources=Resources(cpu=cpu, memory_mb=1024),
        created_at=at(created),
        limits=Limits(launch_s=60, epoch_s=600, ttl_s=3600),
        retry=RetryPolicy(),
    )


def epoch(jid: str, n: int, *, loss: float, tenant: str = "acme") -> Epoch:
    return Epoch(job_id=jid, tenant=tenant, epoch=n, metrics={"loss": loss}, reported_at=at(n))


def dataset_version(n: int, *, name: str = "intents", tenant: str = "acme", pid: str = "p1") -> DatasetVersion:
    return DatasetVersion(
        tenant=tenant,
        project_id=pid,
        name=name,
        version=n,
        key=f"{tenant}/{pid}/{name}/v{n}-abc",
        created_at=at(n),
        created_by="dana@acme",
    )


def queued(store: Store, *jobs: Job) -> list[Job]:
    for j in jobs:
        store.create_job(j)
    return list(jobs)


def launched(store: Store, j: Job, *, now: float = 10, policy: PoolPolicy = POLICY) -> Job:
    return store.launch_job(lifecycle.launch(j, at(now)), expected_version=j.version, policy=policy)


def finished_and_cleaned(store: Store, j: Job, *, now: float = 100) -> Job:
    """Launched `j` -> FAILED (save_job) -> cleaned; returns the cleaned, unsaved job."""
    failed = store.save_job(
        lifecycle.fail(j, at(now), reason="boom", kind=FailureKind.TRAINER), expected_version=j.version
    )
    return lifecycle.mark_cleaned(failed, log_key=None)
