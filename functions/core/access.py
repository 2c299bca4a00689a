"""Pre-signed URLs: the only way data and artifacts move in and out.

Users upload/download their project's datasets; a running trainer fetches the datasets
its task names and uploads artifacts under its own job's prefix.

Each dataset URL is a data access, checked against the grants when it is issued (so no
URL is issued once a grant is revoked) and recorded in the audit trail before it is:
- a trainer's GET needs an active `train` grant for its project or its task's creator;
- a user's download needs an active `read` grant for the project or for that user;
- an upload is the data owner bringing data in: it needs no grant, but the uploader must be
  a data scientist or an approver (the data's custodian) of the tenant.
"""

from __future__ import annotations

from typing import Literal

from functions.core import audit, datasets, grants, projects, runs
from functions.core.deps import Deps
from functions.core.reporting import artifact_prefix
from functions.domain.approvals import GrantAction
from functions.domain.audit import Actor, system
from functions.domain.datasets import DatasetVersion
from functions.domain.model import Job
from sdk.auth.tokens import Role
from sdk.contracts import blob_keys
from sdk.contracts.errors import Conflict, NotFound, Problem, ValidationError

UPLOADERS = (Role.DATA_SCIENTIST, Role.APPROVER)


def dataset_key(tenant: str, project_id: str, name: str) -> str:
    """Where a dataset uploaded before versions lies (read as its version 1)."""
    return blob_keys.dataset(tenant, project_id, name)


def user_dataset_url(
    deps: Deps,
    *,
    tenant: str,
    project_id: str,
    name: str,
    op: Literal["upload", "download"],
    actor: Actor | None = None,
    version: int | None = None,
) -> dict[str, object]:
    """An upload creates the dataset's next version (functions.core.datasets) and returns its
    one PUT URL; a download reads `version` (None: the latest) under an active `read` grant."""
    who = actor or system(tenant, "api")
    project = deps.projects.get_project(tenant, project_id)
    projects.require_live(deps, project)
    projects.require_dataset(project, name)
    resource = f"dataset/{project_id}/{name}"
    expires = deps.config.url_expiry_s
    if op == "upload":
        if version is not None:
            raise ValidationError([Problem("version", "an upload always makes the next version; omit it")])
        if actor is not None and not actor.has(*UPLOADERS):
            raise audit.denied(
                deps,
                who,
                action="dataset.upload",
                resource=resource,
                reason="only a data scientist or an approver of the tenant uploads its data",
            )
        created = datasets.new_version(deps, who, project_id=project_id, name=name)
        audit.allowed(deps, who, action="dataset.upload", resource=resource, reason=f"version {created.version}")
        return {
            "name": name,
            "version": created.version,
            "method": "PUT",
            "url": deps.datasets.presign_put(created.key, expires_s=expires),
            "expires_in": expires,
        }
    found = _version(deps, tenant=tenant, project_id=project_id, name=name, version=version)
    access = grants.require(
        deps,
        who,
        project_id=project_id,
        principal=who.sub if who.is_person else None,
        datasets=[name],
        action=GrantAction.READ,
        audit_action="dataset.download",
        resource=resource,
        versions={name: found.version} if found else None,
    )
    chosen = _uploaded(deps, name, found)
    reason = f"version {chosen.version}, grant {access.ids[0]}"
    audit.allowed(deps, who, action="dataset.download", resource=resource, reason=reason)
    return {
        "name": name,
        "version": chosen.version,
        "method": "GET",
        "url": deps.datasets.presign_get(chosen.key, expires_s=expires),
        "expires_in": expires,
    }


def _version(deps: Deps, *, tenant: str, project_id: str, name: str, version: int | None) -> DatasetVersion | None:
    """The version asked for (None: the latest), or None when nothing is uploaded yet; read
    before the grant check, which may depend on it (a grant limited to one version)."""
    try:
        return datasets.get_version(deps, tenant=tenant, project_id=project_id, name=name, version=version)
    except NotFound:
        if version is None:
            return None
        raise


def _uploaded(deps: Deps, name: str, chosen: DatasetVersion | None) -> DatasetVersion:
    """`chosen`, once its bytes are in the bucket; Conflict while they are not."""
    if chosen is None:
        raise Conflict(f"dataset {name!r} has not been uploaded yet")
    if not deps.datasets.exists(chosen.key):
        raise Conflict(f"dataset {name!r} version {chosen.version} has not been uploaded yet")
    return chosen


def _active_job(deps: Deps, tenant: str, job_id: str) -> Job:
    job = deps.jobs.get_job(tenant, job_id)
    if not job.state.is_active:
        raise Conflict(f"job {job_id} is {job.state.value}; data access ends with the job")
    return job


def trainer_dataset_url(
    deps: Deps, *, tenant: str, job_id: str, name: str, request_id: str | None = None
) -> dict[str, object]:
    who = Actor(sub=f"job:{job_id}", tenant=tenant, roles=frozenset({Role.JOB}), request_id=request_id)
    job = _active_job(deps, tenant, job_id)
    task = deps.tasks.get_task(tenant, job.task_id)
    if name not in task.spec.datasets:
        raise ValidationError([Problem("name", f"the task did not ask for dataset {name!r}")])
    project = deps.projects.get_project(tenant, job.project_id)
    projects.require_live(deps, project)
    resource = f"dataset/{job.project_id}/{name}"
    action = grants.action_for(task.spec)
    pinned = task.spec.dataset_versions.get(name)  # unpinned: nothing was uploaded at creation; the latest
    found = _version(deps, tenant=tenant, project_id=job.project_id, name=name, version=pinned)
    access = grants.require(
        deps,
        who,
        project_id=job.project_id,
        principal=task.requested_by,
        datasets=[name],
        action=action,
        audit_action=f"dataset.{action.value}",
        resource=resource,
        versions={name: found.version} if found else None,
    )
    chosen = _uploaded(deps, name, found)
    record = runs.record_dataset(deps, job, name=name, key=chosen.key, version=chosen.version)
    audit.allowed(
        deps,
        who,
        action=f"dataset.{action.value}",
        resource=resource,
        reason=f"version {chosen.version}, grant {access.ids[0]}; sha256 {record.sha256}",
    )
    expires = deps.config.trainer_url_expiry_s  # short: a revoked grant stops data flowing within it
    return {
        "name": name,
        "version": chosen.version,
        "method": "GET",
        "url": deps.datasets.presign_get(chosen.key, expires_s=expires),
        "expires_in": expires,
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
    }


def trainer_artifact_url(deps: Deps, *, tenant: str, job_id: str, name: str) -> dict[str, object]:
    job = _active_job(deps, tenant, job_id)
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or len(name) > 200:
        raise ValidationError([Problem("name", "must be a relative path without '.', '..' or empty parts")])
    key = artifact_prefix(job) + name
    expires = deps.config.trainer_url_expiry_s
    return {
        "key": key,
        "method": "PUT",
        "url": deps.artifacts.presign_put(key, expires_s=expires),
        "expires_in": expires,
    }


def checkpoint_url(deps: Deps, who: Actor, *, job_id: str, epoch: int | None = None) -> dict[str, object]:
    """A short-lived pre-signed GET of one of the caller's job's checkpoints (the latest when
    `epoch` is None), with what the download must be checked against; audited."""
    tenant = who.tenant
    job = deps.jobs.get_job(tenant, job_id)  # another tenant's job: not found
    saved = deps.jobs.checkpoints(tenant, job_id)
    chosen = [c for c in saved if epoch is None or c.epoch == epoch]
    if not chosen:
        raise NotFound("checkpoint", f"{job_id} epoch {epoch}" if epoch is not None else f"{job_id} (none saved)")
    checkpoint = max(chosen, key=lambda c: c.epoch)
    resource = f"job/{job_id}/checkpoint/{checkpoint.epoch}"
    if checkpoint.epoch in job.pruned_checkpoints or not deps.artifacts.exists(checkpoint.key):
        raise NotFound("checkpoint", f"{job_id} epoch {checkpoint.epoch} (deleted by the task's retention policy)")
    audit.allowed(deps, who, action="checkpoint.download", resource=resource)
    expires = deps.config.url_expiry_s
    return {
        "epoch": checkpoint.epoch,
        "key": checkpoint.key,
        "name": checkpoint.key.rsplit("/", 1)[-1],
        "sha256": checkpoint.sha256,
        "size_bytes": checkpoint.size_bytes,
        "method": "GET",
        "url": deps.artifacts.presign_get(checkpoint.key, expires_s=expires),
        "expires_in": expires,
    }
