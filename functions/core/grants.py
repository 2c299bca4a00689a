"""Enforcing data grants where data is touched: creating a task, launching a job, each
dataset URL, and the sweep that stops running jobs whose grants ended.

Who a grant must name (decided once, here): a dataset of a project is covered for a task
when an active grant of the right action on that project's dataset names the task's
PROJECT (`project:<id>`) or the PERSON who created the task. A project grant is preferred
(it outlives staff changes); a person's grant lets an approver scope access to one data
scientist. A task created by an event from
another system has no person behind it, so only project grants count for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from functions.core import audit, events
from functions.core.deps import Deps
from functions.domain import approvals, lifecycle
from functions.domain.approvals import Approval, GrantAction
from functions.domain.audit import Actor, Decision, record, system
from functions.domain.model import Job, Task
from sdk.contracts.errors import Conflict, InvalidTransition, NotFound
from sdk.contracts.specs import FailureKind, TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Coverage:
    """Which grant covers each dataset, and the datasets no active grant covers."""

    by_dataset: dict[str, str]
    missing: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.by_dataset.values())))


def action_for(spec: TaskSpec) -> GrantAction:
    """The grant a task's data access needs: `validate` for a validation task, else `train`."""
    return GrantAction.VALIDATE if spec.kind == "validation" else GrantAction.TRAIN


def grantees(project_id: str, principal: str | None) -> tuple[str, ...]:
    project = approvals.project_grantee(project_id)
    return (project, principal) if principal else (project,)


def coverage(
    deps: Deps,
    *,
    tenant: str,
    project_id: str,
    principal: str | None,
    datasets: Iterable[str],
    action: GrantAction,
    now: datetime,
    versions: Mapping[str, int] | None = None,
) -> Coverage:
    """One index query per dataset (grants naming it, still expiring after now). `versions`:
    the version of each dataset that will be read, where known (a grant limited to one
    version covers only that one)."""
    wanted = grantees(project_id, principal)
    found: dict[str, str] = {}
    missing: list[str] = []
    pins = versions or {}
    for name in dict.fromkeys(datasets):
        candidates = deps.approvals.approvals_for_dataset(tenant, name, expiring_after=now)
        chosen = approvals.choose(
            candidates,
            grantees=wanted,
            action=action,
            project_id=project_id,
            dataset=name,
            now=now,
            version=pins.get(name),
        )
        if chosen is None:
            missing.append(name)
        else:
            found[name] = chosen.approval_id
    return Coverage(by_dataset=found, missing=tuple(missing))


def job_coverage(deps: Deps, job: Job, task: Task, now: datetime) -> Coverage:
    """The grants that let `job` (an attempt of `task`) read its task's datasets (pinned versions) now."""
    return coverage(
        deps,
        tenant=job.tenant,
        project_id=job.project_id,
        principal=task.requested_by,
        datasets=task.spec.datasets,
        action=action_for(task.spec),
        now=now,
        versions=task.spec.dataset_versions,
    )


def covering(
    deps: Deps, *, tenant: str, project_id: str, principal: str | None, action: GrantAction, now: datetime
) -> Callable[[str, int], bool]:
    """Whether an active grant covers reading a dataset version: one index query per dataset
    asked about, answered for any of its versions."""
    wanted = grantees(project_id, principal)
    candidates: dict[str, list[Approval]] = {}

    def covered(name: str, version: int) -> bool:
        if name not in candidates:
            candidates[name] = deps.approvals.approvals_for_dataset(tenant, name, expiring_after=now)
        chosen = approvals.choose(
            candidates[name], grantees=wanted, action=action, project_id=project_id, dataset=name, now=now,
            version=version,
        )  # fmt: skip
        return chosen is not None

    return covered


def require(
    deps: Deps,
    actor: Actor,
    *,
    project_id: str,
    principal: str | None,
    datasets: Iterable[str],
    action: GrantAction,
    audit_action: str,
    resource: str,
    versions: Mapping[str, int] | None = None,
) -> Coverage:
    """The coverage of `datasets` (at `versions`), or a refusal (recorded) naming what is not covered."""
    found = coverage(
        deps,
        tenant=actor.tenant,
        project_id=project_id,
        principal=principal,
        datasets=datasets,
        action=action,
        now=deps.clock.now(),
        versions=versions,
    )
    if found.missing:
        who = " or ".join(grantees(project_id, principal))
        pinned = {d: versions[d] for d in found.missing if versions and d in versions}
        at = f" at version(s) {pinned}" if pinned else ""
        reason = f"no active {action.value} grant for {who} on dataset(s) {list(found.missing)}{at}"
        raise audit.denied(deps, actor, action=audit_action, resource=resource, reason=reason)
    return found


def expire_due(deps: Deps, now: datetime) -> list[str]:
    """Record the expiry of approved grants whose time is up (their effect is already gone)."""
    expired = []
    for grant in deps.approvals.due_approvals(now):
        actor = system(grant.tenant, "sweep")
        change = record(
            actor,
            action="approval.expire",
            resource=f"approval/{grant.approval_id}",
            decision=Decision.ALLOWED,
            at=now,
            reason=f"expired at {grant.expires_at.isoformat()}",
        )
        try:
            deps.approvals.save_approval(
                approvals.expire(grant, actor=actor.sub, now=now), expected_version=grant.version, audit=change
            )
        except Conflict:
            continue  # changed meanwhile (revoked, or another sweep recorded it)
        expired.append(grant.approval_id)
    return expired


def stop_jobs_of(deps: Deps, ended: Iterable[str], now: datetime) -> list[str]:
    """Cancel the active jobs running under grants that just ended (revoked or expired)
    and that no other active grant covers. Pages through the active jobs once: this is
    paid per revocation or expiry, never by every sweep."""
    gone = set(ended)
    stopped: list[str] = []
    for pool in sorted(deps.config.pools):
        for page in deps.jobs.active_jobs(pool):
            affected = [job for job in page if gone.intersection(job.grants)]
            for job, reason in revoked_jobs(deps, affected, now) if affected else []:
                if _cancel_for_access(deps, job, reason=reason, now=now):
                    stopped.append(job.job_id)
    return stopped


def _cancel_for_access(deps: Deps, job: Job, *, reason: str, now: datetime) -> bool:
    try:
        cancelled = lifecycle.cancel(job, now, reason=reason, kind=FailureKind.ACCESS_REVOKED)
        saved = deps.jobs.save_job(
            cancelled,
            expected_version=job.version,
            audit=audit.job_change(deps, job, cancelled, actor=system(job.tenant, "sweep")),
        )
    except (Conflict, InvalidTransition):
        return False  # it moved on meanwhile
    log.info("job stopped: access ended", extra={"job_id": job.job_id, "tenant": job.tenant, "reason": reason})
    deps.runtime.stop(job.job_id)
    events.job_finished(deps, saved)
    return True


def revoked_jobs(deps: Deps, jobs: list[Job], now: datetime) -> list[tuple[Job, str]]:
    """Active jobs that lost access, and why (naming the grant).

    One batch read of the grants the jobs were launched under; only a job whose grant
    ended is looked at further, and it keeps running if other active grants still cover
    all its datasets (it then runs under those).
    """
    ids = {g for job in jobs for g in job.grants}
    if not ids:
        return []
    found = {a.approval_id: a for a in deps.approvals.approvals_by_id(ids)}
    lost = []
    for job in jobs:
        ended = [g for g in job.grants if not _gives_access(found.get(g), job, now)]
        if not ended or _rebound(deps, job, now):
            continue
        grant = found.get(ended[0])
        why = approvals.why_inactive(grant if grant and grant.tenant == job.tenant else None, ended[0], now)
        lost.append((job, f"access revoked: {why}"))
    return lost


def _gives_access(grant: Approval | None, job: Job, now: datetime) -> bool:
    return grant is not None and grant.tenant == job.tenant and grant.is_active(now)


def _rebound(deps: Deps, job: Job, now: datetime) -> bool:
    """Move the job onto other active grants if they cover it all; False if none do."""
    try:
        task = deps.tasks.get_task(job.tenant, job.task_id)
    except NotFound:
        return False
    found = job_coverage(deps, job, task, now)
    if found.missing:
        return False
    try:
        deps.jobs.save_job(job.model_copy(update={"grants": found.ids}), expected_version=job.version)
    except Conflict:
        return True  # it moved on meanwhile; the next sweep looks again if it still runs
    log.info(
        "job moved onto other grants", extra={"job_id": job.job_id, "tenant": job.tenant, "grants": list(found.ids)}
    )
    return True
