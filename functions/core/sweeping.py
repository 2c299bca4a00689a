"""The periodic sweep (PingSource / local ticker): time limits, drift between the
platform and its runtime, data grants that ended, unfinished cleanups, and launching
what now fits.

Every query here goes through a sparse index; the jobs table is never scanned. A job
whose grant was revoked or expired is CANCELLED (access_revoked) like any other ending:
job.finished is announced and cleanup stops its runtime.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from functions.core import audit, events, grants, launching
from functions.core.deps import Deps
from functions.domain import lifecycle
from functions.domain.audit import Actor, system
from functions.domain.model import Job, JobState
from functions.ports import RuntimeJob, RuntimeStatus
from sdk.contracts.errors import Conflict, InvalidTransition, TrainyardError
from sdk.contracts.specs import FailureKind

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    reannounced: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    grants_expired: list[str] = field(default_factory=list)
    access_revoked: list[str] = field(default_factory=list)


def sweep(deps: Deps) -> SweepReport:
    report = SweepReport()
    now = deps.clock.now()
    runtime_jobs = {r.job_id: r for r in deps.runtime.list()}  # listed first: see reconcile()
    known: set[str] = set()
    report.grants_expired = grants.expire_due(deps, now)
    for pool in sorted(deps.config.pools):
        for job in deps.jobs.due_jobs(pool, now):
            if _settle(deps, job, lambda j: lifecycle.time_out(j, now)):
                report.timed_out.append(job.job_id)
        active = deps.jobs.active_jobs(pool)
        unreleased = deps.jobs.unreleased_jobs(pool)
        known.update(j.job_id for j in active)
        known.update(j.job_id for j in unreleased)
        report.failed += _reconcile(deps, active, runtime_jobs, now)
        report.access_revoked += _revoke_access(deps, active, now)
        for job in unreleased:  # finished, but cleanup never completed: announce again
            events.job_finished(deps, job)
            report.reannounced.append(job.job_id)
        report.launched += [j.job_id for j in launching.admit_pool(deps, pool)]
    for job_id in sorted(set(runtime_jobs) - known):
        _delete_orphan(deps, job_id)
        report.orphans_deleted.append(job_id)
    return report


def _reconcile(deps: Deps, active: list[Job], runtime_jobs: dict[str, RuntimeJob], now: datetime) -> list[str]:
    """Active platform jobs whose runtime side vanished or exited without a final report."""
    failed = []
    for job in active:
        verdict = _runtime_verdict(deps, job, runtime_jobs.get(job.job_id), now)
        if verdict is None:
            continue
        if _settle(deps, job, functools.partial(_fail, now=now, verdict=verdict)):
            failed.append(job.job_id)
    return failed


def _runtime_verdict(deps: Deps, job: Job, rt: RuntimeJob | None, now: datetime
                     ) -> tuple[FailureKind, str] | None:
    launched = job.launched_at or now
    if rt is None:
        if now - launched < timedelta(seconds=deps.config.reconcile_grace_s):
            return None  # it may have been launched after the runtime was listed
        return FailureKind.INFRASTRUCTURE, "the runtime lost the job (no process or pod)"
    if rt.status is not RuntimeStatus.EXITED:
        if rt.reason:  # e.g. ImagePullBackOff / Unschedulable: the trainer can never report it
            return FailureKind.INFRASTRUCTURE, rt.reason
        return None
    if rt.exit_code is None:
        return FailureKind.INFRASTRUCTURE, rt.reason or "the runner lost the process"
    last_word = job.last_epoch_at or job.running_at or launched
    if now - last_word < timedelta(seconds=deps.config.exit_grace_s):
        return None  # its final report may still be in flight
    detail = f" ({rt.reason})" if rt.reason else ""
    if job.running_at is None and rt.exit_code != 0:  # it never got going: its output says why
        return exit_before_running(rt.exit_code, _output(deps, job.job_id), detail=detail)
    return FailureKind.TRAINER, f"trainer exited with code {rt.exit_code} without reporting an outcome{detail}"


# What an interpreter or launcher prints when the program or script itself is missing:
# the same command fails the same way on every attempt.
_CANNOT_START = ((2, re.compile(r"can't open file .*No such file or directory")),  # python FILE
                 (1, re.compile(r"^\S*python[\d.]*: No module named \S+$", re.MULTILINE)),  # python -m MODULE
                 (1, re.compile(r"^bwrap: execvp .*: (No such file or directory|Permission denied)$", re.MULTILINE)))
_OUTPUT_LINES = 5
_OUTPUT_CHARS = 600


def exit_before_running(exit_code: int, output: str, *, detail: str = "") -> tuple[FailureKind, str]:
    """The verdict on a trainer that exited non-zero before it reported running.

    126/127 (the shell's and the runner's "cannot execute" / "not found") and an
    interpreter's "can't open file" are start failures: never retried. Otherwise the
    trainer crashed early; its last lines of output usually say why (a traceback).
    """
    lines = [line for line in output.splitlines() if line.strip()]
    if exit_code in (126, 127) or any(code == exit_code and p.search(output) for code, p in _CANNOT_START):
        head = "\n".join(lines[:_OUTPUT_LINES])[:_OUTPUT_CHARS]
        return FailureKind.START_FAILED, (f"the command could not start (exit code {exit_code}){detail}"
                                          + (f": {head}" if head else ""))
    tail = "\n".join(lines[-_OUTPUT_LINES:])[-_OUTPUT_CHARS:]
    return FailureKind.TRAINER, (f"trainer exited with code {exit_code} before reporting running{detail}"
                                 + (f": {tail}" if tail else ""))


def _output(deps: Deps, job_id: str) -> str:
    """What the trainer printed, as far as the runtime still has it ("" if it cannot say)."""
    try:
        return deps.runtime.logs(job_id).decode(errors="replace")
    except TrainyardError as exc:
        log.warning("cannot read a job's output", extra={"job_id": job_id, "error": str(exc)})
        return ""


def _fail(job: Job, *, now: datetime, verdict: tuple[FailureKind, str]) -> Job:
    kind, reason = verdict
    return lifecycle.fail(job, now, reason=reason, kind=kind)


def revoke_access_now(deps: Deps, tenant: str) -> list[str]:
    """Right after a grant of `tenant` ended: cancel its active jobs that lost access (as the
    sweep would, without waiting for it); their cleanup then stops the trainers."""
    now = deps.clock.now()
    stopped = []
    for pool in sorted(deps.config.pools):
        active = [j for j in deps.jobs.active_jobs(pool) if j.tenant == tenant]
        stopped += _revoke_access(deps, active, now)
    return stopped


def _revoke_access(deps: Deps, active: list[Job], now: datetime) -> list[str]:
    """Cancel active jobs whose data grant was revoked or expired (the reason names it)."""
    stopped = []
    for job, reason in grants.revoked_jobs(deps, active, now):
        cancel = functools.partial(lifecycle.cancel, now=now, reason=reason, kind=FailureKind.ACCESS_REVOKED)
        if _settle(deps, job, cancel):
            stopped.append(job.job_id)
    return stopped


def _settle(deps: Deps, job: Job, change: Callable[[Job], Job]) -> bool:
    """Apply a terminal change and announce it; False if the job moved on meanwhile."""
    try:
        changed = change(job)
        record = audit.job_change(deps, job, changed, actor=system(job.tenant, "sweep"))
        saved = deps.jobs.save_job(changed, expected_version=job.version, audit=record)
    except (Conflict, InvalidTransition):
        return False
    log.info("job settled by sweep", extra={"job_id": job.job_id, "tenant": job.tenant,
                                            "state": saved.state.value, "reason": saved.reason})
    events.job_finished(deps, saved)
    return True


def _delete_orphan(deps: Deps, job_id: str) -> None:
    log.warning("deleting runtime job with no live platform job", extra={"job_id": job_id})
    deps.runtime.delete(job_id)


def cancel(deps: Deps, *, tenant: str, job_id: str, actor: Actor | None = None) -> Job:
    """Cancel a queued or active job; it is never retried."""
    who = actor or system(tenant, "api")
    for _ in range(5):
        job = deps.jobs.get_job(tenant, job_id)
        if job.state is JobState.CANCELLED:
            return job
        cancelled = lifecycle.cancel(job, deps.clock.now())
        try:
            saved = deps.jobs.save_job(cancelled, expected_version=job.version,
                                       audit=audit.job_change(deps, job, cancelled, actor=who))
        except Conflict:
            continue
        deps.runtime.stop(job_id)
        events.job_finished(deps, saved)
        return saved
    raise Conflict(f"job {job_id}: too many concurrent updates")
