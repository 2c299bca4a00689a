"""Read models: a project's comparison of trials, a job's logs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from functions.core import grants, joblogs
from functions.core.deps import Deps
from functions.domain import provenance
from functions.domain.approvals import GrantAction
from functions.domain.audit import Actor
from functions.domain.model import Epoch, Job, JobState, Task, TaskSummary
from functions.domain.registry import lower_is_better
from functions.domain.runs import RunRecord
from sdk.contracts import blob_keys
from sdk.contracts.errors import NotFound, PermanentError, Problem, ValidationError
from sdk.contracts.specs import TaskSpec


def _representative(jobs: list[Job]) -> Job | None:
    """The attempt that speaks for a task: its success if any, else its latest attempt."""
    for job in jobs:
        if job.state is JobState.SUCCEEDED:
            return job
    return jobs[-1] if jobs else None


PAGE = 50  # tasks per comparison page
MAX_PAGE = 200


def comparison(
    deps: Deps,
    *,
    tenant: str,
    project_id: str,
    after: str | None = None,
    limit: int = PAGE,
    include_archived: bool = False,
) -> dict[str, Any]:
    """One page of a project's trials side by side, oldest first, and the cursor of the next
    (archived tasks only with `include_archived`; never validation tasks, whose result is on the
    dataset version: a page may then hold fewer than `limit`).

    A constant number of store round trips per page, however many tasks or epochs: the
    page of tasks (one query), their summaries (one batch read, kept by every epoch
    report) and the attempts they speak for (one batch read, for the current state).
    """
    deps.projects.get_project(tenant, project_id)  # NotFound across tenants
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError([Problem("limit", f"must be between 1 and {MAX_PAGE}")])
    tasks, nxt = deps.tasks.task_page(tenant, project_id, after=after, limit=limit)
    summaries = deps.jobs.task_summaries(tenant, [t.task_id for t in tasks])
    jobs = {j.job_id: j for j in deps.jobs.jobs_by_id(s.job_id for s in summaries.values()) if j.tenant == tenant}
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    runs: dict[str, tuple[TaskSpec, RunRecord | None]] = {}
    for task in tasks:
        if (task.archived and not include_archived) or task.spec.kind == "validation":
            continue  # a validation is not a trial: its result is on the dataset version
        summary = summaries.get(task.task_id)
        job = jobs.get(summary.job_id) if summary else None
        row = _summary_row(deps, tenant, task, summary, job)
        names.update(row["series"])
        rows.append(row)
        runs[task.task_id] = (task.spec, job.provenance if job is not None and job.launched_at else None)
    # Marked within the page: "differs from t-… only in hyperparameters.lr".
    only = provenance.single_differences(runs)
    for row in rows:
        row["differs_only_in"] = only.get(row["task_id"], {})
    return {"project_id": project_id, "metrics": sorted(names), "tasks": rows, "next": nxt}


def _summary_row(deps: Deps, tenant: str, task: Task, summary: TaskSummary | None, job: Job | None) -> dict[str, Any]:
    head = {
        "task_id": task.task_id,
        "name": task.spec.name,
        "hyperparameters": task.spec.hyperparameters,
        "archived": task.archived,
    }
    if summary is None or job is None:  # a task stored before summaries existed: read it the long way
        attempts = deps.jobs.list_jobs(tenant, task.task_id)
        chosen = _representative(attempts)
        epochs = deps.jobs.epochs(tenant, chosen.job_id) if chosen else []
        return {
            **head,
            "state": chosen.state.value if chosen else None,
            "attempts": len(attempts),
            "job_id": chosen.job_id if chosen else None,
            **_row(epochs),
        }
    row = _series_row(summary.series)
    return {**head, "state": job.state.value, "attempts": summary.attempt, "job_id": job.job_id, **row}


def _row(epochs: list[Epoch]) -> dict[str, Any]:
    series: dict[str, list[tuple[int, float]]] = {}
    for e in sorted(epochs, key=lambda e: e.epoch):
        for name, value in e.metrics.items():
            series.setdefault(name, []).append((e.epoch, value))
    return _series_row(series)


def _series_row(series: dict[str, list[tuple[int, float]]]) -> dict[str, Any]:
    best = {name: (min if lower_is_better(name) else max)(v for _, v in points) for name, points in series.items()}
    last = {name: points[-1][1] for name, points in series.items()}
    # (epoch, value) pairs as they are: JSON writes a pair as a two-element list either way
    return {"best": best, "last": last, "series": series}


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


def job_log_page(
    deps: Deps,
    *,
    tenant: str,
    job_id: str,
    actor: Actor | None = None,
    offset: int | None = None,
    limit: int = DEFAULT_LOG_PAGE,
) -> LogPage:
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
        grants.require(
            deps,
            actor,
            project_id=job.project_id,
            principal=actor.sub,
            datasets=task.spec.datasets,
            action=GrantAction.READ,
            audit_action="job.logs",
            resource=f"job/{job_id}",
        )
    whole = _kept_log(deps, job) if job.cleaned_up else _live_log(deps, job)
    start = max(0, len(whole) - limit) if offset is None else min(offset, len(whole))
    page = LogPage(data=whole[start : start + limit], offset=start, size=len(whole))
    if page.end < page.size:
        return page
    try:
        reported = deps.logs.get(blob_keys.reported_log(tenant, job_id))
    except NotFound:
        return page
    return LogPage(data=page.data, offset=page.offset, size=page.size, reported=reported)


def _kept_log(deps: Deps, job: Job) -> bytes:
    """The whole log cleanup kept in the logs bucket."""
    return deps.logs.get(job.log_key) if job.log_key else b""


def _live_log(deps: Deps, job: Job) -> bytes:
    """A running job's log: the runtime's own capture where this function has a runtime (local
    mode), else what the sweep last shipped to the logs bucket (the API in a cluster has no
    runtime, and no RBAC for pod logs)."""
    try:
        data = deps.runtime.logs(job.job_id, full=True)
    except PermanentError:  # AbsentRuntime: this function may not touch the cluster
        data = b""
    if data:
        return data
    with contextlib.suppress(NotFound):
        return deps.logs.get(joblogs.live_key(job))
    return b""
