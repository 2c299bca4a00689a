"""Admission: the queue and deadline indexes of a pool, launches that fit its budget and each
tenant's cap (also when launchers race), capacity given back once; at scale, sharded deadlines
and paging."""

from __future__ import annotations

import threading

import pytest

from functions.domain import lifecycle
from functions.domain.admission import Capacity, TenantShare
from functions.domain.model import Job, JobState
from functions.store import rules
from sdk.contracts.errors import AlreadyProcessed, CapacityExhausted, Conflict, TemporaryError
from sdk.contracts.specs import FailureKind
from tests.store_contract.helpers import BIG, POLICY, Store, at, finished_and_cleaned, job, launched, queued


class AdmissionContract:
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

    # at scale: sharded deadlines, paging, each tenant's queue

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
