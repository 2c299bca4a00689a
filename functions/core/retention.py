"""Applying a task's checkpoint retention policy to one job.

Runs after each checkpoint report (so a long run's disk stays bounded while it runs) and
again at cleanup. The epochs to drop are recorded on the job FIRST (conditional save),
then their objects are deleted; deleting is idempotent, so a crash between the two is
finished at cleanup, which deletes every recorded epoch's object again. A checkpoint that
a published model came from is never dropped.
"""

from __future__ import annotations

import logging
from typing import Protocol

from functions.domain import retention
from functions.domain.model import Job
from functions.ports import BlobStore, JobStore, ModelStore, TaskStore
from sdk.contracts.errors import Conflict, NotFound

log = logging.getLogger(__name__)


class RetentionPorts(Protocol):
    """What applying a retention policy reads and changes (a Deps has it all)."""

    @property
    def jobs(self) -> JobStore: ...

    @property
    def tasks(self) -> TaskStore: ...

    @property
    def models(self) -> ModelStore: ...

    @property
    def artifacts(self) -> BlobStore: ...


def apply(deps: RetentionPorts, *, tenant: str, job_id: str, finish: bool = False) -> Job:
    """Drop what the policy lets go now; with `finish` (cleanup), also re-delete every
    epoch recorded earlier. Returns the job as saved (or as read if nothing changed)."""
    job = deps.jobs.get_job(tenant, job_id)
    try:
        policy = deps.tasks.get_task(tenant, job.task_id).spec.retention
    except NotFound:
        return job
    checkpoints = deps.jobs.checkpoints(tenant, job_id)
    drop = retention.to_prune(checkpoints, policy, published=(), already=job.pruned_checkpoints)
    if drop:  # only then ask which came from published models (an index query)
        published = {m.epoch for m in deps.models.list_models(tenant) if m.job_id == job_id}
        drop = [epoch for epoch in drop if epoch not in published]
    if drop:
        pruned = tuple(sorted({*job.pruned_checkpoints, *drop}))
        try:
            job = deps.jobs.save_job(
                job.model_copy(update={"pruned_checkpoints": pruned}), expected_version=job.version
            )
        except Conflict:
            return job  # a report or the sweep saved it meanwhile: the next run prunes
    keys = {c.epoch: c.key for c in checkpoints}
    for epoch in job.pruned_checkpoints if finish else drop:
        key = keys.get(epoch)
        if key is not None:
            deps.artifacts.delete(key)  # missing is fine
            log.info("checkpoint pruned", extra={"job_id": job.job_id, "tenant": job.tenant, "epoch": epoch})
    return job
