"""Admission through the core: refused at creation, fair between tenants, no head-of-line blocking."""

from __future__ import annotations

import pytest

from functions.core import launching, reporting
from functions.domain.model import JobState
from sdk.contracts import events as ev
from sdk.contracts.errors import ValidationError
from tests.support.harness import harness


def test_a_task_that_can_never_fit_its_pool_is_refused_at_creation_naming_the_budget() -> None:
    h = harness(slots=2)  # budget: 2 slots, 2000 cpu_milli, 2048 MB
    with pytest.raises(ValidationError) as caught:
        h.task(h.project(), resources={"cpu": 3, "memory_mb": 512})
    [problem] = caught.value.problems
    assert problem.field == "resources"
    assert "pool 'default'" in problem.message and "cpu_milli=2000" in problem.message
    assert h.store.pool_tenants("default") == {}  # nothing was queued


def test_one_tenants_backlog_does_not_starve_another_tenants_job() -> None:
    h = harness(slots=50, tenant_cap=2)
    big, small = h.project(tenant="big"), h.project(tenant="small")
    for _ in range(150):
        h.task(big)
    _, mine = h.task(small)
    launching.admit_pool(h.deps, "default")  # one admission cycle
    assert h.job(mine).state is JobState.LAUNCHING
    assert h.store.pool_tenants("default")["big"].running == 2  # capped, not 48 more


def test_one_admission_cycle_with_a_thousand_queued_launches_the_other_tenant() -> None:
    h = harness(slots=4, tenant_cap=4)
    big, small = h.project(tenant="big"), h.project(tenant="small")
    for _ in range(4):
        h.task(big)
    launching.admit_pool(h.deps, "default")  # big fills the pool
    for _ in range(1000):
        h.task(big)
    _, mine = h.task(small)
    first = next(j for page in h.store.active_jobs("default") for j in page)
    reporting.report(h.deps, tenant="big", job_id=first.job_id, event_type="s", event_id="r", payload=ev.JobRunning())
    reporting.report(h.deps, tenant="big", job_id=first.job_id, event_type="s", event_id="s", payload=ev.JobSucceeded())
    h.finish_events()  # cleanup frees one slot and runs one admission cycle
    assert h.job(mine).state is JobState.LAUNCHING


def test_a_big_job_that_does_not_fit_now_lets_smaller_ones_pass() -> None:
    h = harness(slots=4)
    p = h.project()
    h.task(p, resources={"cpu": 1, "memory_mb": 512})
    launching.admit_pool(h.deps, "default")
    _, big = h.task(p, resources={"cpu": 4, "memory_mb": 512})
    _, small2 = h.task(p, resources={"cpu": 1, "memory_mb": 512})
    launching.admit_pool(h.deps, "default")
    assert (h.job(big).state, h.job(small2).state) == (JobState.QUEUED, JobState.LAUNCHING)
