"""Admission: which queued jobs may launch now, in creation order, within budgets.

The plan is pure; the store enforces the same budgets with conditional writes, so two
concurrent planners can never push usage over budget (one of them gets a Conflict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from functions.domain.model import Job, JobState
from sdk.contracts.specs import Resources


class Capacity(BaseModel):
    """A pool's budget, or its current usage, in the units jobs request."""

    model_config = ConfigDict(frozen=True)

    slots: int = Field(default=0, ge=0)
    cpu_milli: int = Field(default=0, ge=0)
    memory_mb: int = Field(default=0, ge=0)
    gpu: int = Field(default=0, ge=0)

    @staticmethod
    def of(resources: Resources) -> Capacity:
        return Capacity(
            slots=1, cpu_milli=round(resources.cpu * 1000), memory_mb=resources.memory_mb, gpu=resources.gpu
        )

    def plus(self, other: Capacity) -> Capacity:
        return Capacity(
            slots=self.slots + other.slots,
            cpu_milli=self.cpu_milli + other.cpu_milli,
            memory_mb=self.memory_mb + other.memory_mb,
            gpu=self.gpu + other.gpu,
        )

    def fits_within(self, budget: Capacity) -> bool:
        return (
            self.slots <= budget.slots
            and self.cpu_milli <= budget.cpu_milli
            and self.memory_mb <= budget.memory_mb
            and self.gpu <= budget.gpu
        )


class PoolPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    budget: Capacity
    tenant_cap: int = Field(default=4, ge=1, description="running jobs per tenant in this pool")
    starvation_s: float = Field(
        default=600.0,
        gt=0,
        description="seconds a job that does not fit may be passed over by smaller jobs; after that nothing else "
        "launches in the pool until it fits (BestEffortFIFO with a bound)",
    )

    def refusal(self, request: Capacity) -> str | None:
        """Why a request can never run in this pool (it exceeds the whole budget), or None."""
        if request.fits_within(self.budget):
            return None
        b = self.budget
        return (
            f"requests cpu_milli={request.cpu_milli} memory_mb={request.memory_mb} gpu={request.gpu}, more "
            f"than the pool's whole budget (slots={b.slots} cpu_milli={b.cpu_milli} memory_mb={b.memory_mb} "
            f"gpu={b.gpu}): it could never launch"
        )


class TenantShare(BaseModel):
    """A tenant's standing in one pool: what it runs (capacity, jobs) and how many jobs it has queued."""

    model_config = ConfigDict(frozen=True)

    used: Capacity = Capacity()
    running: int = Field(default=0, ge=0)
    queued: int = Field(default=0, ge=0)


def dominant_share(used: Capacity, budget: Capacity) -> float:
    """Dominant Resource Fairness: the largest fraction of any resource the tenant holds."""
    fractions = [
        used.slots / budget.slots if budget.slots else 0.0,
        used.cpu_milli / budget.cpu_milli if budget.cpu_milli else 0.0,
        used.memory_mb / budget.memory_mb if budget.memory_mb else 0.0,
        used.gpu / budget.gpu if budget.gpu else 0.0,
    ]
    return max(fractions)


def waiting_since(job: Job) -> datetime:
    return job.not_before or job.created_at


def plan(
    queues: Mapping[str, Sequence[Job]],
    *,
    usage: Capacity,
    tenants: Mapping[str, TenantShare],
    policy: PoolPolicy,
    now: datetime,
) -> list[Job]:
    """Queued jobs to launch now, in the order they should be launched.

    Like Kueue's fair sharing: each tenant has its own queue (priority, then creation), and
    the next job comes from the tenant with the smallest dominant share of the pool,
    divided by the weight of its plan priority (1 + priority), so one tenant's backlog
    never starves another. Within a queue, a job that does not fit *now* is passed over
    (BestEffortFIFO), unless it has waited starvation_s: then nothing else launches until
    it fits, so a large job is not starved by a stream of small ones either. A job still
    backing off, or of a tenant at its cap, is passed over.
    """
    pending = {
        t: [j for j in q if j.state is JobState.QUEUED and (j.not_before is None or now >= j.not_before)]
        for t, q in queues.items()
    }
    starving = sorted(
        (j for q in pending.values() for j in q if (now - waiting_since(j)).total_seconds() >= policy.starvation_s),
        key=lambda j: (waiting_since(j), j.job_id),
    )
    used = {t: share.used for t, share in tenants.items()}
    running = {t: share.running for t, share in tenants.items()}
    chosen: list[Job] = []
    if starving:  # the longest-starved job goes first, or nothing does
        first = starving[0]
        after = usage.plus(Capacity.of(first.resources))
        if not after.fits_within(policy.budget) or running.get(first.tenant, 0) >= policy.tenant_cap:
            return []
        chosen.append(first)
        usage = after
        used[first.tenant] = used.get(first.tenant, Capacity()).plus(Capacity.of(first.resources))
        running[first.tenant] = running.get(first.tenant, 0) + 1
        pending[first.tenant].remove(first)
    while True:
        open_ = [t for t, q in pending.items() if q and running.get(t, 0) < policy.tenant_cap]
        if not open_:
            return chosen
        tenant = min(open_, key=lambda t: (_weighted_share(used.get(t, Capacity()), pending[t][0], policy), t))
        job = pending[tenant].pop(0)
        after = usage.plus(Capacity.of(job.resources))
        if not after.fits_within(policy.budget):
            continue  # passed over (not starving yet): smaller jobs behind it may fit
        chosen.append(job)
        usage = after
        used[tenant] = used.get(tenant, Capacity()).plus(Capacity.of(job.resources))
        running[tenant] = running.get(tenant, 0) + 1


def _weighted_share(used: Capacity, head: Job, policy: PoolPolicy) -> float:
    return dominant_share(used, policy.budget) / (1 + head.priority)


def queue_key(job: Job) -> str:
    """Sort key of a tenant's launch queue: higher priority first, then creation order."""
    return f"{9 - job.priority}#{job.created_at.isoformat()}#{job.job_id}"
