"""Creating a task: the task and its first attempt are written together, then announced.

Every dataset the task reads needs an active `train` grant for its project or for the
person creating it (functions.core.grants); without one the task is refused (and audited).
"""

from __future__ import annotations

import logging
import uuid

from functions.core import audit, datasets, events, grants, projects
from functions.core.deps import Deps
from functions.domain import audit as audit_domain
from functions.domain import provenance
from functions.domain.admission import Capacity
from functions.domain.audit import Actor, Decision, system
from functions.domain.model import Job, JobState, Task
from functions.domain.retry import attempt_id
from functions.domain.runs import Pin, RunRecord, pinned_image
from sdk.contracts.errors import Conflict, Problem, TrainyardError, ValidationError
from sdk.contracts.specs import TaskPatch, TaskSpec

log = logging.getLogger(__name__)


def create(
    deps: Deps,
    *,
    tenant: str,
    project_id: str,
    spec: TaskSpec,
    request_id: str | None = None,
    actor: Actor | None = None,
    rerun_of: str | None = None,
    announce: bool = True,
    pin: Pin | None = None,
) -> tuple[Task, Job]:
    """Create a task and its first job (QUEUED), and emit job.created (unless not `announce`:
    the caller then calls `announce_created` itself, e.g. once its answer is sent).

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
    covered = grants.covering(
        deps, tenant=tenant, project_id=project_id, principal=principal, action=grants.action_for(spec),
        now=deps.clock.now(),
    )  # fmt: skip
    spec = _pinned(deps, tenant=tenant, project_id=project_id, spec=spec, covered=covered)
    grants.require(
        deps,
        who,
        project_id=project_id,
        principal=principal,
        datasets=spec.datasets,
        action=grants.action_for(spec),
        audit_action="task.create",
        resource=f"project/{project_id}",
        versions=spec.dataset_versions,
    )
    task_id = _task_id(tenant, request_id)
    now = deps.clock.now()
    task = Task(
        task_id=task_id,
        project_id=project_id,
        tenant=tenant,
        spec=spec,
        created_at=now,
        rerun_of=rerun_of,
        pin=pin,
        provenance=provenance.of_spec(spec),
        requested_by=principal,
    )
    job = Job(
        job_id=attempt_id(task_id, 1),
        task_id=task_id,
        project_id=project_id,
        tenant=tenant,
        attempt=1,
        pool=spec.pool,
        priority=spec.priority,
        resources=spec.resources,
        limits=spec.limits,
        retry=spec.retry,
        created_at=now,
    )
    try:
        deps.tasks.create_task(task, job, audit=audit.job_change(deps, None, job, actor=who))
    except Conflict:
        if request_id is None:
            raise
        task = deps.tasks.get_task(tenant, task_id)
        job = deps.jobs.get_job(tenant, attempt_id(task_id, 1))
    if announce:
        events.job_created(deps, job)
    return task, job


def announce_created(deps: Deps, job: Job) -> None:
    """job.created for a job whose creation was already answered. It only makes the launch
    prompt: a broker that is down now delays the launch to the next sweep (which admits every
    pool's queue), nothing is lost, so the failure is logged, not raised."""
    try:
        events.job_created(deps, job)
    except TrainyardError as exc:
        log.warning(
            "job.created not sent: the next sweep admits the job", extra={"job_id": job.job_id, "error": str(exc)}
        )


def _pinned(deps: Deps, *, tenant: str, project_id: str, spec: TaskSpec, covered: datasets.Covered) -> TaskSpec:
    """The spec with its dataset versions fixed (functions.core.datasets.resolve_pins); a
    validation task becomes the platform's validator run on the version it names (or the latest)."""
    if spec.kind != "validation":
        return datasets.resolve_pins(deps, tenant=tenant, project_id=project_id, spec=spec, covered=covered)
    name = spec.datasets[0]
    version = datasets.get_version(
        deps, tenant=tenant, project_id=project_id, name=name, version=spec.dataset_versions.get(name)
    )
    return datasets.validation_spec(version, deps=deps, name=spec.name)


def _task_id(tenant: str, request_id: str | None) -> str:
    if request_id is None:
        return f"t-{uuid.uuid4().hex[:12]}"
    return f"t-{uuid.uuid5(uuid.NAMESPACE_URL, f'{tenant}/{request_id}').hex[:12]}"


def update(deps: Deps, *, tenant: str, task_id: str, patch: TaskPatch, actor: Actor) -> Task:
    """Change what may change on a task (see TaskPatch), audited in the same write.

    A priority change also moves the task's queued attempt in its pool's queue; once the
    attempt has launched, changing the priority is a Conflict (it would mean nothing)."""
    for _ in range(MAX_RACES):
        task = deps.tasks.get_task(tenant, task_id)
        if patch.priority is not None and patch.priority != task.spec.priority:
            _reprioritise(deps, task, patch.priority, actor=actor)
        changed = _patched(task, patch)
        record = audit_domain.record(
            actor,
            action="task.update",
            resource=f"task/{task_id}",
            decision=Decision.ALLOWED,
            at=deps.clock.now(),
            reason=_describe(patch),
            audit_id=f"task/{task_id}/v{task.version + 1}",
        )
        try:
            return deps.tasks.update_task(changed, expected_version=task.version, audit=record)
        except Conflict:
            continue
    raise Conflict(f"task {task_id}: too many concurrent updates")


def set_archived(deps: Deps, *, tenant: str, task_id: str, archived: bool, actor: Actor) -> Task:
    """Archive (or restore) a task: it leaves the default comparison and stays readable.
    A task whose attempt is queued or running must be cancelled first."""
    for _ in range(MAX_RACES):
        task = deps.tasks.get_task(tenant, task_id)
        if task.archived == archived:
            return task
        if archived:
            live = [j.job_id for j in deps.jobs.list_jobs(tenant, task_id) if not j.state.is_terminal]
            if live:
                raise Conflict(f"task {task_id} has an attempt that has not finished ({live[0]}); cancel it first")
        record = audit_domain.record(
            actor,
            action="task.archive" if archived else "task.unarchive",
            resource=f"task/{task_id}",
            decision=Decision.ALLOWED,
            at=deps.clock.now(),
            audit_id=f"task/{task_id}/v{task.version + 1}",
        )
        try:
            return deps.tasks.update_task(
                task.model_copy(update={"archived": archived}), expected_version=task.version, audit=record
            )
        except Conflict:
            continue
    raise Conflict(f"task {task_id}: too many concurrent updates")


MAX_RACES = 5


def _patched(task: Task, patch: TaskPatch) -> Task:
    spec_changes: dict[str, object] = {}
    if patch.name is not None:
        spec_changes["name"] = patch.name
    if patch.retention is not None:
        spec_changes["retention"] = patch.retention
    if patch.priority is not None:
        spec_changes["priority"] = patch.priority
    changes: dict[str, object] = {"spec": task.spec.model_copy(update=spec_changes)}
    if patch.description is not None:
        changes["description"] = patch.description
    if patch.tags is not None:
        changes["tags"] = tuple(dict.fromkeys(patch.tags))
    return task.model_copy(update=changes)


def _reprioritise(deps: Deps, task: Task, priority: int, *, actor: Actor) -> None:
    jobs = deps.jobs.list_jobs(task.tenant, task.task_id)
    current = jobs[-1] if jobs else None
    if current is None or current.state is not JobState.QUEUED:
        state = current.state.value if current else "none"
        raise Conflict(
            f"task {task.task_id}: priority can change only while its attempt is queued "
            f"(the current attempt is {state})"
        )
    moved = current.model_copy(update={"priority": priority})
    deps.jobs.save_job(
        moved, expected_version=current.version, audit=audit.job_change(deps, current, moved, actor=actor)
    )


def _describe(patch: TaskPatch) -> str:
    return "changed " + ", ".join(sorted(patch.model_dump(exclude_none=True)))


def rerun(
    deps: Deps,
    *,
    tenant: str,
    task_id: str,
    actor: Actor,
    hyperparameters: dict[str, str | int | float | bool] | None = None,
    name: str | None = None,
    allow_code_change: bool = False,
) -> tuple[Task, Job]:
    """A new task with the same runnable spec as `task_id` (the same image or command, args,
    data, resources, limits), optionally with some hyperparameters overridden; it records
    what it re-runs, and its grants are checked again as for any new task.

    It is pinned to what the original's latest launched attempt ran: an image by the digest
    the cluster resolved (written into the new spec), a local command to its code
    directory's content hash (checked at launch: a changed folder refuses to start, naming
    it, unless `allow_code_change`, and then the record shows the change)."""
    original = deps.tasks.get_task(tenant, task_id)
    params = {**original.spec.hyperparameters, **(hyperparameters or {})}
    spec = original.spec.model_copy(update={"hyperparameters": params, "name": name or original.spec.name})
    pin = _pin_of(deps, original, allow_code_change=allow_code_change)
    if pin is not None and pin.image_digest and spec.image:
        spec = spec.model_copy(update={"image": pinned_image(spec.image, pin.image_digest)})
    spec = TaskSpec.model_validate(spec.model_dump())  # the overrides pass the same validation as a new spec
    project = original.project_id
    return create(deps, tenant=tenant, project_id=project, spec=spec, actor=actor, rerun_of=task_id, pin=pin)


def _pin_of(deps: Deps, task: Task, *, allow_code_change: bool) -> Pin | None:
    """What the task's latest started attempt ran; for a task none of whose attempts started
    (a re-run refused for changed code), what it was itself pinned to; else None."""
    started = _started(deps, task)
    if not started:
        return task.pin.model_copy(update={"allow_code_change": allow_code_change}) if task.pin else None
    record = started[-1].provenance
    return Pin(
        job_id=started[-1].job_id,
        image_digest=record.image_digest,
        code_sha256=record.code.sha256 if record.code else None,
        allow_code_change=allow_code_change,
    )


def compare_specs(deps: Deps, *, tenant: str, task_id: str, other_id: str) -> dict[str, object]:
    """Which runnable fields two of the tenant's tasks differ in (another tenant's id: NotFound),
    what ran included (image digest, code hash, dataset sha256 of their latest attempts);
    `only` names the one field when there is exactly one."""
    a, b = deps.tasks.get_task(tenant, task_id), deps.tasks.get_task(tenant, other_id)
    diff = provenance.differences(a.spec, b.spec, _latest_record(deps, a), _latest_record(deps, b))
    return {
        "task_id": task_id,
        "other_id": other_id,
        "same": not diff,
        "only": next(iter(diff)) if len(diff) == 1 else None,
        "differences": [{"field": k, "value": v[0], "other": v[1]} for k, v in diff.items()],
    }


def _latest_record(deps: Deps, task: Task) -> RunRecord | None:
    started = _started(deps, task)
    return started[-1].provenance if started else None


def _started(deps: Deps, task: Task) -> list[Job]:
    """The task's attempts that the runtime started (their launch record is saved)."""
    return [j for j in deps.jobs.list_jobs(task.tenant, task.task_id) if j.provenance.command or j.provenance.image]
