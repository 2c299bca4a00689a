"""A batch of one job's reports: applied in order, in O(1) store writes (one per state change),
idempotent when redelivered, and cut short (nothing after it) at a report the job refuses."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core import launching, reporting
from functions.domain.model import Job, JobState
from functions.publishing import RecordingPublisher
from sdk.contracts import events as ev
from sdk.contracts.errors import PermanentError, TemporaryError
from sdk.contracts.events import EventType
from tests.support.harness import Harness, harness


class Writes:
    """Counts the store's job saves (each one atomic write, one round trip)."""

    def __init__(self, store: Any) -> None:
        self._store, self.saves = store, 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if name != "save_job":
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.saves += 1
            return found(*args, **kwargs)

        return counted


def item(kind: EventType, event_id: str, payload: ev.BaseModel) -> ev.BatchedReport:
    return ev.BatchedReport(type=kind, id=event_id, data=payload.model_dump(mode="json"))


def epochs(first: int, last: int) -> list[ev.BatchedReport]:
    return [
        item(EventType.JOB_EPOCH, f"e{n}", ev.EpochReport(epoch=n, metrics={"loss": 1 / n}))
        for n in range(first, last + 1)
    ]


def launched(h: Harness) -> Job:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    return h.job(job)


def apply(h: Harness, job: Job, reports: list[ev.BatchedReport], batch_id: str = "b1") -> Job | None:
    return reporting.report_batch(h.deps, tenant="acme", job_id=job.job_id, batch_id=batch_id, reports=reports)


def test_running_fifty_epochs_and_success_are_two_writes_in_order() -> None:
    h = harness()
    job = launched(h)
    writes = Writes(h.store)
    object.__setattr__(h.deps, "jobs", writes)
    batch = [item(EventType.JOB_RUNNING, "r", ev.JobRunning()), *epochs(1, 50)]
    batch.append(item(EventType.JOB_SUCCEEDED, "s", ev.JobSucceeded(metrics={"loss": 0.02})))
    saved = apply(h, job, batch)
    assert saved is not None and saved.state is JobState.SUCCEEDED
    assert writes.saves == 2  # [running + 50 epochs], [succeeded]: one audit record each
    assert [e.epoch for e in h.store.epochs("acme", job.job_id)] == list(range(1, 51))
    assert h.job(job).last_epoch == 50
    summary = h.store.task_summaries("acme", [job.task_id])[job.task_id]
    assert summary.series["loss"][-1] == (50, pytest.approx(1 / 50))
    assert [e.type for e in h.deps.events.of_type(EventType.JOB_FINISHED)] == [EventType.JOB_FINISHED]  # type: ignore[attr-defined]


def test_epochs_alone_are_one_write() -> None:
    h = harness()
    job = launched(h)
    apply(h, job, [item(EventType.JOB_RUNNING, "r", ev.JobRunning())], batch_id="b0")
    writes = Writes(h.store)
    object.__setattr__(h.deps, "jobs", writes)
    apply(h, job, epochs(1, ev.MAX_BATCH_EVENTS))
    assert writes.saves == 1
    assert len(h.store.epochs("acme", job.job_id)) == ev.MAX_BATCH_EVENTS


def test_a_redelivered_batch_changes_nothing_and_a_half_applied_one_finishes() -> None:
    h = harness()
    job = launched(h)
    batch = [item(EventType.JOB_RUNNING, "r", ev.JobRunning()), *epochs(1, 3)]
    batch.append(item(EventType.JOB_SUCCEEDED, "s", ev.JobSucceeded()))
    # the first write of the batch landed, then the process died: a redelivery does the rest
    reporting.report_batch(h.deps, tenant="acme", job_id=job.job_id, batch_id="b1", reports=batch[:4])
    version = h.job(job).version
    saved = apply(h, job, batch)
    assert saved is not None and saved.state is JobState.SUCCEEDED
    assert h.job(job).version == version + 1  # only the success was new
    assert apply(h, job, batch) is None  # everything a replay
    assert h.job(job).version == version + 1


def test_a_batch_before_running_is_redelivered_later() -> None:
    h = harness()
    job = launched(h)
    with pytest.raises(TemporaryError):
        apply(h, job, epochs(1, 2))
    assert h.store.epochs("acme", job.job_id) == []


def test_a_report_the_job_refuses_ends_the_batch_keeping_what_came_before() -> None:
    h = harness()
    job = launched(h)
    batch = [item(EventType.JOB_RUNNING, "r", ev.JobRunning()), *epochs(1, 2)]
    batch.append(item(EventType.JOB_SUCCEEDED, "s", ev.JobSucceeded()))
    batch.append(item(EventType.JOB_RUNNING, "r2", ev.JobRunning()))  # after its outcome: refused
    batch += epochs(3, 4)
    with pytest.raises(PermanentError):
        apply(h, job, batch)
    assert h.job(job).state is JobState.SUCCEEDED
    assert [e.epoch for e in h.store.epochs("acme", job.job_id)] == [1, 2]


def test_a_checkpoint_outside_the_jobs_artifacts_refuses_it_and_what_follows() -> None:
    h = harness()
    job = launched(h)
    prefix = reporting.artifact_prefix(job)
    batch = [item(EventType.JOB_RUNNING, "r", ev.JobRunning()), *epochs(1, 1)]
    batch.append(item(EventType.JOB_CHECKPOINT, "c1", ev.CheckpointReport(epoch=1, key=prefix + "ok.pt")))
    batch.append(item(EventType.JOB_CHECKPOINT, "c2", ev.CheckpointReport(epoch=2, key="other/job/w.pt")))
    batch += epochs(2, 2)
    with pytest.raises(Exception, match="checkpoint key must lie under"):
        apply(h, job, batch)
    assert [c.key for c in h.store.checkpoints("acme", job.job_id)] == [prefix + "ok.pt"]
    assert [e.epoch for e in h.store.epochs("acme", job.job_id)] == [1]


def test_the_report_function_applies_a_batch_event_in_order() -> None:
    from cloudevents.http import CloudEvent

    from functions import handlers

    h = harness()
    job = launched(h)
    batch = ev.JobReports(events=[item(EventType.JOB_RUNNING, "r", ev.JobRunning()), *epochs(1, 5)])
    event = CloudEvent(
        {
            "type": EventType.JOB_REPORTS,
            "source": "test",
            "id": "batch-1",
            "subject": job.job_id,
            ev.TENANT_EXTENSION: "acme",
        },
        batch.model_dump(mode="json"),
    )
    handlers.report(h.deps, event)
    assert h.job(job).state is JobState.RUNNING
    assert [e.epoch for e in h.store.epochs("acme", job.job_id)] == [1, 2, 3, 4, 5]
    assert isinstance(h.deps.events, RecordingPublisher)
