"""Admission and launch: queued jobs start in order while the pool has room.

At admission the job's data grants are checked again (they may have ended since the task
was created): without an active `train` grant for each dataset the job is CANCELLED with
failure kind access_revoked; with them, the job records the grants it runs under.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from functions.core import audit, datasets, events, grants
from functions.core.deps import Deps
from functions.domain import admission, lifecycle
from functions.domain.audit import Actor, system
from functions.domain.model import Job, JobState, Task
from functions.domain.runs import RunRecord
from functions.ports import CannotStart, LaunchSpec
from sdk.contracts import tracing
from sdk.contracts.errors import CapacityExhausted, Conflict, NotFound, TrainyardError
from sdk.contracts.specs import FailureKind
from sdk.contracts.trainer_env import TrainerVar

log = logging.getLogger(__name__)

# A job token outlives the TTL a little, so the trainer can still report its failure.
TOKEN_SLACK = timedelta(minutes=5)


MAX_RACES = 5
QUEUE_WINDOW = 20  # head of each tenant's queue read per admission (passed-over jobs included)


def admit_pool(deps: Deps, pool: str) -> list[Job]:
    """Launch what the pool and tenant caps allow, fairly between tenants (see
    functions.domain.admission.plan). Reads the head of each tenant's queue that has
    queued jobs, never the whole queue. Returns launched jobs."""
    policy = deps.pool(pool)
    usage, _ = deps.jobs.usage(pool)
    tenants = deps.jobs.pool_tenants(pool)
    queues = {
        tenant: deps.jobs.queued_jobs(pool, tenant=tenant, limit=QUEUE_WINDOW)
        for tenant, share in tenants.items()
        if share.queued > 0 and share.running < policy.tenant_cap
    }
    launched: list[Job] = []
    for job in admission.plan(queues, usage=usage, tenants=tenants, policy=policy, now=deps.clock.now()):
        try:
            started = start(deps, job)
        except CapacityExhausted:
            break  # a concurrent launch took the room; the next sweep tries again
        if started is not None:
            launched.append(started)
    return launched


def start(deps: Deps, job: Job) -> Job | None:
    """Reserve capacity, mark LAUNCHING, and ask the runtime to start the attempt."""
    try:
        task = deps.tasks.get_task(job.tenant, job.task_id)
        project = deps.projects.get_project(job.tenant, job.project_id)
    except NotFound:
        log.error("job without task/project", extra={"job_id": job.job_id, "tenant": job.tenant})
        return None
    now = deps.clock.now()
    if not project.is_live(now):
        _cancel_queued(deps, job, reason=f"project {project.project_id} is deactivated or expired")
        return None
    access = grants.job_coverage(deps, job, task, now)
    if access.missing:
        _cancel_queued(
            deps,
            job,
            kind=FailureKind.ACCESS_REVOKED,
            reason=f"access revoked: no active {grants.action_for(task.spec).value} grant for dataset(s) "
            f"{list(access.missing)}",
        )
        return None
    unvalidated = datasets.unvalidated_pins(deps, task)
    if unvalidated:
        _cancel_queued(deps, job, reason=f"require_validated: {unvalidated}")
        return None
    launched = lifecycle.launch(job, now).model_copy(update={"grants": access.ids})
    try:
        saved = deps.jobs.launch_job(
            launched,
            expected_version=job.version,
            policy=deps.pool(job.pool),
            audit=audit.job_change(deps, job, launched, actor=_launcher(job.tenant)),
        )
    except CapacityExhausted:
        raise
    except Conflict:
        return None  # another launcher got it first
    command, image = datasets.runnable(task.spec, deps)
    spec = _launch_spec(
        deps,
        saved,
        command=command,
        args=task.spec.args,
        image=image,
        hyperparameters=task.spec.hyperparameters,
        code_dir=task.spec.code_dir,
        code_sha256=_pinned_code(task),
    )
    try:
        record = deps.runtime.launch(spec)
    except CannotStart as exc:  # as given, the command can never start: retrying cannot help
        _fail_launch(deps, saved, reason=f"cannot start the command: {exc}", kind=FailureKind.START_FAILED)
        return None
    except TrainyardError as exc:
        _fail_launch(deps, saved, reason=f"runtime could not launch the job: {exc}")
        return None
    log.info("job launched", extra={"job_id": saved.job_id, "tenant": saved.tenant, "attempt": saved.attempt})
    return _keep_record(deps, saved, record)


def _pinned_code(task: Task) -> str | None:
    """The code digest a re-run must start from (None: no pin, or the caller allowed a change)."""
    if task.pin is None or task.pin.allow_code_change:
        return None
    return task.pin.code_sha256


def _keep_record(deps: Deps, job: Job, record: RunRecord) -> Job:
    """Save what the runtime started on the job (the trainer's first reports may race it: reload)."""
    for _ in range(MAX_RACES):
        merged = job.provenance.model_copy(
            update={"image": record.image, "command": record.command, "code_dir": record.code_dir, "code": record.code}
        )
        try:
            return deps.jobs.save_job(job.model_copy(update={"provenance": merged}), expected_version=job.version)
        except Conflict:
            job = deps.jobs.get_job(job.tenant, job.job_id)
    log.warning("launch record not saved: too many concurrent updates", extra={"job_id": job.job_id})
    return job


def _launch_spec(
    deps: Deps,
    job: Job,
    *,
    command: list[str],
    args: list[str],
    image: str,
    hyperparameters: dict[str, str | int | float | bool],
    code_dir: str | None,
    code_sha256: str | None = None,
) -> LaunchSpec:
    assert job.launched_at is not None
    expires = job.launched_at + timedelta(seconds=job.limits.ttl_s) + TOKEN_SLACK
    token = deps.config.job_tokens().job_token(
        tenant=job.tenant, job_id=job.job_id, expires_at=int(expires.timestamp())
    )
    env = {
        TrainerVar.JOB_ID.value: job.job_id,
        TrainerVar.TASK_ID.value: job.task_id,
        TrainerVar.PROJECT_ID.value: job.project_id,
        TrainerVar.ATTEMPT.value: str(job.attempt),
        TrainerVar.TOKEN.value: token,
        TrainerVar.PLATFORM_URL.value: deps.config.platform_url,
        TrainerVar.HYPERPARAMETERS.value: json.dumps(hyperparameters, sort_keys=True),
        TrainerVar.TRACEPARENT.value: tracing.child(tracing.current()),  # the trainer's reports continue the trace
    }
    return LaunchSpec(
        job_id=job.job_id,
        tenant=job.tenant,
        project_id=job.project_id,
        task_id=job.task_id,
        attempt=job.attempt,
        image=image,
        command=list(command),
        args=list(args),
        env=env,
        cpu=job.resources.cpu,
        memory_mb=job.resources.memory_mb,
        gpu=job.resources.gpu,
        ttl_s=job.limits.ttl_s,
        code_dir=code_dir,
        code_sha256=code_sha256,
    )


def _launcher(tenant: str) -> Actor:
    return system(tenant, "launch")


def _fail_launch(deps: Deps, job: Job, *, reason: str, kind: FailureKind = FailureKind.INFRASTRUCTURE) -> None:
    failed = lifecycle.fail(job, deps.clock.now(), reason=reason, kind=kind)
    try:
        saved = deps.jobs.save_job(
            failed, expected_version=job.version, audit=audit.job_change(deps, job, failed, actor=_launcher(job.tenant))
        )
    except Conflict:
        return
    events.job_finished(deps, saved)


def _cancel_queued(deps: Deps, job: Job, *, reason: str, kind: FailureKind = FailureKind.CANCELLED) -> None:
    if job.state is not JobState.QUEUED:
        return
    cancelled = lifecycle.cancel(job, deps.clock.now(), reason=reason, kind=kind)
    try:
        deps.jobs.save_job(
            cancelled,
            expected_version=job.version,
            audit=audit.job_change(deps, job, cancelled, actor=_launcher(job.tenant)),
        )
    except Conflict:
        return
    log.info("queued job cancelled at admission", extra={"job_id": job.job_id, "tenant": job.tenant, "reason": reason})
