"""In-process figures of the platform benchmark: admission, the sweep, fairness and the
comparison, on the in-memory store and on DynamoStore against the embedded DynamoDB
(moto) in its own process, so the store's CPU is measured apart from ours."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.procs import free_port
from functions import bootstrap
from functions.bootstrap import PlatformStore
from functions.core import launching, reads, sweeping
from functions.core.deps import CoreConfig, Deps
from functions.domain import lifecycle
from functions.domain.admission import Capacity, PoolPolicy
from functions.domain.model import Job, JobState, Project, Task, TaskSummary
from functions.runtimes.recording import RecordingRuntime
from functions.store import rules
from functions.store.dynamo import DynamoStore
from functions.store.memory import InMemoryStore
from functions.store.tables import Tables, create_all, make_tables
from sdk.contracts.errors import Conflict
from sdk.contracts.specs import Limits, Resources, RetryPolicy, TaskSpec

T0 = datetime(2030, 1, 1, tzinfo=UTC)
SECRET = "bench-secret-bench-secret-0123456789"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


def deps_for(store: PlatformStore, policy: PoolPolicy) -> Deps:
    config = CoreConfig(
        token_secret=SECRET,
        platform_url="http://bench",
        pools={"default": policy},
        reconcile_grace_s=10,
        exit_grace_s=2,
    )
    return bootstrap.in_memory(config, store=store, clock=Clock())


def big(n: int) -> PoolPolicy:
    return PoolPolicy(budget=Capacity(slots=n, cpu_milli=n * 1000, memory_mb=n * 1024), tenant_cap=n)


def a_job(i: int, *, tenant: str = "acme", epoch_s: float = 3600, project_id: str = "p") -> Job:
    return Job(
        job_id=f"t-{i:05d}.1",
        task_id=f"t-{i:05d}",
        project_id=project_id,
        tenant=tenant,
        attempt=1,
        pool="default",
        resources=Resources(cpu=1, memory_mb=1024),
        created_at=T0 + timedelta(microseconds=i),
        limits=Limits(epoch_s=epoch_s, ttl_s=86_400),
        retry=RetryPolicy(),
    )


# -- the embedded DynamoDB, in its own process -----------------------------------------------

MOTO = """
import sys, time
from moto.server import ThreadedMotoServer
from functions.local.moto_isolation import isolate_moto_dynamodb
isolate_moto_dynamodb()
ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False).start()
while True:
    time.sleep(3600)
"""


@dataclass
class Embedded:
    pid: int
    url: str

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def embedded_dynamodb() -> Iterator[Embedded]:
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    proc = subprocess.Popen(
        [sys.executable, "-c", MOTO, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=1)
                break
            time.sleep(0.1)
        yield Embedded(proc.pid, url)
    finally:
        proc.kill()
        proc.wait()


def tables_at(url: str, prefix: str) -> Tables:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    tables = make_tables(prefix=prefix, host=url, region="us-east-1")
    create_all(tables)
    return tables


class ItemsRead:
    """Job items DynamoDB returned (Query, GetItem, BatchGetItem on the jobs table), from
    botocore's own event hooks; `other` counts items of every other table."""

    def __init__(self, tables: Tables) -> None:
        self.items = self.other = 0
        self._jobs = tables.jobs.Meta.table_name
        self._table = ""
        events = tables.connection.client.meta.events
        events.register("before-call.dynamodb", self._before)
        events.register("after-call.dynamodb", self._count)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params.get("body") or b"{}")
        self._table = body.get("TableName", "")

    def _count(self, parsed: dict[str, Any], **_: Any) -> None:
        mine = len(parsed.get("Items", [])) + (1 if "Item" in parsed else 0)
        if self._table == self._jobs:
            self.items += mine
        else:
            self.other += mine
        for table, found in parsed.get("Responses", {}).items():
            if table == self._jobs:
                self.items += len(found)
            else:
                self.other += len(found)


@dataclass
class Figure:
    name: str
    value: str
    note: str = ""


def timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def submit(store: Any, i: int, tenant: str) -> Job:
    """A task and its first job, as tasks.create writes them (the tenant's project made once)."""
    job = a_job(i, tenant=tenant, project_id=f"p-{tenant}")
    with contextlib.suppress(Conflict):
        store.create_project(
            Project(
                project_id=job.project_id,
                tenant=tenant,
                name="p",
                purpose="bench",
                created_at=T0,
                expires_at=T0 + timedelta(days=1),
            )
        )
    store.create_task(
        Task(
            task_id=job.task_id,
            project_id=job.project_id,
            tenant=tenant,
            created_at=job.created_at,
            spec=TaskSpec(name="t", command=["x"]),
        ),
        job,
    )
    return job


# -- admission --------------------------------------------------------------------------------


def admission(store: Any, n: int, embedded: Embedded | None = None) -> Figure:
    deps = deps_for(store, big(n))
    for i in range(n):
        submit(store, i, f"tenant-{i % 10}")
    before = embedded.cpu_s() if embedded else 0.0

    def drain() -> int:
        launched = 0
        while True:
            got = len(launching.admit_pool(deps, "default"))
            if not got:
                return launched
            launched += got

    wall, cpu, launched = timed(drain)
    store_cpu = (embedded.cpu_s() - before) if embedded else 0.0
    assert launched == n, launched
    note = f"{n} jobs, 10 tenants; platform CPU {cpu / n * 1000:.2f} ms/job"
    if embedded:
        note += f", store CPU {store_cpu / n * 1000:.2f} ms/job"
    return Figure("admission through launch", f"{n / wall:,.0f} jobs/s", note)


# -- the sweep ----------------------------------------------------------------------------------


def crowd(store: Any, deps: Deps, active: int, due: int, *, tables: Tables | None = None) -> None:
    """`active` RUNNING jobs in the store and the runtime, `due` of them past their epoch limit."""
    runtime = deps.runtime
    assert isinstance(runtime, RecordingRuntime)
    spec = None
    jobs = []
    for i in range(active):
        job = a_job(i, epoch_s=30 if i % (active // due) == 0 else 3600)
        running = lifecycle.mark_running(lifecycle.launch(job, T0), T0).model_copy(update={"version": 2})
        jobs.append(running)
        if spec is None:
            spec = launching._launch_spec(
                deps, running, command=["x"], args=[], image="", hyperparameters={}, code_dir=None
            )
        runtime.launched[job.job_id] = spec
    if tables is None:
        for job in jobs:
            store.create_job(job)
        store._usage["default"] = {"slots": active, "cpu_milli": active * 1000, "memory_mb": active * 1024, "gpu": 0}
        return
    with tables.jobs.batch_write() as batch:  # straight in: creating 10,000 jobs one by one takes minutes
        for job in jobs:
            batch.save(store._job_row(job))
    tables.capacity(
        rules.pool_pk("default"), rules.USAGE_SK, slots=active, cpu_milli=active * 1000, memory_mb=active * 1024, gpu=0
    ).save()


class CountingJobs:
    """What the sweep's job reads return, on the in-memory store."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store, self.items = store, 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if name not in ("due_jobs", "unreleased_jobs", "jobs_by_id", "queued_jobs", "report_marks"):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = found(*args, **kwargs)
            self.items += len(result)
            return result

        return counted


def sweep_figure(active: int, due: int, *, tables: Tables | None = None) -> Figure:
    store: Any = DynamoStore(tables) if tables is not None else InMemoryStore()
    deps = deps_for(store, big(active))
    crowd(store, deps, active, due, tables=tables)
    counter: Any = ItemsRead(tables) if tables is not None else CountingJobs(store)
    if tables is None:
        deps = Deps(**{**vars(deps), "jobs": counter})
    assert isinstance(deps.clock, Clock)
    deps.clock.t = T0 + timedelta(seconds=31)
    wall, _, report = timed(lambda: sweeping.sweep(deps))
    assert len(report.timed_out) == due and report.audited == 0, report
    where = "DynamoDB adapter" if tables is not None else "in-memory"
    other = f", {counter.other} capacity/grant rows" if tables is not None else ""
    return Figure(
        f"sweep, {active:,} active, {due} due ({where})",
        f"{counter.items} job items read",
        f"{wall * 1000:.0f} ms{other}; bound 2 x due = {2 * due}",
    )


# -- fairness ---------------------------------------------------------------------------------------


def fairness() -> Figure:
    store = InMemoryStore()
    deps = deps_for(store, PoolPolicy(budget=Capacity(slots=4, cpu_milli=4000, memory_mb=4096), tenant_cap=4))
    for i in range(4):
        submit(store, i, "big")
    launching.admit_pool(deps, "default")
    for i in range(4, 1004):
        submit(store, i, "big")
    mine = submit(store, 5000, "small")
    first = next(j for page in store.active_jobs("default") for j in page)
    done = lifecycle.mark_cleaned(
        store.save_job(lifecycle.cancel(first, T0), expected_version=first.version), log_key=None
    )
    store.release_job(done, expected_version=done.version)
    cycles = 0
    while store.get_job("small", mine.job_id).state is JobState.QUEUED and cycles < 50:
        launching.admit_pool(deps, "default")
        cycles += 1
    return Figure(
        "fairness: 1,000 queued vs 1",
        f"{cycles} admission cycle(s)",
        "tenant 'small' launches in the first cycle after a slot frees",
    )


# -- comparison --------------------------------------------------------------------------------


def comparison(store: Any, tasks: int, epochs: int, *, tables: Tables | None = None) -> Figure:
    deps = deps_for(store, big(4))
    now = T0
    store.create_project(
        Project(
            project_id="p", tenant="acme", name="p", purpose="bench", created_at=now, expires_at=now + timedelta(days=1)
        )
    )
    rows: list[Any] = []
    for i in range(tasks):
        job = a_job(i).model_copy(update={"state": JobState.SUCCEEDED, "finished_at": now})
        task = Task(
            task_id=job.task_id,
            project_id="p",
            tenant="acme",
            created_at=job.created_at,
            spec=TaskSpec(name=f"trial-{i}", command=["x"], hyperparameters={"lr": i / 1000}),
        )
        points = range(1, epochs + 1)
        summary = TaskSummary.of(job).model_copy(
            update={"series": {"loss": [(e, 1 / (e + i)) for e in points], "acc": [(e, e / 100) for e in points]}}
        )
        rows.append((task, job, summary))
    if tables is None:
        for task, job, summary in rows:
            store.create_task(task, job)
            store.save_job(job, expected_version=0, summary=summary)
    else:
        with tables.tasks.batch_write() as b1, tables.jobs.batch_write() as b2, tables.summaries.batch_write() as b3:
            for task, job, summary in rows:
                b1.save(store._task_row(task))
                b2.save(store._job_row(job))
                b3.save(tables.summaries(summary.task_id, tenant="acme", body=summary.model_dump_json()))
    pages: list[float] = []
    after = None
    begun = time.perf_counter()
    while True:
        start = time.perf_counter()
        page = reads.comparison(deps, tenant="acme", project_id="p", after=after, limit=50)
        pages.append(time.perf_counter() - start)
        after = page["next"]
        if after is None:
            break
    whole = time.perf_counter() - begun
    pages.sort()
    p95 = pages[min(len(pages) - 1, int(len(pages) * 0.95))]
    where = "embedded DynamoDB" if tables is not None else "in-memory"
    return Figure(
        f"comparison, {tasks:,} tasks x {epochs} epochs ({where})",
        f"p95 {p95 * 1000:.0f} ms per page of 50",
        f"p50 {pages[len(pages) // 2] * 1000:.0f} ms; all {len(pages)} pages {whole:.2f} s",
    )


def run(*, quick: bool = False) -> list[Figure]:
    figures = [
        admission(InMemoryStore(), 2000),
        fairness(),
        sweep_figure(10_000, 50),
        sweep_figure(10_000, 10),
        comparison(InMemoryStore(), 1000, 20),
    ]
    with embedded_dynamodb() as embedded:
        figures.append(admission(DynamoStore(tables_at(embedded.url, "adm-")), 300 if not quick else 60, embedded))
        figures.append(sweep_figure(10_000 if not quick else 1000, 50, tables=tables_at(embedded.url, "sw-")))
        figures.append(
            comparison(DynamoStore(tables_at(embedded.url, "cmp-")), 1000, 20, tables=tables_at(embedded.url, "cmp-"))
        )
    return figures


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        print(f"{f.name:<55} {f.value:<28} {f.note}")
