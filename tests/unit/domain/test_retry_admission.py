from __future__ import annotations

from datetime import timedelta

import pytest

from functions.domain import admission, lifecycle, retry
from functions.domain.admission import Capacity, PoolPolicy, TenantShare
from functions.domain.model import JobState
from sdk.contracts.specs import FailureKind, Resources, RetryPolicy
from tests.support.builders import T0, job


def failed(kind: FailureKind, attempt: int = 1):
    j = lifecycle.launch(job(attempt=attempt, job_id=f"t-1.{attempt}"), T0)
    return lifecycle.fail(j, T0, reason="x", kind=kind)


def test_backoff_is_exponential_and_capped() -> None:
    p = RetryPolicy(backoff_s=10, backoff_factor=2, max_backoff_s=35)
    assert [retry.backoff(p, a).total_seconds() for a in (1, 2, 3, 4)] == [10, 20, 35, 35]


def test_next_attempt_is_queued_behind_backoff_with_deterministic_id() -> None:
    nxt = retry.next_attempt(failed(FailureKind.TRAINER), T0)
    assert nxt is not None
    assert (nxt.job_id, nxt.attempt, nxt.state) == ("t-1.2", 2, JobState.QUEUED)
    assert nxt.not_before == T0 + timedelta(seconds=10)


def test_retries_stop_when_exhausted() -> None:
    assert retry.next_attempt(failed(FailureKind.TRAINER, attempt=2), T0) is not None
    assert retry.next_attempt(failed(FailureKind.TRAINER, attempt=3), T0) is None


def test_cancel_never_retries_and_policy_chooses_kinds() -> None:
    cancelled = lifecycle.cancel(lifecycle.launch(job(), T0), T0)
    assert retry.next_attempt(cancelled, T0) is None
    only_infra = RetryPolicy(retry_on=frozenset({FailureKind.INFRASTRUCTURE}))
    j = lifecycle.launch(job(retry=only_infra), T0)
    assert retry.next_attempt(lifecycle.fail(j, T0, reason="x", kind=FailureKind.TRAINER), T0) is None
    assert retry.next_attempt(lifecycle.fail(j, T0, reason="x", kind=FailureKind.INFRASTRUCTURE), T0) is not None


def test_policy_refuses_retrying_cancellations() -> None:
    with pytest.raises(ValueError, match="never retried"):
        RetryPolicy(retry_on=frozenset({FailureKind.CANCELLED}))


POLICY = PoolPolicy(budget=Capacity(slots=3, cpu_milli=3000, memory_mb=4096, gpu=0), tenant_cap=2)


def queued(i: int, tenant: str = "acme", cpu: float = 1.0, **kw: object):
    return job(
        job_id=f"t-{i}.1",
        task_id=f"t-{i}",
        tenant=tenant,
        created_at=T0 + timedelta(seconds=i),
        resources=Resources(cpu=cpu, memory_mb=512),
        **kw,
    )


def by_tenant(*jobs):
    queues: dict[str, list] = {}
    for j in jobs:
        queues.setdefault(j.tenant, []).append(j)
    return queues


def plan(*jobs, usage=None, tenants=None, policy=POLICY, now=T0):  # type: ignore[no-untyped-def]
    return [
        j.job_id
        for j in admission.plan(
            by_tenant(*jobs), usage=usage or Capacity(), tenants=tenants or {}, policy=policy, now=now
        )
    ]


def test_plan_respects_budget_and_tenant_cap_sharing_fairly() -> None:
    chosen = plan(queued(1), queued(2), queued(3), queued(4, tenant="other"), queued(5, tenant="other"))
    assert chosen == ["t-1.1", "t-4.1", "t-2.1"]  # turns by dominant share; slots full after three


def test_a_job_that_does_not_fit_now_does_not_block_smaller_ones_behind_it() -> None:
    chosen = plan(queued(1, cpu=2.5), queued(2, cpu=1.0), queued(3, cpu=0.5), usage=Capacity(slots=1, cpu_milli=1000))
    assert chosen == ["t-2.1", "t-3.1"]  # BestEffortFIFO: the big one is passed over, not waited for


def test_a_job_passed_over_too_long_is_not_starved() -> None:
    later = T0 + timedelta(seconds=POLICY.starvation_s + 1)
    jobs = (queued(1, cpu=2.5), queued(2, cpu=1.0))
    assert plan(*jobs, usage=Capacity(slots=1, cpu_milli=1000), now=later) == []  # room drains for it
    assert plan(*jobs, usage=Capacity(), now=later) == ["t-1.1"]  # and it goes first once it fits


def test_one_tenants_backlog_never_starves_another() -> None:
    backlog = [queued(i) for i in range(1, 1001)]
    chosen = plan(
        *backlog,
        queued(5000, tenant="small"),
        tenants={"acme": TenantShare(used=Capacity(slots=1, cpu_milli=1000, memory_mb=512), running=1)},
    )
    assert chosen[0] == "t-5000.1"  # the tenant with the smaller dominant share goes first


def test_plan_priority_weighs_the_fair_share() -> None:
    busy = TenantShare(used=Capacity(slots=1, cpu_milli=1000, memory_mb=512), running=1)
    four = POLICY.model_copy(update={"budget": Capacity(slots=4, cpu_milli=4000, memory_mb=4096), "tenant_cap": 4})
    equal = plan(
        queued(1, tenant="zeta"), queued(2, tenant="other"), tenants={"zeta": busy, "other": busy}, policy=four
    )
    assert equal == ["t-2.1", "t-1.1"]  # same share: by name
    weighted = plan(
        queued(1, tenant="zeta", priority=5),
        queued(2, tenant="other"),
        tenants={"zeta": busy, "other": busy},
        policy=four,
    )
    assert weighted[0] == "t-1.1"  # share 1/4 weighed by 1 + 5 goes before 1/4


def test_plan_skips_backing_off_jobs() -> None:
    assert plan(queued(1, not_before=T0 + timedelta(seconds=5)), queued(2)) == ["t-2.1"]


def test_a_task_that_can_never_fit_is_refused_naming_the_budget() -> None:
    why = POLICY.refusal(Capacity(slots=1, cpu_milli=4000, memory_mb=512))
    assert why is not None and "cpu_milli=3000" in why and "never" in why
    assert POLICY.refusal(Capacity(slots=1, cpu_milli=3000, memory_mb=512)) is None


def test_queue_key_orders_priority_then_creation() -> None:
    jobs = [queued(1), queued(2, priority=5), queued(3)]
    assert [j.job_id for j in sorted(jobs, key=admission.queue_key)] == ["t-2.1", "t-1.1", "t-3.1"]
