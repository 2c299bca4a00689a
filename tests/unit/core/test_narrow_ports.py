"""Use cases that take only the ports they use (issue 8, point 6): retention, re-adoption, live
logs and the core's events run on an object holding just those ports, not a whole Deps. mypy
checks that a Deps satisfies each; these runs check that nothing else is reached for."""

from __future__ import annotations

from dataclasses import dataclass

from functions.core import adoption, events, joblogs, launching, reporting, retention
from functions.core.deps import CoreConfig
from functions.ports import BlobStore, Clock, EventPublisher, JobRuntime, JobStore, ModelStore, TaskStore
from functions.publishing import RecordingPublisher
from sdk.contracts import blob_keys
from sdk.contracts import events as ev
from tests.support.harness import Harness, harness


@dataclass(frozen=True)
class RetentionOnly:
    jobs: JobStore
    tasks: TaskStore
    models: ModelStore
    artifacts: BlobStore


@dataclass(frozen=True)
class AdoptionOnly:
    jobs: JobStore
    runtime: JobRuntime
    clock: Clock
    config: CoreConfig


@dataclass(frozen=True)
class LogsOnly:
    runtime: JobRuntime
    logs: BlobStore


@dataclass(frozen=True)
class EventsOnly:
    events: EventPublisher
    config: CoreConfig


def _report(h: Harness, job_id: str, payload: ev.JobRunning | ev.CheckpointReport, event_id: str) -> None:
    reporting.report(h.deps, tenant="acme", job_id=job_id, event_type="x", event_id=event_id, payload=payload)


def test_cleanup_pruning_needs_only_the_stores_and_the_artifacts() -> None:
    h = harness()
    _, job = h.task(h.project(), retention={"keep_latest": 1})
    launching.admit_pool(h.deps, "default")
    _report(h, job.job_id, ev.JobRunning(), "run")
    keys = {}
    for epoch in (1, 2, 3):
        keys[epoch] = f"acme/{job.project_id}/{job.job_id}/ckpt-{epoch}.pt"
        h.deps.artifacts.put(keys[epoch], b"w")
        _report(h, job.job_id, ev.CheckpointReport(epoch=epoch, key=keys[epoch]), f"c{epoch}")
    h.deps.artifacts.put(keys[1], b"w")  # a crash between recording and deleting left it behind
    only = RetentionOnly(jobs=h.store, tasks=h.store, models=h.store, artifacts=h.deps.artifacts)
    saved = retention.apply(only, tenant="acme", job_id=job.job_id, finish=True)
    assert saved.pruned_checkpoints == (1, 2)
    assert [e for e, k in keys.items() if h.deps.artifacts.exists(k)] == [3]


def test_adoption_needs_only_jobs_runtime_clock_and_config() -> None:
    h = harness()
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    h.runtime.start(job.job_id)
    _report(h, job.job_id, ev.JobRunning(), "run")
    only = AdoptionOnly(jobs=h.store, runtime=h.runtime, clock=h.clock, config=h.deps.config)
    assert adoption.adopt(only) == [job.job_id]


def test_live_logs_need_only_the_runtime_and_the_logs_bucket() -> None:
    h = harness()
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    h.runtime.write_log(job.job_id, b"epoch 1\n")
    running = {r.job_id: r for r in h.runtime.list()}
    assert joblogs.ship_live(LogsOnly(runtime=h.runtime, logs=h.deps.logs), running) == [job.job_id]
    assert h.deps.logs.get(blob_keys.live_log(job.job_id)) == b"epoch 1\n"


def test_the_core_events_need_only_the_publisher_and_the_config() -> None:
    h = harness()
    _, job = h.task(h.project())
    published = RecordingPublisher()
    events.job_created(EventsOnly(events=published, config=h.deps.config), job)
    [event] = published.events
    assert (event.type, event.id, event.subject) == (ev.EventType.JOB_CREATED, f"{job.job_id}.created", job.job_id)
