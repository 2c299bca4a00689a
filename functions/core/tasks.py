"""Creating a task: the task and its first attempt are written together, then announced."""

from __future__ import annotations

import uuid

from functions.core import events, projects
from functions.core.deps import Deps
from functions.domain.model import Job, Task
from functions.domain.retry import attempt_id
from sdk.contracts.specs import TaskSpec
from sdk.errors import Conflict, Problem, ValidationError


def create(deps: Deps, *, tenant: str, project_id: str, spec: TaskSpec,
           request_id: str | None = None) -> tuple[Task, Job]:
    """Create a task and its first job (QUEUED), and emit job.created.

    With a `request_id` (an event id from another system) the task id is derived from it,
    so a redelivered request finds the task it already created instead of a second one.
    """
    project = deps.projects.get_project(tenant, project_id)
    projects.require_live(deps, project)
    missing = [d for d in spec.datasets if d not in project.datasets]
    if missing:
        raise ValidationError([Problem("datasets", f"not datasets of project {project_id}: {missing}")])
    if spec.pool not in deps.config.pools:
        raise ValidationError([Problem("pool", f"unknown pool {spec.pool!r}; known: {sorted(deps.config.pools)}")])
    task_id = _task_id(tenant, request_id)
    now = deps.clock.now()
    task = Task(task_id=task_id, project_id=project_id, tenant=tenant, spec=spec, created_at=now)
    job = Job(job_id=attempt_id(task_id, 1), task_id=task_id, project_id=project_id, tenant=tenant,
              attempt=1, pool=spec.pool, priority=spec.priority, resources=spec.resources,
              limits=spec.limits, retry=spec.retry, created_at=now)
    try:
        deps.tasks.create_task(task, job)
    except Conflict:
        if request_id is None:
            raise
        task = deps.tasks.get_task(tenant, task_id)
        job = deps.jobs.get_job(tenant, attempt_id(task_id, 1))
    events.job_created(deps, job)
    return task, job


def _task_id(tenant: str, request_id: str | None) -> str:
    if request_id is None:
        return f"t-{uuid.uuid4().hex[:12]}"
    return f"t-{uuid.uuid5(uuid.NAMESPACE_URL, f'{tenant}/{request_id}').hex[:12]}"
