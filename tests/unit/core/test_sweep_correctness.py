"""The sweep under load: no verdict overtakes an accepted report, each finished job is
announced once, and reads are proportional to what is due, with 10,000 active jobs."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from functions.core import launching, reporting, sweeping
from functions.domain import lifecycle
from functions.domain.admission import Capacity, PoolPolicy
from functions.domain.model import Job, JobState
from functions.store.memory import InMemoryStore
from sdk.contracts import events as ev
from sdk.contracts.events import EventType
from sdk.contracts.specs import FailureKind, Limits, Resources, RetryPolicy
from tests.support.harness import Harness, harness


@pytest.fixture
def h() -> Harness:
    return harness()


class Delayed:
    """The broker holding a job's reports: the ingress accepted them (2xx), nothing applied yet."""

    def __init__(self, h: Harness, job_id: str) -> None:
        self.h, self.job_id, self.held = h, job_id, []  # type: ignore[var-annotated]

    def post(self, payload: object, event_id: str, kind: str) -> None:
        reporting.accept(self.h.deps, tenant="acme", job_id=self.job_id, event_type=kind)
        self.held.append((payload, event_id, kind))

    def deliver(self) -> None:
        for payload, event_id, kind in self.held:
            reporting.report(
                self.h.deps, tenant="acme", job_id=self.job_id, event_type=kind, event_id=event_id, payload=payload
            )  # type: ignore[arg-type]
        self.held.clear()


def started(h: Harness, **spec: object) -> Job:
    _, job = h.task(h.project(), **spec)
    launching.admit_pool(h.deps, "default")
    return job


def test_an_accepted_outcome_is_never_overtaken_by_an_exit_verdict(h: Harness) -> None:
    job = started(h)
    broker = Delayed(h, job.job_id)
    broker.post(ev.JobRunning(), "r", EventType.JOB_RUNNING)
    for n in range(1, 4):
        broker.post(ev.EpochReport(epoch=n, metrics={"loss": 1 / n}), f"e{n}", EventType.JOB_EPOCH)
    broker.post(ev.JobSucceeded(metrics={"loss": 0.3}), "s", EventType.JOB_SUCCEEDED)
    h.runtime.exit(job.job_id, 0)  # the trainer exits as soon as its 202s came back
    for _ in range(5):  # sweeps long past the exit grace, while the broker still holds the reports
        h.clock.advance(30)
        report = sweeping.sweep(h.deps)
        assert report.failed == [] and report.timed_out == []
    broker.deliver()
    done = h.job(job)
    assert (done.state, done.final_metrics) == (JobState.SUCCEEDED, {"loss": 0.3})


def test_reports_accepted_in_time_keep_a_job_from_timing_out(h: Harness) -> None:
    job = started(h, limits={"launch_s": 60, "epoch_s": 100})
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    broker = Delayed(h, job.job_id)
    for n in range(1, 4):
        h.clock.advance(90)  # within the epoch limit of the last accepted report
        broker.post(ev.EpochReport(epoch=n), f"e{n}", EventType.JOB_EPOCH)
        assert sweeping.sweep(h.deps).timed_out == []
    broker.deliver()
    assert h.job(job).state is JobState.RUNNING and h.job(job).last_epoch == 3
    h.clock.advance(101)  # now it really is late
    assert sweeping.sweep(h.deps).timed_out == [job.job_id]


def test_the_exit_grace_counts_from_the_last_accepted_report(h: Harness) -> None:
    job = started(h)
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    h.clock.advance(60)
    Delayed(h, job.job_id).post(ev.EpochReport(epoch=1), "e1", EventType.JOB_EPOCH)  # accepted, not applied
    h.runtime.exit(job.job_id, 0)
    h.clock.advance(1)  # within exit_grace_s (2) of the last accepted report, 61 s after the applied one
    assert sweeping.sweep(h.deps).failed == []
    h.clock.advance(2)
    assert sweeping.sweep(h.deps).failed == [job.job_id]
    assert "without reporting an outcome" in h.job(job).reason


def test_an_outcome_the_broker_lost_is_judged_after_the_outcome_wait(h: Harness) -> None:
    job = started(h)
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    Delayed(h, job.job_id).post(ev.JobSucceeded(), "s", EventType.JOB_SUCCEEDED)  # never delivered
    h.runtime.exit(job.job_id, 0)
    h.clock.advance(h.deps.config.outcome_wait_s - 1)
    assert sweeping.sweep(h.deps).failed == []
    h.clock.advance(2)
    assert sweeping.sweep(h.deps).failed == [job.job_id]


def test_a_finished_job_is_announced_once_while_its_cleanup_is_on_its_way(h: Harness) -> None:
    job = started(h)
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="s", event_id="s", payload=ev.JobSucceeded())
    for _ in range(20):  # a sweep every 2 s for 40 s: cleanup is merely slow
        h.clock.advance(2)
        assert sweeping.sweep(h.deps).reannounced == []
    assert len(h.events.of_type(EventType.JOB_FINISHED)) == 1
    h.clock.advance(21)  # 61 s: cleanup has not happened, announce again, then wait twice as long
    assert sweeping.sweep(h.deps).reannounced == [job.job_id]
    h.clock.advance(100)
    assert sweeping.sweep(h.deps).reannounced == []
    h.clock.advance(30)
    assert sweeping.sweep(h.deps).reannounced == [job.job_id]
    assert len(h.events.of_type(EventType.JOB_FINISHED)) == 3
    h.finish_events()
    assert h.job(job).cleaned_up
    h.clock.advance(10_000)
    assert sweeping.sweep(h.deps).reannounced == []


# -- at scale ------------------------------------------------------------------------------


class Counting:
    """Counts the job items the sweep's store reads return (what DynamoDB would bill)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.items = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _count(self, jobs: list[Job]) -> list[Job]:
        self.items += len(jobs)
        return jobs

    def due_jobs(self, pool: str, now: Any, *, limit: int = 100) -> list[Job]:
        return self._count(self._store.due_jobs(pool, now, limit=limit))

    def unreleased_jobs(self, pool: str, now: Any, *, limit: int = 100) -> list[Job]:
        return self._count(self._store.unreleased_jobs(pool, now, limit=limit))

    def queued_jobs(self, pool: str, *, limit: int = 100) -> list[Job]:
        return self._count(self._store.queued_jobs(pool, limit=limit))

    def jobs_by_id(self, job_ids: Iterable[str]) -> list[Job]:
        return self._count(self._store.jobs_by_id(job_ids))

    def active_jobs(self, pool: str, *, page: int = 100) -> Iterator[list[Job]]:
        for chunk in self._store.active_jobs(pool, page=page):
            yield self._count(chunk)


ACTIVE, DUE = 10_000, 50


def crowded(h: Harness) -> Counting:
    """10,000 RUNNING jobs in the runtime and the store; DUE of them past their epoch limit."""
    policy = PoolPolicy(
        budget=Capacity(slots=ACTIVE, cpu_milli=ACTIVE * 1000, memory_mb=ACTIVE * 1024), tenant_cap=ACTIVE
    )
    object.__setattr__(h.deps.config, "pools", {"default": policy})
    now = h.clock.now()
    for i in range(ACTIVE):
        limits = Limits(epoch_s=30 if i % (ACTIVE // DUE) == 0 else 3600, ttl_s=86_400)
        job = Job(
            job_id=f"t-{i:05d}.1",
            task_id=f"t-{i:05d}",
            project_id="p",
            tenant="acme",
            attempt=1,
            pool="default",
            resources=Resources(cpu=1, memory_mb=1024),
            limits=limits,
            retry=RetryPolicy(),
            created_at=now,
        )
        h.store.create_job(job)
        held = h.store.launch_job(lifecycle.launch(job, now), expected_version=0, policy=policy)
        h.store.save_job(lifecycle.mark_running(held, now), expected_version=held.version)
        h.runtime.launched[job.job_id] = h.runtime.launched.get("t-00000.1") or _spec(h, job)
    counting = Counting(h.store)
    object.__setattr__(h.deps, "jobs", counting)
    return counting


def _spec(h: Harness, job: Job) -> Any:
    return launching._launch_spec(
        h.deps,
        job.model_copy(update={"launched_at": h.clock.now()}),
        command=["x"],
        args=[],
        image="",
        hyperparameters={},
        code_dir=None,
    )


def test_sweep_reads_what_is_due_and_finds_an_orphan_among_10000_live_jobs(h: Harness) -> None:
    counting = crowded(h)
    h.clock.advance(31)
    begun = time.perf_counter()
    report = sweeping.sweep(h.deps)
    assert len(report.timed_out) == DUE and report.orphans_deleted == [] and report.audited == 0
    assert counting.items <= 2 * DUE, counting.items  # 50 due + nothing else: no listing of live jobs
    assert time.perf_counter() - begun < 30
    counting.items = 0
    h.runtime.launched["ghost.1"] = h.runtime.launched["t-00001.1"]  # a runtime job nobody knows
    report = sweeping.sweep(h.deps)
    assert report.orphans_deleted == ["ghost.1"]  # found past the first 1,000, by paging to the end
    assert h.runtime.deleted == ["ghost.1"]  # and no live job's runtime was touched
    assert report.audited == ACTIVE - DUE
    assert all(h.store.get_job("acme", f"t-{i:05d}.1").state is JobState.RUNNING for i in (1, 1500, 9999))


def test_a_lost_runtime_job_is_found_when_the_counts_disagree(h: Harness) -> None:
    job = started(h)
    other = started(h)
    h.runtime.delete(job.job_id)  # the runner restarted and forgot it
    h.runtime.deleted.clear()
    h.clock.advance(h.deps.config.reconcile_grace_s + 1)
    report = sweeping.sweep(h.deps)
    assert report.failed == [job.job_id] and report.audited == 2
    assert h.job(job).failure_kind is FailureKind.INFRASTRUCTURE and h.job(other).state is JobState.LAUNCHING
