"""Pool capacity in DynamoDB: a launch or a release moves the job and the counters in
one transaction, so concurrent launchers can never push usage past the budget.

A budget check is a condition on the counter itself: usage + request <= budget is
written as `attribute_not_exists(x) OR x <= budget - request` (computed here), since
DynamoDB conditions cannot add. Releases are conditioned on x >= amount (never < 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import and_

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.condition import Condition

from functions.domain.admission import Capacity, PoolPolicy, TenantShare
from functions.domain.audit import AuditRecord
from functions.domain.model import Job
from functions.store import rules
from functions.store.dynamo_base import DynamoBase
from functions.store.errors import translated
from functions.store.tables import CapacityRow
from functions.store.tx import Write
from sdk.contracts.errors import Conflict


class CapacityMixin(DynamoBase):
    def launch_job(
        self, job: Job, *, expected_version: int, policy: PoolPolicy, audit: AuditRecord | None = None
    ) -> Job:
        rules.check_launchable(job)
        limits = rules.usage_limits(job, policy)
        request = rules.counters(rules.request_of(job))
        cap = self._t.capacity
        write = Write()
        saved = self._put_saved_job(
            write, job, expected_version=expected_version, stored=self._t.jobs.queue_pool.exists(), why=rules.NOT_QUEUED
        )
        self._add_audit(write, audit)  # a put: DynamoDB takes puts before updates, as on_fail lists them
        counters = self._counters()
        write.update(
            self._usage_row(job.pool),
            actions=[attr.add(request[name]) for name, attr in counters.items()],
            condition=_all(attr.does_not_exist() | (attr <= limits[name]) for name, attr in counters.items()),
            on_fail=rules.over_budget(job),
        )
        write.update(
            self._tenant_row(job.pool, job.tenant),
            actions=[
                cap.running.add(1),
                cap.queued.add(-1),
                *(attr.add(request[name]) for name, attr in counters.items()),
            ],
            condition=cap.running.does_not_exist() | (cap.running < policy.tenant_cap),
            on_fail=rules.over_tenant_cap(job, policy),
        )
        self._commit(write)
        return saved

    def release_job(self, job: Job, *, expected_version: int, dedup: str | None = None) -> Job:
        rules.check_releasable(job)
        amount = rules.counters(rules.request_of(job))
        cap = self._t.capacity
        write = Write()
        self._add_dedup(write, dedup)
        saved = self._put_saved_job(
            write,
            job,
            expected_version=expected_version,
            stored=self._t.jobs.release_pool.exists(),
            why=rules.HOLDS_NOTHING,
        )
        counters = self._counters()
        write.update(
            self._usage_row(job.pool),
            actions=[attr.add(-amount[name]) for name, attr in counters.items()],
            condition=_all(attr >= amount[name] for name, attr in counters.items()),
            on_fail=Conflict(f"pool {job.pool!r}: releasing job {job.job_id} would go below zero"),
        )
        write.update(
            self._tenant_row(job.pool, job.tenant),
            actions=[cap.running.add(-1), *(attr.add(-amount[name]) for name, attr in counters.items())],
            condition=cap.running >= 1,
            on_fail=Conflict(f"pool {job.pool!r}: tenant {job.tenant!r} has no job to release"),
        )
        self._commit(write)
        return saved

    def usage(self, pool: str) -> tuple[Capacity, dict[str, int]]:
        with translated():
            rows = list(self._t.capacity.query(rules.pool_pk(pool), consistent_read=True))
        used = Capacity()
        running: dict[str, int] = {}
        for row in rows:
            if row.sk == rules.USAGE_SK:
                used = Capacity(**{name: int(getattr(row, name) or 0) for name in rules.COUNTERS})
            elif row.sk.startswith(rules.TENANT_SK_PREFIX) and row.running:
                running[row.sk.removeprefix(rules.TENANT_SK_PREFIX)] = int(row.running)
        return used, running

    def pool_tenants(self, pool: str) -> dict[str, TenantShare]:
        with translated():
            cap = self._t.capacity
            rows = list(cap.query(rules.pool_pk(pool), cap.sk.startswith(rules.TENANT_SK_PREFIX), consistent_read=True))
        return {
            row.sk.removeprefix(rules.TENANT_SK_PREFIX): TenantShare(
                used=Capacity(**{name: max(0, int(getattr(row, name) or 0)) for name in rules.COUNTERS}),
                running=max(0, int(row.running or 0)),
                queued=max(0, int(row.queued or 0)),
            )
            for row in rows
        }

    def _counters(self) -> dict[str, NumberAttribute]:
        cap = self._t.capacity
        return {"slots": cap.slots, "cpu_milli": cap.cpu_milli, "memory_mb": cap.memory_mb, "gpu": cap.gpu}

    def _usage_row(self, pool: str) -> CapacityRow:
        return self._t.capacity(rules.pool_pk(pool), rules.USAGE_SK)

    def _tenant_row(self, pool: str, tenant: str) -> CapacityRow:
        return self._t.capacity(rules.pool_pk(pool), rules.tenant_sk(tenant))


def _all(conditions: Iterable[Condition]) -> Condition:
    combined: Condition = reduce(and_, conditions)
    return combined
