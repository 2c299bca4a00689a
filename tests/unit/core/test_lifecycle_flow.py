"""The use cases end to end on fakes: create -> launch -> reports -> finish -> cleanup."""

from __future__ import annotations

import pytest

from functions.core import launching, reporting, sweeping
from functions.domain.model import JobState
from sdk.auth import tokens
from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict, NotFound, PermanentError, TemporaryError, ValidationError
from sdk.contracts.events import EventType
from sdk.contracts.specs import FailureKind
from tests.support.harness import SECRET, Harness, harness


def rep(h: Harness, job_id: str, payload: object, event_id: str, tenant: str = "acme"):
    return reporting.report(h.deps, tenant=tenant, job_id=job_id, event_type="x", event_id=event_id, payload=payload)  # type: ignore[arg-type]


@pytest.fixture
def h() -> Harness:
    return harness()


def test_task_creation_queues_first_attempt_and_announces_it(h: Harness) -> None:
    task, job = h.task(h.project())
    assert job.state is JobState.QUEUED and job.attempt == 1 and job.job_id == f"{task.task_id}.1"
    created = h.events.of_type(EventType.JOB_CREATED)
    assert [e.id for e in created] == [f"{job.job_id}.created"]


def test_launch_passes_sdk_environment_with_job_scoped_token(h: Harness) -> None:
    _, job = h.task(h.project(), args=["--lr", "0.1"], hyperparameters={"lr": 0.1})
    [launched] = launching.admit_pool(h.deps, "default")
    assert launched.state is JobState.LAUNCHING
    spec = h.runtime.launched[job.job_id]
    assert list(spec.command) == ["python", "train.py"] and list(spec.args) == ["--lr", "0.1"]
    claims = tokens.verify(spec.env["TRAINYARD_TOKEN"], secret=SECRET, now=h.clock.now().timestamp())
    assert claims.job == job.job_id and claims.tenant == "acme"
    assert spec.env["TRAINYARD_PLATFORM_URL"] == "http://platform.test"
    assert spec.env["TRAINYARD_ATTEMPT"] == "1"


def test_full_success_with_epochs_checkpoint_and_cleanup(h: Harness) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobRunning(), "e1")
    rep(h, job.job_id, ev.MetadataReport(learning_rate=0.1, total_epochs=2), "e2")
    for n in (1, 2):
        h.clock.advance(10)
        rep(h, job.job_id, ev.EpochReport(epoch=n, metrics={"loss": 1 / n}), f"ep{n}")
    key = f"acme/{job.project_id}/{job.job_id}/ckpt-2.pt"
    rep(h, job.job_id, ev.CheckpointReport(epoch=2, key=key, metrics={"loss": 0.5}), "c2")
    h.runtime.write_log(job.job_id, b"training...\n")
    done = rep(h, job.job_id, ev.JobSucceeded(metrics={"loss": 0.5}), "s")
    assert done is not None and done.state is JobState.SUCCEEDED
    assert [e.epoch for e in h.store.epochs("acme", job.job_id)] == [1, 2]
    assert h.store.checkpoints("acme", job.job_id)[0].key == key
    h.finish_events()
    final = h.job(job)
    assert final.cleaned_up and not final.capacity_held
    assert h.deps.logs.get(final.log_key or "") == b"training...\n"
    assert job.job_id in h.runtime.deleted
    assert h.store.usage("default")[0].slots == 0


def test_replayed_report_changes_nothing(h: Harness) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobRunning(), "e1")
    rep(h, job.job_id, ev.EpochReport(epoch=1, metrics={"loss": 1.0}), "ep1")
    version = h.job(job).version
    assert rep(h, job.job_id, ev.EpochReport(epoch=1, metrics={"loss": 9.0}), "ep1") is None
    assert h.job(job).version == version
    assert [e.metrics for e in h.store.epochs("acme", job.job_id)] == [{"loss": 1.0}]


def test_report_that_overtook_running_is_redelivered_later(h: Harness) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    with pytest.raises(TemporaryError):
        rep(h, job.job_id, ev.EpochReport(epoch=1), "ep1")


def test_report_after_the_end_is_a_permanent_error(h: Harness) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobRunning(), "e1")
    rep(h, job.job_id, ev.JobSucceeded(), "s")
    with pytest.raises(PermanentError):
        rep(h, job.job_id, ev.EpochReport(epoch=3), "late")


def test_checkpoint_must_point_inside_the_jobs_own_prefix(h: Harness) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobRunning(), "e1")
    with pytest.raises(ValidationError, match="checkpoint key"):
        rep(h, job.job_id, ev.CheckpointReport(epoch=1, key="other/tenant/file"), "c")


def test_cross_tenant_reads_and_reports_are_not_found(h: Harness) -> None:
    project = h.project()
    _, job = h.task(project)
    with pytest.raises(NotFound):
        h.store.get_project("evil", project.project_id)
    with pytest.raises(NotFound):
        rep(h, job.job_id, ev.JobRunning(), "e1", tenant="evil")


def test_failed_trainer_is_retried_after_backoff_then_succeeds(h: Harness) -> None:
    _, job = h.task(h.project(), retry={"max_retries": 1, "backoff_s": 30})
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobFailed(reason="boom", logs="Traceback..."), "f1")
    h.finish_events()
    second = h.store.get_job("acme", job.job_id[:-1] + "2")
    assert second.state is JobState.QUEUED and second.attempt == 2
    assert launching.admit_pool(h.deps, "default") == []  # still backing off
    h.clock.advance(30)
    assert sweeping.sweep(h.deps).launched == [second.job_id]
    assert h.store.get_job("acme", second.job_id).state is JobState.LAUNCHING
    rep(h, second.job_id, ev.JobFailed(reason="boom again"), "f2")
    h.finish_events()
    assert [j.attempt for j in h.store.list_jobs("acme", job.task_id)] == [1, 2]  # retries exhausted


def test_launch_timeout_times_out_and_retries_as_infrastructure(h: Harness) -> None:
    _, job = h.task(h.project(), limits={"launch_s": 60})
    launching.admit_pool(h.deps, "default")
    h.clock.advance(59)
    assert sweeping.sweep(h.deps).timed_out == []
    h.clock.advance(1)
    assert sweeping.sweep(h.deps).timed_out == [job.job_id]
    timed = h.job(job)
    assert timed.state is JobState.TIMED_OUT and timed.failure_kind is FailureKind.LAUNCH_TIMEOUT
    h.finish_events()
    assert h.job(job).cleaned_up and job.job_id in h.runtime.deleted


def test_epoch_timeout_and_ttl(h: Harness) -> None:
    _, a = h.task(h.project(), limits={"epoch_s": 100, "ttl_s": 10_000})
    _, b = h.task(h.project(), limits={"epoch_s": 100, "ttl_s": 150})
    launching.admit_pool(h.deps, "default")
    for job in (a, b):
        rep(h, job.job_id, ev.JobRunning(), f"r-{job.job_id}")
    h.clock.advance(90)
    for job in (a, b):
        rep(h, job.job_id, ev.EpochReport(epoch=1), f"e-{job.job_id}")
    h.clock.advance(60)  # b passes its TTL (150s); a's epoch clock restarted at 90s
    sweeping.sweep(h.deps)
    assert h.job(b).failure_kind is FailureKind.TTL_TIMEOUT and h.job(a).state is JobState.RUNNING
    h.clock.advance(40)
    sweeping.sweep(h.deps)
    assert h.job(a).failure_kind is FailureKind.EPOCH_TIMEOUT


def test_cancel_stops_runtime_and_never_retries(h: Harness) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    cancelled = sweeping.cancel(h.deps, tenant="acme", job_id=job.job_id)
    assert cancelled.state is JobState.CANCELLED
    assert job.job_id not in h.runtime.stopped  # the API cancels: it has no runtime; cleanup stops it
    h.finish_events()
    assert job.job_id in h.runtime.stopped
    assert len(h.store.list_jobs("acme", job.task_id)) == 1
    with pytest.raises(NotFound):
        sweeping.cancel(h.deps, tenant="evil", job_id=job.job_id)


def test_capacity_and_tenant_cap_then_freed_capacity_launches_next() -> None:
    h = harness(slots=2, tenant_cap=1)
    p = h.project()
    other = h.project(tenant="other")
    jobs = [h.task(p)[1], h.task(p)[1], h.task(other)[1], h.task(other)[1]]
    launched = launching.admit_pool(h.deps, "default")
    assert [j.job_id for j in launched] == [jobs[0].job_id, jobs[2].job_id]
    rep(h, jobs[0].job_id, ev.JobRunning(), "r0")
    rep(h, jobs[0].job_id, ev.JobSucceeded(), "s0")
    h.finish_events()  # cleanup frees a slot and launches the next acme job
    assert h.job(jobs[1]).state is JobState.LAUNCHING
    assert h.job(jobs[3]).state is JobState.QUEUED


def test_runtime_drift_is_reconciled_both_ways(h: Harness) -> None:
    _, crashed = h.task(h.project())
    _, vanished = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    rep(h, crashed.job_id, ev.JobRunning(), "r")
    h.runtime.exit(crashed.job_id, 3)
    h.runtime.vanish(vanished.job_id)
    h.runtime.launched["ghost.1"] = h.runtime.launched[crashed.job_id]  # nobody knows this one
    h.runtime.exit("ghost.1", 0)
    h.clock.advance(11)
    report = sweeping.sweep(h.deps)
    assert sorted(report.failed) == sorted([crashed.job_id, vanished.job_id])
    assert h.job(crashed).failure_kind is FailureKind.TRAINER and "code 3" in h.job(crashed).reason
    assert h.job(vanished).failure_kind is FailureKind.INFRASTRUCTURE
    assert report.orphans_deleted == ["ghost.1"]


def test_deactivated_project_blocks_tasks_and_queued_jobs(h: Harness) -> None:
    from functions.core import projects

    p = h.project()
    _, job = h.task(p)
    projects.deactivate(h.deps, tenant="acme", project_id=p.project_id)
    with pytest.raises(Conflict, match="deactivated"):
        h.task(p)
    launching.admit_pool(h.deps, "default")
    assert h.job(job).state is JobState.CANCELLED


def test_unknown_dataset_and_pool_are_named(h: Harness) -> None:
    with pytest.raises(ValidationError) as err:
        h.task(h.project(), datasets=["secret"])
    assert err.value.problems[0].field == "datasets"
    with pytest.raises(ValidationError, match="unknown pool"):
        h.task(h.project(), pool="gpu")
