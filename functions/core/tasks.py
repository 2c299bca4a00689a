"""Creating a task: the task and its first attempt are written together, then announced.

Every dataset the task reads needs an active `train` grant for its project or for the
person creating it (functions.core.grants); without one the task is refused (and audited).
"""

from __future__ import annotations

import uuid

from functions.core import audit, events, grants, projects
from functions.core.deps import Deps
from functions.domain.admission import Capacity
from functions.domain.approvals import GrantAction
from functions.domain.audit import Actor, system
from functions.domain.model import Job, Task
from functions.domain.retry import attempt_id
from sdk.contracts.specs import TaskSpec
from sdk.errors import Conflict, Problem, ValidationError


def create(deps: Deps, *, tenant: str, project_id: str, spec: TaskSpec,
           request_id: str | None = None, actor: Actor | None = None) -> tuple[Task, Job]:
    """Create a task and its first job (QUEUED), and emit job.created.

    With a `request_id` (an event id from another system) the task id is derived from it,
    so a redelivered request finds the task it already created instead of a second one.
    `actor` is the person asking (None: another system, by event), whose grants count too.
    """
    who = actor or system(tenant, "create", request_id=request_id)
    project = deps.projects.get_project(tenant, project_id)
    projects.require_live(deps, project)
    missing = [d for d in spec.datasets if d not in project.datasets]
    if missing:
        raise ValidationError([Problem("datasets", f"not datasets of project {project_id}: {missing}")])
    if spec.pool not in deps.config.pools:
        raise ValidationError([Problem("pool", f"unknown pool {spec.pool!r}; known: {sorted(deps.config.pools)}")])
    never = deps.pool(spec.pool).refusal(Capacity.of(spec.resources))
    if never:  # accepted, it would wait at the head of its queue for ever
        raise ValidationError([Problem("resources", f"pool {spec.pool!r}: the task {never}")])
    principal = who.sub if who.is_person else None
    grants.require(deps, who, project_id=project_id, principal=principal, datasets=spec.datasets,
                   action=GrantAction.TRAIN, audit_action="task.create", resource=f"project/{project_id}")
    task_id = _task_id(tenant, request_id)
    now = deps.clock.now()
    task = Task(task_id=task_id, project_id=project_id, tenant=tenant, spec=spec, created_at=now,
                requested_by=principal)
    job = Job(job_id=attempt_id(task_id, 1), task_id=task_id, project_id=project_id, tenant=tenant,
              attempt=1, pool=spec.pool, priority=spec.priority, resources=spec.resources,
              limits=spec.limits, retry=spec.retry, created_at=now)
    try:
        deps.tasks.create_task(task, job, audit=audit.job_change(deps, None, job, actor=who))
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
