"""Cleanup of a finished attempt: keep its logs, free the runtime and the capacity,
queue the next attempt if the retry policy allows, then launch what now fits.

Idempotent by state, not by event id: the sweep re-announces finished jobs whose
cleanup did not complete, and those deliveries must do the work, not skip it.
"""

from __future__ import annotations

import contextlib
import logging

from functions.core import audit, events, joblogs, launching, retention
from functions.core.deps import Deps
from functions.domain import lifecycle, retry
from functions.domain.audit import system
from functions.domain.model import Job
from sdk.contracts.errors import Conflict

log = logging.getLogger(__name__)


def cleanup(deps: Deps, *, tenant: str, job_id: str) -> Job:
    job = deps.jobs.get_job(tenant, job_id)
    if not job.state.is_terminal or job.cleaned_up:
        launching.admit_pool(deps, job.pool)
        return job
    deps.runtime.stop(job.job_id)
    job = retention.apply(deps, tenant=tenant, job_id=job_id, finish=True)
    key = _keep_logs(deps, job)
    deps.runtime.delete(job.job_id)
    nxt = retry.next_attempt(job, deps.clock.now())
    if nxt is not None:
        _create_attempt(deps, nxt)  # before the release, so a crash here cannot lose the retry
    cleaned = lifecycle.mark_cleaned(job, log_key=key)
    try:
        if job.capacity_held:
            saved = deps.jobs.release_job(cleaned, expected_version=job.version)
        else:
            saved = deps.jobs.save_job(cleaned, expected_version=job.version)
    except Conflict:
        return deps.jobs.get_job(tenant, job_id)  # a concurrent cleanup won
    log.info(
        "job cleaned up",
        extra={
            "job_id": job.job_id,
            "tenant": job.tenant,
            "state": job.state.value,
            "retry": nxt.job_id if nxt else None,
        },
    )
    if nxt is not None:
        events.job_created(deps, nxt)
    launching.admit_pool(deps, job.pool)
    return saved


def _keep_logs(deps: Deps, job: Job) -> str | None:
    """The final capture, or what the sweep shipped while it ran when the pod (and its logs)
    is already gone, e.g. a drained node or a Job past its deadline."""
    output = deps.runtime.logs(job.job_id, full=True)  # all of it: reads page through it
    if output:
        deps.logs.put(joblogs.final_key(job), output, content_type="text/plain")
        return joblogs.final_key(job)
    return joblogs.live_key(job) if deps.logs.exists(joblogs.live_key(job)) else None


def _create_attempt(deps: Deps, job: Job) -> None:
    record = audit.job_change(deps, None, job, actor=system(job.tenant, "cleanup"))
    with contextlib.suppress(Conflict):  # created by an earlier delivery of this cleanup
        deps.jobs.create_job(job, audit=record)
