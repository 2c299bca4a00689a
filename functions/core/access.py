"""Pre-signed URLs: the only way data and artifacts move in and out.

Users upload/download their project's datasets; a running trainer fetches the datasets
its task names and uploads artifacts under its own job's prefix.
"""

from __future__ import annotations

from typing import Literal

from functions.core import projects
from functions.core.deps import Deps
from functions.core.reporting import artifact_prefix
from functions.domain.model import Job
from sdk.errors import Conflict, Problem, ValidationError


def dataset_key(tenant: str, project_id: str, name: str) -> str:
    return f"{tenant}/{project_id}/{name}"


def user_dataset_url(deps: Deps, *, tenant: str, project_id: str, name: str,
                     op: Literal["upload", "download"]) -> dict[str, object]:
    project = deps.projects.get_project(tenant, project_id)
    projects.require_live(deps, project)
    projects.require_dataset(project, name)
    key = dataset_key(tenant, project_id, name)
    expires = deps.config.url_expiry_s
    if op == "upload":
        return {"name": name, "method": "PUT", "url": deps.datasets.presign_put(key, expires_s=expires),
                "expires_in": expires}
    if not deps.datasets.exists(key):
        raise Conflict(f"dataset {name!r} has not been uploaded yet")
    return {"name": name, "method": "GET", "url": deps.datasets.presign_get(key, expires_s=expires),
            "expires_in": expires}


def _active_job(deps: Deps, tenant: str, job_id: str) -> Job:
    job = deps.jobs.get_job(tenant, job_id)
    if not job.state.is_active:
        raise Conflict(f"job {job_id} is {job.state.value}; data access ends with the job")
    return job


def trainer_dataset_url(deps: Deps, *, tenant: str, job_id: str, name: str) -> dict[str, object]:
    job = _active_job(deps, tenant, job_id)
    task = deps.tasks.get_task(tenant, job.task_id)
    if name not in task.spec.datasets:
        raise ValidationError([Problem("name", f"the task did not ask for dataset {name!r}")])
    project = deps.projects.get_project(tenant, job.project_id)
    projects.require_live(deps, project)
    key = dataset_key(tenant, job.project_id, name)
    if not deps.datasets.exists(key):
        raise Conflict(f"dataset {name!r} has not been uploaded yet")
    expires = deps.config.url_expiry_s
    return {"name": name, "method": "GET", "url": deps.datasets.presign_get(key, expires_s=expires),
            "expires_in": expires}


def trainer_artifact_url(deps: Deps, *, tenant: str, job_id: str, name: str) -> dict[str, object]:
    job = _active_job(deps, tenant, job_id)
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or len(name) > 200:
        raise ValidationError([Problem("name", "must be a relative path without '.', '..' or empty parts")])
    key = artifact_prefix(job) + name
    expires = deps.config.url_expiry_s
    return {"key": key, "method": "PUT", "url": deps.artifacts.presign_put(key, expires_s=expires),
            "expires_in": expires}
