"""Read models: a project's comparison of trials, a job's logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.core import grants
from functions.core.deps import Deps
from functions.domain.approvals import GrantAction
from functions.domain.audit import Actor
from functions.domain.model import Epoch, Job, JobState
from functions.domain.registry import lower_is_better
from sdk.contracts import blob_keys
from sdk.contracts.errors import NotFound, Problem, ValidationError


def _representative(jobs: list[Job]) -> Job | None:
    """The attempt that speaks for a task: its success if any, else its latest attempt."""
    for job in jobs:
        if job.state is JobState.SUCCEEDED:
            return job
    return jobs[-1] if jobs else None


def comparison(deps: Deps, *, tenant: str, project_id: str, include_archived: bool = False) -> dict[str, Any]:
    deps.projects.get_project(tenant, project_id)  # NotFound across tenants
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    for task in deps.tasks.list_tasks(tenant, project_id):
        if task.archived and not include_archived:
            continue
        jobs = deps.jobs.list_jobs(tenant, task.task_id)
        job = _representative(jobs)
        epochs = deps.jobs.epochs(tenant, job.job_id) if job else []
        row = _row(epochs)
        names.update(row["series"])
        rows.append({"task_id": task.task_id, "name": task.spec.name,
                     "hyperparameters": task.spec.hyperparameters, "archived": task.archived,
                     "state": job.state.value if job else None, "attempts": len(jobs),
                     "job_id": job.job_id if job else None, **row})
    return {"project_id": project_id, "metrics": sorted(names), "tasks": rows}


def _row(epochs: list[Epoch]) -> dict[str, Any]:
    series: dict[str, list[tuple[int, float]]] = {}
    for e in sorted(epochs, key=lambda e: e.epoch):
        for name, value in e.metrics.items():
            series.setdefault(name, []).append((e.epoch, value))
    best = {
        name: (min if lower_is_better(name) else max)(v for _, v in points)
        for name, points in series.items()
    }
    last = {name: points[-1][1] for name, points in series.items()}
    return {"best": best, "last": last, "series": {k: [list(p) for p in v] for k, v in series.items()}}


DEFAULT_LOG_PAGE = 1024 * 1024  # what `GET .../logs` shows without a range: the last MiB
MAX_LOG_PAGE = 8 * 1024 * 1024  # the most one page may hold


@dataclass(frozen=True)
class LogPage:
    """Bytes [offset, offset + len(data)) of a job's whole log of `size` bytes."""

    data: bytes
    offset: int
    size: int
    reported: bytes = b""  # the logs a failure report attached, given with the page that ends the log

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


def job_log_page(deps: Deps, *, tenant: str, job_id: str, actor: Actor | None = None, offset: int | None = None,
                 limit: int = DEFAULT_LOG_PAGE) -> LogPage:
    """A page of the job's log: the one kept in the logs bucket at cleanup (all of it), or the
    runtime's live capture while it runs. Without `offset`, the last `limit` bytes.

    What a trainer prints may be the rows it read, so the logs of a job whose task used
    datasets are derived data: `actor` needs an active `read` grant on each of them (for the
    job's project or for themselves), like a download, checked and audited at each read. A
    `train` grant lets data into a trainer; it does not let anyone read it back out.
    """
    if not 0 < limit <= MAX_LOG_PAGE:
        raise ValidationError([Problem("limit", f"must be between 1 and {MAX_LOG_PAGE} bytes")])
    if offset is not None and offset < 0:
        raise ValidationError([Problem("offset", "must be >= 0")])
    job = deps.jobs.get_job(tenant, job_id)
    task = deps.tasks.get_task(tenant, job.task_id)
    if actor is not None and task.spec.datasets:
        grants.require(deps, actor, project_id=job.project_id, principal=actor.sub, datasets=task.spec.datasets,
                       action=GrantAction.READ, audit_action="job.logs", resource=f"job/{job_id}")
    if job.cleaned_up:
        whole = deps.logs.get(job.log_key) if job.log_key else b""
    else:
        whole = deps.runtime.logs(job_id, full=True)
    start = max(0, len(whole) - limit) if offset is None else min(offset, len(whole))
    page = LogPage(data=whole[start:start + limit], offset=start, size=len(whole))
    if page.end < page.size:
        return page
    try:
        reported = deps.logs.get(blob_keys.reported_log(tenant, job_id))
    except NotFound:
        return page
    return LogPage(data=page.data, offset=page.offset, size=page.size, reported=reported)
