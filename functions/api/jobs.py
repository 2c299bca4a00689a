"""Tasks and jobs (user tokens), and the trainer's data endpoints (job tokens)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from functions.api.auth import Authorized, DepsDep, TrainerCaller, User
from functions.api.schemas import ArtifactGrant, Items
from functions.api.views import checkpoint_view, epoch_view, job_view, task_view
from functions.core import access, reads, runs, sweeping, tasks
from sdk.contracts.specs import NAME, TaskPatch
from sdk.views import (
    CheckpointGrant,
    CheckpointView,
    DatasetGrant,
    EpochView,
    JobView,
    Provenance,
    TaskCreated,
    TaskDiff,
    TaskView,
)

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.get("/tasks/{task_id}", response_model=TaskView)
def get_task(task_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    return task_view(deps.tasks.get_task(caller.tenant, task_id))


@router.patch("/tasks/{task_id}", response_model=TaskView)
def patch_task(task_id: str, patch: TaskPatch, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    """Change a task's name, description, tags, retention policy, or its priority while queued."""
    return task_view(tasks.update(deps, tenant=actor.tenant, task_id=task_id, patch=patch, actor=actor))


@router.post("/tasks/{task_id}/archive", response_model=TaskView)
def archive_task(task_id: str, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    """Leaves the default comparison; stays readable and audited. Cancel a live attempt first."""
    return task_view(tasks.set_archived(deps, tenant=actor.tenant, task_id=task_id, archived=True, actor=actor))


@router.post("/tasks/{task_id}/unarchive", response_model=TaskView)
def unarchive_task(task_id: str, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    return task_view(tasks.set_archived(deps, tenant=actor.tenant, task_id=task_id, archived=False, actor=actor))


class RerunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NAME)
    allow_code_change: bool = Field(
        default=False,
        description="local commands: start even if the code directory's content changed since the run it "
        "re-runs (its record then says so); by default such a re-run refuses to start, naming the folder",
    )


@router.post("/tasks/{task_id}/rerun", status_code=201, response_model=TaskCreated)
def rerun_task(task_id: str, req: RerunRequest, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    """A new task with the same runnable spec (optionally some hyperparameters overridden)."""
    task, job = tasks.rerun(
        deps,
        tenant=actor.tenant,
        task_id=task_id,
        actor=actor,
        hyperparameters=req.hyperparameters,
        name=req.name,
        allow_code_change=req.allow_code_change,
    )
    return {"task": task_view(task), "job": job_view(job)}


@router.get("/tasks/{task_id}/diff/{other_id}", response_model=TaskDiff)
def diff_tasks(task_id: str, other_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    """The runnable fields two tasks differ in: "same": true when they ran the same thing."""
    return tasks.compare_specs(deps, tenant=caller.tenant, task_id=task_id, other_id=other_id)


@router.get("/tasks/{task_id}/jobs", response_model=Items[JobView])
def list_jobs(task_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    deps.tasks.get_task(caller.tenant, task_id)
    return {"items": [job_view(j) for j in deps.jobs.list_jobs(caller.tenant, task_id)]}


@router.get("/jobs/{job_id}", response_model=JobView)
def get_job(job_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    return job_view(deps.jobs.get_job(caller.tenant, job_id))


@router.get("/jobs/{job_id}/provenance", response_model=Provenance)
def job_provenance(job_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    """What the job ran, as the platform recorded it: image digest or command + code hash,
    the dataset objects it was granted (sha256), hyperparameters, versions; the seed as the
    trainer reported it."""
    job = deps.jobs.get_job(caller.tenant, job_id)
    return runs.document(deps.tasks.get_task(caller.tenant, job.task_id), job)


@router.post("/jobs/{job_id}/cancel", response_model=JobView)
def cancel_job(job_id: str, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    return job_view(sweeping.cancel(deps, tenant=actor.tenant, job_id=job_id, actor=actor))


@router.get("/jobs/{job_id}/epochs", response_model=Items[EpochView])
def epochs(job_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    deps.jobs.get_job(caller.tenant, job_id)  # another tenant's job is not found, not empty
    return {"items": [epoch_view(e) for e in deps.jobs.epochs(caller.tenant, job_id)]}


@router.get("/jobs/{job_id}/checkpoints", response_model=Items[CheckpointView])
def checkpoints(job_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    job = deps.jobs.get_job(caller.tenant, job_id)
    pruned = set(job.pruned_checkpoints)
    items = deps.jobs.checkpoints(caller.tenant, job_id)
    return {"items": [checkpoint_view(c, pruned=c.epoch in pruned) for c in items]}


@router.get("/jobs/{job_id}/checkpoints/download", response_model=CheckpointGrant)
def checkpoint_download(
    job_id: str,
    actor: Authorized,
    deps: DepsDep,
    epoch: Annotated[int | None, Query(ge=0, description="default: the latest")] = None,
) -> dict[str, object]:
    """A short-lived pre-signed GET of a checkpoint of the job (its sha256 to check it against)."""
    return access.checkpoint_url(deps, actor, job_id=job_id, epoch=epoch)


_LOG_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of the log as UTF-8 text",
        "content": {"text/plain": {"schema": {"type": "string"}}},
        "headers": {
            name: {"description": about, "schema": {"type": "integer"}}
            for name, about in (
                ("X-Log-Offset", "the page's first byte in the whole log"),
                ("X-Log-Size", "the whole log's bytes"),
                ("X-Log-Next-Offset", "where the next page starts (absent on the last)"),
            )
        },
    }
}


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse, responses=_LOG_PAGE)
def logs(
    job_id: str,
    caller: User,
    actor: Authorized,
    deps: DepsDep,
    offset: Annotated[int | None, Query(ge=0, description="first byte; default: the last `limit` bytes")] = None,
    limit: Annotated[int, Query(ge=1, le=reads.MAX_LOG_PAGE, description="bytes in the page")] = reads.DEFAULT_LOG_PAGE,
) -> PlainTextResponse:
    """A page of the job's whole log (kept in full in the logs bucket at cleanup).

    The headers say where the page lies: X-Log-Offset, X-Log-Size (the whole log's bytes)
    and X-Log-Next-Offset while more follows. Without `offset`, the last `limit` bytes, and
    a first line saying how much came before and how to get it when that is not nothing.
    Of a job that used datasets, only with an active `read` grant on them.
    """
    page = reads.job_log_page(deps, tenant=caller.tenant, job_id=job_id, actor=actor, offset=offset, limit=limit)
    text = page.data.decode("utf-8", errors="replace")
    if offset is None and page.offset > 0:
        text = (
            f"[trainyard: the log has {page.size} bytes; this is the last {len(page.data)}. The rest: "
            f"GET /v1/jobs/{job_id}/logs?offset=0&limit={limit} and on, or `trainyard jobs logs "
            f"{job_id} --all`]\n"
        ) + text
    if page.reported:
        text += "\n--- logs attached to the failure report ---\n" + page.reported.decode("utf-8", errors="replace")
    headers = {"X-Log-Offset": str(page.offset), "X-Log-Size": str(page.size)}
    if page.end < page.size:
        headers["X-Log-Next-Offset"] = str(page.end)
    return PlainTextResponse(text, headers=headers)


@router.get("/jobs/{job_id}/datasets/{name}", tags=["trainer"], response_model=DatasetGrant)
def trainer_dataset(
    job_id: str, name: str, caller: TrainerCaller, actor: Authorized, deps: DepsDep
) -> dict[str, object]:
    """For the trainer: a short-lived pre-signed GET of a dataset its task asked for, while
    an active train grant covers it (checked and audited at each issue)."""
    return access.trainer_dataset_url(deps, tenant=caller.tenant, job_id=job_id, name=name, request_id=actor.request_id)


class ArtifactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


@router.post("/jobs/{job_id}/artifacts", tags=["trainer"], response_model=ArtifactGrant)
def trainer_artifact(job_id: str, req: ArtifactRequest, caller: TrainerCaller, deps: DepsDep) -> dict[str, object]:
    """For the trainer: a pre-signed PUT under its own job's artifact prefix."""
    return access.trainer_artifact_url(deps, tenant=caller.tenant, job_id=job_id, name=req.name)
