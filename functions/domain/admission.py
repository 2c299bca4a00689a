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
        return Capacity(slots=1, cpu_milli=round(resources.cpu * 1000),
                        memory_mb=resources.memory_mb, gpu=resources.gpu)

    def plus(self, other: Capacity) -> Capacity:
        return Capacity(slots=self.slots + other.slots, cpu_milli=self.cpu_milli + other.cpu_milli,
                        memory_mb=self.memory_mb + other.memory_mb, gpu=self.gpu + other.gpu)

    def fits_within(self, budget: Capacity) -> bool:
        return (self.slots <= budget.slots and self.cpu_milli <= budget.cpu_milli
                and self.memory_mb <= budget.memory_mb and self.gpu <= budget.gpu)


class PoolPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    budget: Capacity
    tenant_cap: int = Field(default=4, ge=1, description="running jobs per tenant in this pool")


def plan(queue: Sequence[Job], *, usage: Capacity, tenant_running: Mapping[str, int],
         policy: PoolPolicy, now: datetime) -> list[Job]:
    """Queued jobs to launch now, in queue order (priority, then creation).

    A job still backing off, or whose tenant is at its cap, is passed over without
    blocking other tenants; the first job that does not fit the pool stops the plan,
    so a large job is not starved by smaller ones created after it.
    """
    chosen: list[Job] = []
    running = dict(tenant_running)
    for job in queue:
        if job.state is not JobState.QUEUED:
            continue
        if job.not_before is not None and now < job.not_before:
            continue
        if running.get(job.tenant, 0) >= policy.tenant_cap:
            continue
        after = usage.plus(Capacity.of(job.resources))
        if not after.fits_within(policy.budget):
            break
        chosen.append(job)
        usage = after
        running[job.tenant] = running.get(job.tenant, 0) + 1
    return chosen


def queue_key(job: Job) -> str:
    """Sort key of the launch queue: higher priority first, then creation order."""
    return f"{9 - job.priority}#{job.created_at.isoformat()}#{job.job_id}"
