"""`python -m bench.store`: the embedded default's store at 1,000 and 10,000 jobs of history.

Seeds a state directory through DurableStore itself (one project of N tasks, each with a
finished job of 5 epochs and a checkpoint, every write fsync'd as the platform does),
then measures what the issue asks: start-up (opening the file and loading it), write
latency (task create), and reads (a job, a task's jobs, a project's tasks, the sweep's
index queries). Prints a table; figures are wall clock on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from functions.domain.admission import Capacity, PoolPolicy
from functions.domain.model import Checkpoint, Epoch, Job, JobState, Project, Task
from functions.store.durable import DurableStore
from sdk.contracts.specs import Limits, Resources, RetryPolicy, TaskSpec

TENANT = "demo"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = PoolPolicy(budget=Capacity(slots=4, cpu_milli=8000, memory_mb=16384), tenant_cap=4)


def new_task(project_id: str, n: int) -> tuple[Task, Job]:
    created = T0 + timedelta(seconds=n)
    task = Task(
        task_id=f"t-{n:06d}",
        project_id=project_id,
        tenant=TENANT,
        created_at=created,
        spec=TaskSpec(name=f"trial-{n}", command=["python", "train.py"], hyperparameters={"lr": 0.01}),
    )
    job = Job(
        job_id=f"{task.task_id}.1",
        task_id=task.task_id,
        project_id=project_id,
        tenant=TENANT,
        attempt=1,
        pool="default",
        resources=Resources(),
        limits=Limits(),
        retry=RetryPolicy(),
        created_at=created,
    )
    return task, job


def seed(directory: Path, jobs: int, *, epochs: int = 5) -> str:
    """A project of `jobs` tasks, each with one finished, cleaned-up job; returns the project id."""
    store = DurableStore(directory, fsync=False)  # history needs no fsync: it is written once, here
    project = Project(
        project_id="p-history",
        tenant=TENANT,
        name="history",
        purpose="bench",
        created_at=T0,
        expires_at=T0 + timedelta(days=3650),
    )
    store.create_project(project)
    for n in range(jobs):
        task, job = new_task(project.project_id, n)
        store.create_task(task, job, dedup=f"create-{n}")
        at = job.created_at
        for e in range(1, epochs + 1):
            store.save_job(
                job.model_copy(update={"state": JobState.RUNNING, "last_epoch": e}),
                expected_version=job.version,
                dedup=f"epoch-{n}-{e}",
                epochs=(
                    Epoch(
                        job_id=job.job_id,
                        tenant=TENANT,
                        epoch=e,
                        metrics={"loss": 1 / e},
                        reported_at=at + timedelta(seconds=e),
                    ),
                ),
                checkpoints=(
                    Checkpoint(
                        job_id=job.job_id,
                        tenant=TENANT,
                        epoch=e,
                        key=f"k/{n}/{e}",
                        metrics={"loss": 1 / e},
                        reported_at=at + timedelta(seconds=e),
                    ),
                )
                if e == epochs
                else (),
            )
            job = store.get_job(TENANT, job.job_id)
        store.save_job(
            job.model_copy(
                update={"state": JobState.SUCCEEDED, "finished_at": at + timedelta(minutes=1), "cleaned_up": True}
            ),
            expected_version=job.version,
        )
    store.close()
    return project.project_id


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def measure(jobs: int, directory: Path) -> list[tuple[str, str]]:
    began = time.perf_counter()
    project_id = seed(directory, jobs)
    seeded = time.perf_counter() - began
    began, cpu = time.perf_counter(), time.process_time()
    store = DurableStore(directory)
    loaded, loaded_cpu = time.perf_counter() - began, time.process_time() - cpu
    size = sum(p.stat().st_size for p in directory.iterdir())
    rows = [
        (f"seed {jobs:,} jobs ({jobs * 7:,} calls, no fsync)", f"{seeded:.1f} s"),
        (f"start-up: open + load {jobs:,} jobs of history", f"{loaded * 1000:.0f} ms ({loaded_cpu * 1000:.0f} ms CPU)"),
        ("state file size", f"{size / 2**20:.1f} MiB"),
    ]
    n = iter(range(jobs, jobs + 10_000))
    reads: dict[str, Callable[[], object]] = {
        "task create (task + first job, fsync'd)": lambda: store.create_task(*new_task(project_id, next(n))),
        "get_job": lambda: store.get_job(TENANT, "t-000007.1"),
        "list_jobs of a task": lambda: store.list_jobs(TENANT, "t-000007"),
        "epochs of a job": lambda: store.epochs(TENANT, "t-000007.1"),
        f"list_tasks of a {jobs:,}-task project": lambda: store.list_tasks(TENANT, project_id),
        "sweep's queries (queued + tenants + due + active + unreleased)": lambda: (
            store.queued_jobs("default", tenant=TENANT),
            store.pool_tenants("default"),
            store.due_jobs("default", T0),
            list(store.active_jobs("default")),
            store.unreleased_jobs("default", T0),
        ),
    }
    began, cpu = time.perf_counter(), time.process_time()
    store.list_tasks(TENANT, "warm-up")  # the first query builds the per-key indexes: time that apart
    rows.append(
        (
            "first list_tasks (builds its index)",
            f"{(time.perf_counter() - began) * 1000:.0f} ms ({(time.process_time() - cpu) * 1000:.0f} ms CPU)",
        )
    )
    began, cpu = time.perf_counter(), time.process_time()
    store.list_jobs(TENANT, "t-000000")
    store.epochs(TENANT, "t-000000.1")
    rows.append(
        (
            "first list_jobs + epochs (builds those indexes)",
            f"{(time.perf_counter() - began) * 1000:.0f} ms ({(time.process_time() - cpu) * 1000:.0f} ms CPU)",
        )
    )
    began, cpu = time.perf_counter(), time.process_time()
    store.due_jobs("default", T0)
    store.queued_jobs("default", tenant=TENANT)
    store.unreleased_jobs("default", T0)
    rows.append(
        (
            "first sweep queries (build the sweep's indexes)",
            f"{(time.perf_counter() - began) * 1000:.0f} ms ({(time.process_time() - cpu) * 1000:.0f} ms CPU)",
        )
    )
    for name, fn in reads.items():
        scans = "list_tasks" in name or "sweep" in name
        p50, p99 = timed(fn, (5 if jobs >= 10_000 else 50) if scans else 200)
        rows.append((name, f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"))
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, action="append", help="history sizes (default 1,000 and 10,000)")
    sizes = parser.parse_args().jobs or [1_000, 10_000]
    for jobs in sizes:
        with tempfile.TemporaryDirectory(prefix="trainyard-bench-store-") as tmp:
            rows = measure(jobs, Path(tmp))
        width = max(len(name) for name, _ in rows)
        print(f"\n{jobs:,} jobs of history")
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
