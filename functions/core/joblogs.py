"""Where a job's logs live in the logs bucket, and shipping them while the job runs.

A pod's logs die with the pod: a node scaled down, a Job past its deadline or a drained node
takes them along. So the sweep copies every running job's logs to `live.log` each tick, and
cleanup stores the final capture in `runtime.log`. The API reads only these objects; it never
asks the runtime (in a cluster it has neither a token nor RBAC for pod logs).
"""

from __future__ import annotations

import logging
from typing import Protocol

from functions.domain.model import Job
from functions.ports import BlobStore, JobRuntime, RuntimeJob, RuntimeStatus
from sdk.contracts import blob_keys
from sdk.contracts.errors import TrainyardError

log = logging.getLogger(__name__)


class LogPorts(Protocol):
    """Where logs come from (the runtime) and go (the logs bucket)."""

    @property
    def runtime(self) -> JobRuntime: ...

    @property
    def logs(self) -> BlobStore: ...


def final_key(job: Job) -> str:
    return blob_keys.runtime_log(job.tenant, job.job_id)


def live_key(job: Job) -> str:
    return blob_keys.live_log(job.job_id)


def ship_live(deps: LogPorts, runtime_jobs: dict[str, RuntimeJob]) -> list[str]:
    """Copy the logs of every job the runtime runs now to its live log; the ids shipped.

    Reads no job from the store (the sweep's cost stays proportional to what is due). A
    failure to read or store one job's logs is logged and skipped: logs must never stop the
    sweep's real work (time limits, drift, launching)."""
    shipped = []
    for job_id, rt in sorted(runtime_jobs.items()):
        if rt.status is not RuntimeStatus.RUNNING:
            continue  # nothing runs: no new logs to keep
        try:
            data = deps.runtime.logs(job_id)
            if data:
                deps.logs.put(blob_keys.live_log(job_id), data, content_type="text/plain")
                shipped.append(job_id)
        except TrainyardError as exc:
            log.warning("could not ship live logs", extra={"job_id": job_id, "error": str(exc)})
    return shipped
