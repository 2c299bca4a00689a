"""Task updates and archiving, and checkpoint retention, through the use cases on fakes."""

from __future__ import annotations

import pytest

from functions.core import launching, models, reads, reporting, tasks
from functions.domain.model import JobState
from functions.domain.registry import PublishedModel
from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict, NotFound
from sdk.contracts.specs import RetentionPolicy, TaskPatch
from tests.support.harness import Harness, harness, person

ME = person("ds@acme")


@pytest.fixture
def h() -> Harness:
    return harness()


def rep(h: Harness, job_id: str, payload: object, event_id: str) -> None:
    reporting.report(h.deps, tenant="acme", job_id=job_id, event_type="x", event_id=event_id, payload=payload)  # type: ignore[arg-type]


def run_with_checkpoints(h: Harness, n: int, **spec: object) -> str:
    _, job = h.task(h.project(), **spec)
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobRunning(), "run")
    for epoch in range(1, n + 1):
        key = f"acme/{job.project_id}/{job.job_id}/ckpt-{epoch}.pt"
        h.deps.artifacts.put(key, b"weights %d" % epoch)
        rep(h, job.job_id, ev.CheckpointReport(epoch=epoch, key=key, metrics={"val_loss": 1 / epoch}), f"c{epoch}")
    return job.job_id


def stored_epochs(h: Harness, job_id: str) -> list[int]:
    return [c.epoch for c in h.store.checkpoints("acme", job_id) if h.deps.artifacts.exists(c.key)]


def test_update_changes_labels_and_is_audited(h: Harness) -> None:
    task, _ = h.task(h.project())
    patch = TaskPatch(name="renamed", description="baseline run", tags=["baseline", "v1", "baseline"])
    updated = tasks.update(h.deps, tenant="acme", task_id=task.task_id, patch=patch, actor=ME)
    assert (updated.spec.name, updated.description, updated.tags) == ("renamed", "baseline run", ("baseline", "v1"))
    assert updated.spec.command == task.spec.command  # what runs never changes
    [record] = h.store.audit_records("acme", resource=f"task/{task.task_id}")
    assert record.action == "task.update" and record.actor == "ds@acme"


def test_priority_moves_the_queued_attempt_and_only_while_queued(h: Harness) -> None:
    task, job = h.task(h.project())
    tasks.update(h.deps, tenant="acme", task_id=task.task_id, patch=TaskPatch(priority=7), actor=ME)
    assert h.job(job).priority == 7
    launching.admit_pool(h.deps, "default")
    with pytest.raises(Conflict, match="only while its attempt is queued"):
        tasks.update(h.deps, tenant="acme", task_id=task.task_id, patch=TaskPatch(priority=1), actor=ME)
    assert h.store.get_task("acme", task.task_id).spec.priority == 7


def test_another_tenant_cannot_update_or_archive(h: Harness) -> None:
    task, _ = h.task(h.project())
    evil = person("x@evil", tenant="evil")
    with pytest.raises(NotFound):
        tasks.update(h.deps, tenant="evil", task_id=task.task_id, patch=TaskPatch(name="pwned"), actor=evil)
    with pytest.raises(NotFound):
        tasks.set_archived(h.deps, tenant="evil", task_id=task.task_id, archived=True, actor=evil)
    assert h.store.get_task("acme", task.task_id).spec.name == "trial"


def test_archived_tasks_leave_the_default_comparison_only(h: Harness) -> None:
    project = h.project()
    task, job = h.task(project)
    other, _ = h.task(project, name="other")
    with pytest.raises(Conflict, match="cancel it first"):
        tasks.set_archived(h.deps, tenant="acme", task_id=task.task_id, archived=True, actor=ME)
    launching.admit_pool(h.deps, "default")
    rep(h, job.job_id, ev.JobRunning(), "run")
    rep(h, job.job_id, ev.JobSucceeded(), "done")
    tasks.set_archived(h.deps, tenant="acme", task_id=task.task_id, archived=True, actor=ME)
    default = reads.comparison(h.deps, tenant="acme", project_id=project.project_id)
    assert [r["task_id"] for r in default["tasks"]] == [other.task_id]
    everything = reads.comparison(h.deps, tenant="acme", project_id=project.project_id, include_archived=True)
    assert {r["task_id"] for r in everything["tasks"]} == {task.task_id, other.task_id}
    assert h.store.get_task("acme", task.task_id).archived  # still readable
    tasks.set_archived(h.deps, tenant="acme", task_id=task.task_id, archived=False, actor=ME)
    assert len(reads.comparison(h.deps, tenant="acme", project_id=project.project_id)["tasks"]) == 2


def test_retention_bounds_a_long_run_while_it_runs(h: Harness) -> None:
    job_id = run_with_checkpoints(h, 30, retention={"keep_latest": 2, "keep_best": 1, "metric": "val_loss"})
    # val_loss = 1/epoch: the best is the newest, so two are kept
    assert stored_epochs(h, job_id) == [29, 30]
    assert h.store.get_job("acme", job_id).pruned_checkpoints == tuple(range(1, 29))


def test_a_published_checkpoint_is_never_pruned(h: Harness) -> None:
    job_id = run_with_checkpoints(h, 1, retention={"keep_latest": 1})
    job = h.store.get_job("acme", job_id)
    # a model published from epoch 1 (its own archive is a separate object; the record is what counts)
    h.store.create_model(
        PublishedModel(
            model_id="m-1",
            tenant="acme",
            name="n",
            kind="intent",
            labels=("a",),
            project_id=job.project_id,
            task_id=job.task_id,
            job_id=job_id,
            epoch=1,
            metrics={},
            archive_key="acme/models/m-1.tar.gz",
            sha256="0" * 64,
            size_bytes=1,
            created_at=h.clock.now(),
        )
    )
    for epoch in (2, 3):
        key = f"acme/{job.project_id}/{job_id}/ckpt-{epoch}.pt"
        h.deps.artifacts.put(key, b"w")
        rep(h, job_id, ev.CheckpointReport(epoch=epoch, key=key), f"c{epoch}")
    assert stored_epochs(h, job_id) == [1, 3]


def test_cleanup_finishes_pruning_and_keep_all_keeps_everything(h: Harness) -> None:
    kept_all = run_with_checkpoints(h, 8, retention=RetentionPolicy.keep_all().model_dump())
    rep(h, kept_all, ev.JobSucceeded(), "done")
    h.finish_events()
    assert stored_epochs(h, kept_all) == list(range(1, 9))


def test_publishing_a_pruned_checkpoint_says_why(h: Harness) -> None:
    job_id = run_with_checkpoints(h, 4, retention={"keep_latest": 1})
    with pytest.raises(Conflict, match="retention policy"):
        models.publish(h.deps, tenant="acme", job_id=job_id, epoch=1)


def test_retention_can_be_changed_after_creation(h: Harness) -> None:
    job_id = run_with_checkpoints(h, 3, retention=RetentionPolicy.keep_all().model_dump())
    job = h.store.get_job("acme", job_id)
    tasks.update(
        h.deps, tenant="acme", task_id=job.task_id, patch=TaskPatch(retention=RetentionPolicy(keep_latest=1)), actor=ME
    )
    key = f"acme/{job.project_id}/{job_id}/ckpt-4.pt"
    h.deps.artifacts.put(key, b"w")
    rep(h, job_id, ev.CheckpointReport(epoch=4, key=key), "c4")
    assert stored_epochs(h, job_id) == [4]
    assert h.store.get_job("acme", job_id).state is JobState.RUNNING


def test_rerun_repeats_the_spec_with_overrides_and_records_its_origin(h: Harness) -> None:
    task, _ = h.task(h.project(), hyperparameters={"lr": 0.1, "epochs": 3})
    again, job = tasks.rerun(h.deps, tenant="acme", task_id=task.task_id, actor=ME, hyperparameters={"lr": 0.01})
    assert again.rerun_of == task.task_id and job.state is JobState.QUEUED
    assert again.spec.command == task.spec.command and again.spec.hyperparameters == {"lr": 0.01, "epochs": 3}
    diff = tasks.compare_specs(h.deps, tenant="acme", task_id=task.task_id, other_id=again.task_id)
    assert diff["differences"] == [{"field": "hyperparameters.lr", "value": 0.1, "other": 0.01}]
    same, _ = tasks.rerun(h.deps, tenant="acme", task_id=task.task_id, actor=ME)
    assert tasks.compare_specs(h.deps, tenant="acme", task_id=task.task_id, other_id=same.task_id)["same"]


def test_rerun_and_diff_of_another_tenants_task_are_not_found(h: Harness) -> None:
    task, _ = h.task(h.project())
    mine, _ = h.task(h.project(tenant="evil"))
    evil = person("x@evil", tenant="evil")
    with pytest.raises(NotFound):
        tasks.rerun(h.deps, tenant="evil", task_id=task.task_id, actor=evil)
    with pytest.raises(NotFound):
        tasks.compare_specs(h.deps, tenant="evil", task_id=mine.task_id, other_id=task.task_id)
