"""Re-adoption: a restarted platform takes back the trainers that ran on while it was down.

The runtime keeps running trainers across a platform restart (the local runner's
supervisors live in their own sessions and record each trainer's exit code in its job
directory; Kubernetes Jobs do not care). On start, before the first sweep, every active
job the runtime still knows is adopted: its launch/epoch clock restarts now, because the
reports it sent while the platform was down never arrived (the SDK keeps retrying them,
so they arrive soon); its TTL does not move. Then the normal machinery takes over: its
reports are accepted again, its limits are judged from them, and a trainer that ended
meanwhile gets its verdict from its recorded exit through the sweep's reconciliation
(instead of a time-out that only measured the platform's absence). A job the runtime
no longer knows is left to the sweep, which fails it as `infrastructure`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from functions.core.deps import CoreConfig
from functions.domain import lifecycle
from functions.ports import Clock, JobRuntime, JobStore
from sdk.contracts.errors import Conflict, InvalidTransition

log = logging.getLogger(__name__)


class AdoptionPorts(Protocol):
    """What re-adoption reads and changes (a Deps has it all): no blob, event or token port."""

    @property
    def jobs(self) -> JobStore: ...

    @property
    def runtime(self) -> JobRuntime: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def config(self) -> CoreConfig: ...


def adopt(deps: AdoptionPorts) -> list[str]:
    """Adopt every active job the runtime still holds; their ids (call once, at start)."""
    now = deps.clock.now()
    held = sorted({r.job_id for r in deps.runtime.list()})
    # Read by id: the cost is the jobs the runtime holds, never the history (start-up time).
    active = [j for j in deps.jobs.jobs_by_id(held) if j.state.is_active and j.pool in deps.config.pools]
    adopted = []
    for job in active:
        try:
            deps.jobs.save_job(lifecycle.adopt(job, now), expected_version=job.version)
        except (Conflict, InvalidTransition):
            continue  # it moved on meanwhile (a report got in first): nothing to adopt
        adopted.append(job.job_id)
    if adopted:
        log.info("re-adopted running jobs after a restart", extra={"count": len(adopted), "job_ids": adopted[:20]})
    return adopted
