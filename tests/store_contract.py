"""The contract every store honours (ProjectStore, TaskStore, JobStore of functions.ports).

Subclass `StoreContract` and provide a `store` fixture; pytest then runs every test
below against that store. InMemoryStore (tests/unit/store) and DynamoStore on a real
moto server (tests/integration/store) both run it, which keeps the fake honest.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from functions.domain import lifecycle
from functions.domain.admission import Capacity, PoolPolicy, TenantShare
from functions.domain.datasets import DatasetVersion, Validation
from functions.domain.model import Checkpoint, Epoch, Job, JobState, Project, ReportMark, Task, TaskSummary
from functions.domain.runs import CodeDigest, DatasetRecord, RunRecord
from functions.ports import DatasetStore, JobStore, ProjectStore, TaskStore
from functions.store import rules
from sdk.contracts.errors import (
    AlreadyProcessed,
    CapacityExhausted,
    Conflict,
    NotFound,
    TemporaryError,
    ValidationError,
)
from sdk.contracts.events import MAX_BATCH_EVENTS
from sdk.contracts.specs import FailureKind, Limits, Resources, RetryPolicy, TaskSpec
from sdk.contracts.validation import Finding, Severity, ValidationReport

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


class StoreContract:
    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("a subclass provides the store under test")

    # tenant scoping

    def test_project_of_another_tenant_is_not_found(self, store: Store) -> None:
        store.create_project(project("p1", tenant="acme"))
        assert store.get_project("acme", "p1").name == "p1"
        with pytest.raises(NotFound):
            store.get_project("globex", "p1")
        with pytest.raises(NotFound):
            store.get_project("acme", "nope")

    def test_list_projects_is_own_tenant_newest_first(self, store: Store) -> None:
        for pid, tenant, created in (("a", "acme", 1), ("b", "globex", 2), ("c", "acme", 3)):
            store.create_project(project(pid, tenant=tenant, created=created))
        assert [p.project_id for p in store.list_projects("acme")] == ["c", "a"]
        assert store.list_projects("nobody") == []

    def test_update_project_of_another_tenant_is_not_found(self, store: Store) -> None:
        store.create_project(project("p1"))
        store.update_project(project("p1").model_copy(update={"purpose": "new"}))
        assert store.get_project("acme", "p1").purpose == "new"
        with pytest.raises(NotFound):
            store.update_project(project("p1", tenant="globex"))
        with pytest.raises(NotFound):
            store.update_project(project("p2"))
        assert store.get_project("acme", "p1").purpose == "new"

    def test_tasks_are_tenant_scoped_oldest_first(self, store: Store) -> None:
        store.create_task(task("t2", created=2), job("t2.1", tid="t2"))
        store.create_task(task("t1", created=1), job("t1.1", tid="t1"))
        store.create_task(task("tx", tenant="globex", created=0), job("tx.1", tid="tx", tenant="globex"))
        assert [t.task_id for t in store.list_tasks("acme", "p1")] == ["t1", "t2"]
        assert store.get_task("acme", "t1").spec.name == "t1"
        with pytest.raises(NotFound):
            store.get_task("acme", "tx")
        assert store.get_job("acme", "t1.1").state is JobState.QUEUED

    def test_update_task_is_versioned_and_tenant_scoped(self, store: Store) -> None:
        store.create_task(task("t1"), job("t1.1"))
        first = store.get_task("acme", "t1")
        saved = store.update_task(
            first.model_copy(update={"description": "d", "archived": True}), expected_version=first.version
        )
        assert saved.version == first.version + 1
        again = store.get_task("acme", "t1")
        assert (again.description, again.archived, again.version) == ("d", True, saved.version)
        with pytest.raises(Conflict):  # a writer that read before the update lost the race
            store.update_task(first.model_copy(update={"description": "late"}), expected_version=first.version)
        with pytest.raises(NotFound):  # another tenant cannot touch it, and learns nothing
            store.update_task(again.model_copy(update={"tenant": "globex"}), expected_version=again.version)
        with pytest.raises(NotFound):
            store.update_task(task("nope"), expected_version=0)
        assert store.get_task("acme", "t1").description == "d"

    def test_jobs_are_tenant_scoped_by_attempt(self, store: Store) -> None:
        queued(store, job("t1.2", attempt=2), job("t1.1", attempt=1), job("x", tenant="globex"))
        assert [j.job_id for j in store.list_jobs("acme", "t1")] == ["t1.1", "t1.2"]
        with pytest.raises(NotFound):
            store.get_job("acme", "x")
        with pytest.raises(NotFound):
            store.get_job("globex", "t1.1")

    # conflicts

    def test_creating_twice_is_a_conflict(self, store: Store) -> None:
        store.create_project(project("p1"))
        with pytest.raises(Conflict):
            store.create_project(project("p1", tenant="globex"))
        store.create_job(job("j1"))
        with pytest.raises(Conflict):
            store.create_job(job("j1", priority=5))
        assert store.get_job("acme", "j1").priority == 0

    def test_create_task_is_atomic(self, store: Store) -> None:
        store.create_job(job("t1.1"))
        with pytest.raises(Conflict):
            store.create_task(task("t1"), job("t1.1"))
        with pytest.raises(NotFound):
            store.get_task("acme", "t1")

    def test_create_task_replayed_is_already_processed(self, store: Store) -> None:
        store.create_task(task("t1"), job("t1.1"), dedup="tasks#e1")
        with pytest.raises(AlreadyProcessed):
            store.create_task(task("t9"), job("t9.1", tid="t9"), dedup="tasks#e1")
        with pytest.raises(NotFound):
            store.get_task("acme", "t9")

    def test_save_job_needs_the_stored_version(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        saved = store.save_job(j.model_copy(update={"reason": "one"}), expected_version=0)
        assert saved.version == 1
        assert store.get_job("acme", "j1").version == 1
        with pytest.raises(Conflict):
            store.save_job(j.model_copy(update={"reason": "stale"}), expected_version=0)
        with pytest.raises(Conflict):
            store.save_job(j.model_copy(update={"tenant": "globex"}), expected_version=1)
        with pytest.raises(Conflict):
            store.save_job(job("missing"), expected_version=0)
        assert store.get_job("acme", "j1").reason == "one"

    def test_a_jobs_run_record_round_trips(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        record = RunRecord(
            image="registry.example/t:1",
            image_id="registry.example/t@sha256:" + "a" * 64,
            command=["python", "train.py"],
            code_dir="/lab",
            code=CodeDigest(sha256="c" * 64, files=3, size_bytes=120),
            datasets={"d": DatasetRecord(key="acme/p/d", sha256="d" * 64, size_bytes=9, granted_at=T0)},
        )
        store.save_job(j.model_copy(update={"provenance": record}), expected_version=0)
        assert store.get_job("acme", "j1").provenance == record

    def test_save_job_cannot_take_capacity_behind_launch_jobs_back(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        with pytest.raises(Conflict):
            store.save_job(lifecycle.launch(j, at(1)), expected_version=0)
        assert store.usage("gpu") == (Capacity(), {})

    # dedup, epochs, checkpoints

    def test_replayed_event_changes_nothing(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        j = store.save_job(j, expected_version=0, dedup="report#e1", epochs=(epoch("j1", 1, loss=0.5),))
        with pytest.raises(AlreadyProcessed):  # replay with the current version
            store.save_job(j, expected_version=1, dedup="report#e1", epochs=(epoch("j1", 1, loss=9.0),))
        with pytest.raises(AlreadyProcessed):  # replay with the stale version: still a replay
            store.save_job(j, expected_version=0, dedup="report#e1", epochs=(epoch("j1", 2, loss=9.0),))
        assert store.get_job("acme", "j1").version == 1
        assert [(e.epoch, e.metrics) for e in store.epochs("acme", "j1")] == [(1, {"loss": 0.5})]
        store.save_job(j, expected_version=1, dedup="other#e1")  # another consumer may apply it

    def test_records_are_written_with_the_job(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        ckpt = Checkpoint(
            job_id="j1", tenant="acme", epoch=2, key="acme/j1/2.pt", metrics={"acc": 0.9}, reported_at=at(2)
        )
        j = store.save_job(j, expected_version=0, epochs=(epoch("j1", 2, loss=0.2),))
        j = store.save_job(j, expected_version=1, epochs=(epoch("j1", 1, loss=0.4),), checkpoints=(ckpt,))
        with pytest.raises(Conflict):
            store.save_job(j, expected_version=0, epochs=(epoch("j1", 3, loss=0.1),))
        assert [e.epoch for e in store.epochs("acme", "j1")] == [1, 2]
        assert store.checkpoints("acme", "j1") == [ckpt]
        assert store.epochs("globex", "j1") == [] and store.checkpoints("globex", "j1") == []

    def test_a_batch_of_records_is_one_write_with_one_replay_key(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        ckpt = Checkpoint(job_id="j1", tenant="acme", epoch=3, key="acme/j1/3.pt", metrics={}, reported_at=at(3))
        assert not store.processed("report#b1.0")
        records = [epoch("j1", n, loss=1 / n) for n in range(1, MAX_BATCH_EVENTS)]  # the largest batch
        summary = TaskSummary.of(j).with_epochs(records)
        j = store.save_job(
            j, expected_version=0, dedup="report#b1.0", epochs=records, checkpoints=[ckpt], summary=summary
        )
        assert store.processed("report#b1.0") and not store.processed("report#b1.1")
        with pytest.raises(AlreadyProcessed):
            store.save_job(j, expected_version=1, dedup="report#b1.0", epochs=[epoch("j1", 41, loss=0.0)])
        assert [e.epoch for e in store.epochs("acme", "j1")] == list(range(1, MAX_BATCH_EVENTS))
        assert store.checkpoints("acme", "j1") == [ckpt]

    # indexes

    def test_queue_is_priority_then_creation_and_only_queued(self, store: Store) -> None:
        queued(
            store,
            job("late", created=3),
            job("early", created=1),
            job("urgent", priority=9, created=5),
            job("other-pool", pool="cpu"),
            job("cancelled", created=0),
        )
        cancelled = store.get_job("acme", "cancelled")
        store.save_job(lifecycle.cancel(cancelled, at(6)), expected_version=0)
        assert [j.job_id for j in store.queued_jobs("gpu", tenant="acme")] == ["urgent", "early", "late"]
        assert [j.job_id for j in store.queued_jobs("gpu", tenant="acme", limit=2)] == ["urgent", "early"]

    def test_a_launched_job_leaves_the_queue(self, store: Store) -> None:
        a, _ = queued(store, job("a", created=1), job("b", created=2))
        launched(store, a)
        assert [j.job_id for j in store.queued_jobs("gpu", tenant="acme")] == ["b"]
        assert [j.job_id for page in store.active_jobs("gpu") for j in page] == ["a"]

    def test_due_jobs_are_active_jobs_past_their_deadline(self, store: Store) -> None:
        a, b, c, _ = queued(store, job("a"), job("b"), job("c"), job("d"))  # d stays QUEUED
        a = launched(store, a, now=0)  # launch deadline 60
        launched(store, b, now=30)  # launch deadline 90
        c = launched(store, c, now=0)
        store.save_job(lifecycle.fail(c, at(1), reason="x", kind=FailureKind.TRAINER), expected_version=c.version)
        assert [j.job_id for j in store.due_jobs("gpu", at(59))] == []
        assert [j.job_id for j in store.due_jobs("gpu", at(60))] == ["a"]
        assert [j.job_id for j in store.due_jobs("gpu", at(120))] == ["a", "b"]
        store.save_job(lifecycle.mark_running(a, at(10)), expected_version=a.version)  # epoch deadline 610
        assert [j.job_id for j in store.due_jobs("gpu", at(120))] == ["b"]
        assert store.due_jobs("cpu", at(10_000)) == []

    # capacity

    def test_launches_fit_the_budget(self, store: Store) -> None:
        jobs = queued(store, *(job(f"j{i}", created=i) for i in range(6)))
        for j in jobs[:5]:
            assert launched(store, j).state is JobState.LAUNCHING
        with pytest.raises(CapacityExhausted):
            launched(store, jobs[5])
        assert store.get_job("acme", "j5").state is JobState.QUEUED
        used, running = store.usage("gpu")
        assert used == Capacity(slots=5, cpu_milli=5000, memory_mb=5120, gpu=0)
        assert running == {"acme": 5}

    def test_a_request_above_the_whole_budget_never_launches(self, store: Store) -> None:
        (j,) = queued(store, job("big", cpu=6))
        with pytest.raises(CapacityExhausted):
            launched(store, j)
        assert store.usage("gpu") == (Capacity(), {})

    def test_tenant_cap(self, store: Store) -> None:
        policy = POLICY.model_copy(update={"tenant_cap": 2})
        a1, a2, a3, b1 = queued(store, job("a1"), job("a2"), job("a3"), job("b1", tenant="globex"))
        launched(store, a1, policy=policy)
        launched(store, a2, policy=policy)
        with pytest.raises(CapacityExhausted):
            launched(store, a3, policy=policy)
        launched(store, b1, policy=policy)
        assert store.usage("gpu")[1] == {"acme": 2, "globex": 1}

    def test_launch_with_a_stale_version_takes_no_capacity(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        launched(store, j)
        with pytest.raises(Conflict) as caught:
            launched(store, j)  # a second launcher with the same (now stale) job
        assert not isinstance(caught.value, CapacityExhausted)
        assert store.usage("gpu")[0].slots == 1

    def test_release_gives_back_once(self, store: Store) -> None:
        a, b = queued(store, job("a"), job("b", tenant="globex"))
        a = launched(store, a)
        launched(store, b)
        cleaned = finished_and_cleaned(store, a)
        assert store.unreleased_jobs("gpu", at(100 + 59)) == []  # announced once at finish; again after 60 s
        assert [j.job_id for j in store.unreleased_jobs("gpu", at(100 + 60))] == ["a"]
        released = store.release_job(cleaned, expected_version=cleaned.version, dedup="cleanup#e1")
        assert (released.cleaned_up, released.capacity_held) == (True, False)
        assert store.usage("gpu") == (Capacity(slots=1, cpu_milli=1000, memory_mb=1024), {"globex": 1})
        assert store.unreleased_jobs("gpu", at(10_000)) == []
        with pytest.raises(AlreadyProcessed):
            store.release_job(cleaned, expected_version=cleaned.version, dedup="cleanup#e1")
        with pytest.raises(Conflict):
            store.release_job(cleaned, expected_version=cleaned.version)
        with pytest.raises(Conflict):  # even with the current version: it holds nothing any more
            store.release_job(released, expected_version=released.version)
        assert store.usage("gpu")[0].slots == 1

    def test_concurrent_launches_never_exceed_the_budget(self, store: Store) -> None:
        jobs = queued(store, *(job(f"j{i:02}", created=i) for i in range(20)))
        wins: list[str] = []
        start = threading.Barrier(8)

        def launcher(mine: list[Job]) -> None:
            start.wait()
            for j in mine:
                for _ in range(50):  # TemporaryError = contention on an item: try again
                    try:
                        wins.append(launched(store, j).job_id)
                    except CapacityExhausted:
                        pass
                    except TemporaryError:
                        continue
                    break

        threads = [threading.Thread(target=launcher, args=(jobs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(wins) == 5
        assert store.usage("gpu") == (Capacity(slots=5, cpu_milli=5000, memory_mb=5120), {"acme": 5})
        assert sorted(j.job_id for page in store.active_jobs("gpu") for j in page) == sorted(wins)
        assert len(store.queued_jobs("gpu", tenant="acme")) == 15

    # at scale: sharded deadlines, paging, lookups by id, the ingress's marks

    def test_deadlines_are_spread_over_shards_and_read_back_whole(self, store: Store) -> None:
        jobs = queued(store, *(job(f"s{i:03d}", created=i) for i in range(40)))
        for n, j in enumerate(jobs):
            launched(store, j, now=n, policy=BIG)  # launch deadlines 60..99
        shards = {rules.deadline_entry(store.get_job("acme", j.job_id)).pool for j in jobs}  # type: ignore[union-attr]
        assert len(shards) > 4 and all(s.startswith("gpu#") for s in shards)
        assert [j.job_id for j in store.due_jobs("gpu", at(69))] == [f"s{i:03d}" for i in range(10)]
        pages = list(store.active_jobs("gpu", page=7))
        assert all(len(p) <= 7 for p in pages)
        assert sorted(j.job_id for p in pages for j in p) == [j.job_id for j in jobs]  # to the end

    def test_jobs_by_id_returns_those_that_exist(self, store: Store) -> None:
        queued(store, job("a"), job("b", tenant="globex"))
        assert sorted(j.job_id for j in store.jobs_by_id(["b", "ghost", "a", "a"])) == ["a", "b"]
        assert store.jobs_by_id([]) == []

    def test_report_marks_keep_the_latest_acceptance_and_any_outcome(self, store: Store) -> None:
        store.note_report("acme", "a", at=at(5), outcome=False)
        assert store.report_marks(["a", "b"]) == {"a": ReportMark(job_id="a", tenant="acme", accepted_at=at(5))}
        store.note_report("acme", "a", at=at(7), outcome=True)
        store.note_report("acme", "a", at=at(9), outcome=False)  # e.g. logs after the outcome
        assert store.report_marks(["a"])["a"] == ReportMark(
            job_id="a", tenant="acme", accepted_at=at(9), outcome_at=at(7)
        )
        assert store.report_marks([]) == {}

    def test_each_tenant_has_its_own_queue_and_counts(self, store: Store) -> None:
        a1, _, b1 = queued(store, job("a1", created=1), job("a2", created=2), job("b1", tenant="globex", created=3))
        assert [j.job_id for j in store.queued_jobs("gpu", tenant="globex")] == ["b1"]
        assert [j.job_id for j in store.queued_jobs("gpu", tenant="acme")] == ["a1", "a2"]
        assert store.pool_tenants("gpu") == {"acme": TenantShare(queued=2), "globex": TenantShare(queued=1)}
        a1 = launched(store, a1)
        store.save_job(lifecycle.cancel(b1, at(3)), expected_version=b1.version)
        one = Capacity(slots=1, cpu_milli=1000, memory_mb=1024)
        assert store.pool_tenants("gpu") == {
            "acme": TenantShare(used=one, running=1, queued=1),
            "globex": TenantShare(queued=0),
        }
        cleaned = finished_and_cleaned(store, a1)
        store.release_job(cleaned, expected_version=cleaned.version)
        assert store.pool_tenants("gpu")["acme"] == TenantShare(queued=1)
        assert store.pool_tenants("cpu") == {}

    # the comparison's read model

    def test_a_new_attempt_speaks_for_its_task_and_epochs_update_it(self, store: Store) -> None:
        store.create_project(project("p1"))
        store.create_task(task("t1"), job("t1.1", tid="t1"))
        assert store.task_summaries("acme", ["t1", "nope"]) == {"t1": TaskSummary.of(job("t1.1", tid="t1"))}
        j = store.get_job("acme", "t1.1")
        e = epoch("t1.1", 1, loss=0.5)
        summary = TaskSummary.of(j).with_epoch(e)
        store.save_job(j, expected_version=j.version, epochs=(e,), summary=summary)
        assert store.task_summaries("acme", ["t1"])["t1"].series == {"loss": [(1, 0.5)]}
        assert store.task_summaries("globex", ["t1"]) == {}  # another tenant's
        store.create_job(job("t1.2", tid="t1", attempt=2))  # a retry starts afresh
        assert store.task_summaries("acme", ["t1"])["t1"] == TaskSummary.of(job("t1.2", tid="t1", attempt=2))

    def test_task_pages_go_oldest_first_to_the_end(self, store: Store) -> None:
        store.create_project(project("p1"))
        for i in range(7):
            store.create_task(task(f"t{i}", created=i), job(f"t{i}.1", tid=f"t{i}"))
        store.create_task(task("x", tenant="globex", pid="p1", created=3), job("x.1", tid="x", tenant="globex"))
        seen, after = [], None
        for _ in range(5):
            page, after = store.task_page("acme", "p1", after=after, limit=3)
            seen += [t.task_id for t in page]
            if after is None:
                break
        assert seen == [f"t{i}" for i in range(7)] and after is None
        with pytest.raises(ValidationError):
            store.task_page("acme", "p1", after="garbage")

    def test_a_task_created_after_a_page_was_read_shows_on_the_next_read(self, store: Store) -> None:
        store.create_project(project("p1"))
        store.create_task(task("t0", created=0), job("t0.1", tid="t0"))
        store.create_task(task("t2", created=2), job("t2.1", tid="t2"))
        assert [t.task_id for t in store.task_page("acme", "p1")[0]] == ["t0", "t2"]
        store.create_task(task("t1", created=1), job("t1.1", tid="t1"))
        page, after = store.task_page("acme", "p1", limit=2)
        assert [t.task_id for t in page] == ["t0", "t1"]
        assert [t.task_id for t in store.task_page("acme", "p1", after=after)[0]] == ["t2"]

    # dataset versions

    def test_dataset_versions_are_numbered_immutable_and_listed_oldest_first(self, store: Store) -> None:
        for n in (2, 1, 3):
            store.create_dataset_version(dataset_version(n))
        store.create_dataset_version(dataset_version(1, name="other"))
        assert [v.version for v in store.dataset_versions("acme", "p1", "intents")] == [1, 2, 3]
        assert store.get_dataset_version("acme", "p1", "intents", 2) == dataset_version(2)
        with pytest.raises(Conflict):
            store.create_dataset_version(dataset_version(2).model_copy(update={"key": "acme/p1/intents/evil"}))
        assert store.get_dataset_version("acme", "p1", "intents", 2).key == dataset_version(2).key
        assert store.dataset_versions("acme", "p1", "nope") == []

    def test_dataset_versions_are_tenant_and_project_scoped(self, store: Store) -> None:
        store.create_dataset_version(dataset_version(1))
        assert store.dataset_versions("globex", "p1", "intents") == []
        assert store.dataset_versions("acme", "p2", "intents") == []
        with pytest.raises(NotFound):
            store.get_dataset_version("globex", "p1", "intents", 1)
        with pytest.raises(NotFound):
            store.get_dataset_version("acme", "p1", "intents", 2)
        with pytest.raises(NotFound):  # another tenant cannot write a validation onto it
            store.save_dataset_version(dataset_version(1, tenant="globex"))

    def test_a_validation_is_saved_with_its_version_only(self, store: Store) -> None:
        store.create_dataset_version(dataset_version(1))
        store.create_dataset_version(dataset_version(2))
        report = ValidationReport(
            dataset="intents",
            version=1,
            validator="intent-csv/1",
            passed=False,
            findings=[Finding(code="empty_text", severity=Severity.ERROR, message="the text is empty", line=3)],
            checked={"rows": 10, "errors": 1},
        )
        checked = Validation(job_id="t9.1", task_id="t9", finished_at=at(50), report=report)
        store.save_dataset_version(dataset_version(1).validated_by(checked))
        assert store.get_dataset_version("acme", "p1", "intents", 1).validation == checked
        assert store.get_dataset_version("acme", "p1", "intents", 1).status == "failed"
        assert store.get_dataset_version("acme", "p1", "intents", 2).validation is None
        with pytest.raises(NotFound):
            store.save_dataset_version(dataset_version(3).validated_by(checked))
