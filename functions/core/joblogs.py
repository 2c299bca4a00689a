"""Where a job's logs live in the logs bucket, and shipping them while the job runs.

A pod's logs die with the pod: a node scaled down, a Job past its deadline or a drained node
takes them along. So the sweep copies every running job's logs to `live.log` each tick, and
cleanup stores the final capture in `runtime.log`. The API reads only these objects; it never
asks the runtime (in a cluster it has neither a token nor RBAC for pod logs).
"""

from __future__ import annotations

import logging

from functions.core.deps import Deps
from functions.domain.model import Job
from functions.ports import RuntimeJob, RuntimeStatus
from sdk.contracts import blob_keys
from sdk.contracts.errors import TrainyardError

log = logging.getLogger(__name__)


def final_key(job: Job) -> str:
    return blob_keys.runtime_log(job.tenant, job.job_id)


def live_key(job: Job) -> str:
    return blob_keys.live_log(job.tenant, job.job_id)


def ship_live(deps: Deps, active: list[Job], runtime_jobs: dict[str, RuntimeJob]) -> list[str]:
    """Copy the logs of every active job the runtime holds to `live.log`; the ids shipped.

    A failure to read or store one job's logs is logged and skipped: logs must never stop
    the sweep's real work (time limits, drift, launching)."""
    shipped = []
    for job in active:
        rt = runtime_jobs.get(job.job_id)
        if rt is None or rt.status is RuntimeStatus.PENDING:
            continue  # nothing ran yet: no logs to keep
        try:
            data = deps.runtime.logs(job.job_id)
            if data:
                deps.logs.put(live_key(job), data, content_type="text/plain")
                shipped.append(job.job_id)
        except TrainyardError as exc:
            log.warning("could not ship live logs", extra={"job_id": job.job_id, "error": str(exc)})
    return shipped
