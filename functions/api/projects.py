"""Projects, tasks, datasets and the comparison of trials (user tokens)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from functions.api.auth import Authorized, DepsDep, User
from functions.api.schemas import Items
from functions.api.views import job_view, project_view, task_view
from functions.core import access, datasets, projects, reads, tasks
from sdk.contracts.specs import NAME, ProjectPatch, ProjectSpec, TaskSpec
from sdk.views import Comparison, DatasetGrant, ProjectView, TaskCreated, TaskView

router = APIRouter(prefix="/v1", tags=["projects"])


@router.post("/projects", status_code=201, response_model=ProjectView)
def create_project(spec: ProjectSpec, caller: User, deps: DepsDep) -> dict[str, Any]:
    return project_view(projects.create(deps, tenant=caller.tenant, spec=spec))


@router.get("/projects", response_model=Items[ProjectView])
def list_projects(caller: User, deps: DepsDep) -> dict[str, Any]:
    return {"items": [project_view(p) for p in deps.projects.list_projects(caller.tenant)]}


@router.get("/projects/{project_id}", response_model=ProjectView)
def get_project(project_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    return project_view(deps.projects.get_project(caller.tenant, project_id))


@router.patch("/projects/{project_id}", response_model=ProjectView)
def patch_project(project_id: str, patch: ProjectPatch, caller: User, deps: DepsDep) -> dict[str, Any]:
    return project_view(projects.update(deps, tenant=caller.tenant, project_id=project_id, patch=patch))


@router.delete("/projects/{project_id}", response_model=ProjectView)
def deactivate_project(project_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    """Deactivates: the project and its history stay readable; no new tasks can run."""
    return project_view(projects.deactivate(deps, tenant=caller.tenant, project_id=project_id))


@router.post("/projects/{project_id}/tasks", status_code=201, response_model=TaskCreated)
def create_task(project_id: str, spec: TaskSpec, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    """Each dataset of the task needs an active train grant for the project or the caller."""
    task, job = tasks.create(deps, tenant=actor.tenant, project_id=project_id, spec=spec, actor=actor)
    return {"task": task_view(task), "job": job_view(job)}


@router.get("/projects/{project_id}/tasks", response_model=Items[TaskView])
def list_tasks(project_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    deps.projects.get_project(caller.tenant, project_id)
    return {"items": [task_view(t) for t in deps.tasks.list_tasks(caller.tenant, project_id)]}


@router.get("/projects/{project_id}/comparison", response_model=Comparison)
def comparison(
    project_id: str,
    caller: User,
    deps: DepsDep,
    after: str | None = None,
    limit: int = reads.PAGE,
    archived: bool = False,
) -> dict[str, Any]:
    """A page of tasks' best and last metrics side by side, and per-epoch series; archived
    tasks only with `?archived=true`. `next` is the `after` of the following page (null on
    the last)."""
    return reads.comparison(
        deps, tenant=caller.tenant, project_id=project_id, after=after, limit=limit, include_archived=archived
    )


class DatasetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=NAME)
    op: Literal["upload", "download"] = "upload"
    version: int | None = Field(default=None, ge=1, description="download: which version (default: the latest)")


@router.post("/projects/{project_id}/datasets", response_model=DatasetGrant)
def dataset_url(project_id: str, req: DatasetRequest, actor: Authorized, deps: DepsDep) -> dict[str, object]:
    """A pre-signed URL to PUT (upload: the dataset's next version) or GET (download: the latest
    or the named version) one of the project's datasets. A download needs an active read grant
    for the project or the caller; both are audited."""
    return access.user_dataset_url(
        deps, tenant=actor.tenant, project_id=project_id, name=req.name, op=req.op, actor=actor, version=req.version
    )


@router.get("/projects/{project_id}/datasets/{name}")
def dataset_versions(project_id: str, name: str, actor: Authorized, deps: DepsDep) -> dict[str, object]:
    """The dataset's versions, oldest first, each with its last validation; the latest one,
    the latest that passed validation, and the most recent validation."""
    return datasets.show(deps, actor, project_id=project_id, name=name)


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="which version to check (default: the latest)")


@router.post("/projects/{project_id}/datasets/{name}/validate", status_code=201)
def validate_dataset(
    project_id: str, name: str, actor: Authorized, deps: DepsDep, req: ValidateRequest | None = None
) -> dict[str, Any]:
    """A one-time validation task of one version of the dataset (needs an active `validate`
    grant for the project or the caller); its report is kept with that version."""
    project = deps.projects.get_project(actor.tenant, project_id)
    projects.require_dataset(project, name)
    spec = TaskSpec(
        name=f"validate-{name}",
        kind="validation",
        datasets=[name],
        dataset_versions={name: req.version} if req is not None and req.version is not None else {},
    )
    task, job = tasks.create(deps, tenant=actor.tenant, project_id=project_id, spec=spec, actor=actor)
    return {"task": task_view(task), "job": job_view(job)}
