"""What a job ran, recorded by the platform and read back as one provenance document.

The record (functions.domain.runs.RunRecord) is written only by platform components: the
launcher (command, code digest), the sweep (image digest) and here, when a trainer is
issued a dataset URL (the object's sha256, computed by the blob store from its bytes). A
trainer's own reports never reach it; the seed it reports stays in the job's metadata and
is shown as reported.
"""

from __future__ import annotations

import logging
from typing import Any

import sdk
from functions.core.deps import Deps
from functions.domain import provenance
from functions.domain.model import Job, Task
from functions.domain.runs import DatasetRecord
from sdk.contracts.errors import Conflict

log = logging.getLogger(__name__)
MAX_RACES = 5
SEED_KEYS = ("seed", "random_seed")  # metadata the trainer reports; shown as its own word


def record_dataset(deps: Deps, job: Job, *, name: str, key: str, version: int | None = None) -> DatasetRecord:
    """Record the dataset object the job is being granted (content sha256 and size, from the
    blob store's digest, which reads the bytes once and keeps the result with the object)."""
    found = deps.datasets.digest(key)
    record = DatasetRecord(
        key=key, sha256=found.sha256, size_bytes=found.size_bytes, version=version, granted_at=deps.clock.now()
    )
    for _ in range(MAX_RACES):
        known = job.provenance.datasets.get(name)
        if known is not None and (known.key, known.sha256, known.version) == (record.key, record.sha256, version):
            return known  # the trainer asked again: the same object, already on record
        updated = job.model_copy(update={"provenance": job.provenance.with_dataset(name, record)})
        try:
            deps.jobs.save_job(updated, expected_version=job.version)
            return record
        except Conflict:
            job = deps.jobs.get_job(job.tenant, job.job_id)
    raise Conflict(f"job {job.job_id}: too many concurrent updates while recording dataset {name!r}")


def document(task: Task, job: Job) -> dict[str, Any]:
    """The job's provenance: what the platform recorded, the task's runnable spec, versions,
    and the seed as the trainer reported it."""
    record = job.provenance
    seed = next((job.metadata[k] for k in SEED_KEYS if k in job.metadata), None)
    return {
        "job_id": job.job_id,
        "task_id": task.task_id,
        "rerun_of": task.rerun_of,
        "pin": task.pin.model_dump(mode="json") if task.pin else None,
        "image": record.image,
        "image_id": record.image_id,
        "image_digest": record.image_digest,
        "command": record.command,
        "code_dir": record.code_dir,
        "code": record.code.model_dump(mode="json") if record.code else None,
        "code_changed": _code_changed(task, job),
        "datasets": {n: d.model_dump(mode="json") for n, d in sorted(record.datasets.items())},
        "hyperparameters": task.spec.hyperparameters,
        "spec_sha256": task.provenance.get("spec_sha256") or provenance.digest(task.spec),
        "platform_version": task.provenance.get("platform_version") or sdk.__version__,
        "sdk_version": sdk.__version__,  # the platform's; the trainer's own is `trainer_sdk_version`
        "trainer_sdk_version": job.metadata.get("sdk_version"),  # reported by the trainer
        "seed": seed,
        "seed_source": "reported by the trainer" if seed is not None else None,
    }


def _code_changed(task: Task, job: Job) -> bool | None:
    """Whether a re-run allowed to start on changed code did (None: not a pinned re-run)."""
    pin = task.pin
    if pin is None or pin.code_sha256 is None or job.provenance.code is None:
        return None
    return job.provenance.code.sha256 != pin.code_sha256
