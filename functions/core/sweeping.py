"""The periodic sweep (PingSource / local ticker): time limits, drift between the
platform and its runtime, data grants that ended, unfinished cleanups, and launching
what now fits.

Its store reads are proportional to what is due, never to the number of active jobs:
- time limits: the sharded deadlines index returns only jobs whose deadline passed;
- runtime drift: only runtime jobs that exited (or are stuck) are looked up, by id;
- orphans (runtime jobs without a live platform job) and lost jobs (platform jobs without
  a runtime job) are looked for only when the runtime holds a different number of jobs
  than the pools hold capacity for; then every active job is paged through, to the end;
- ended grants: only when grants expired (a revocation stops its jobs at once, in
  functions.core.grants), and then only jobs running under those grants are stopped;
- unfinished cleanups: a finished job is announced once; only if its cleanup has not
  happened within rules.REANNOUNCE_AFTER is it announced again, with doubling waits.

No verdict overtakes a report the ingress accepted (functions.domain.model.ReportMark):
an accepted outcome waits (up to outcome_wait_s, for a broker that lost it), and the
exit grace counts from the last accepted report, not the last applied one.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from functions.core import audit, events, grants, joblogs, launching
from functions.core.deps import Deps
from functions.domain import lifecycle
from functions.domain.audit import Actor, system
from functions.domain.model import Job, JobState, ReportMark
from functions.ports import RuntimeJob, RuntimeStatus
from sdk.contracts.errors import Conflict, InvalidTransition, TrainyardError
from sdk.contracts.specs import FailureKind

log = logging.getLogger(__name__)
LOOKUP_PAGE = 100  # job ids per batch read


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    reannounced: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    grants_expired: list[str] = field(default_factory=list)
    access_revoked: list[str] = field(default_factory=list)
    audited: int = 0  # active jobs paged through because the runtime and the pools disagreed
    logs_shipped: list[str] = field(default_factory=list)  # live logs copied to the logs bucket
    images_recorded: list[str] = field(default_factory=list)  # jobs whose image digest was recorded

    def changed(self) -> bool:
        """Whether the sweep changed anything beyond bookkeeping (worth an INFO line)."""
        return any(values for name, values in vars(self).items() if name not in ("logs_shipped", "images_recorded"))


def sweep(deps: Deps) -> SweepReport:
    report = SweepReport()
    now = deps.clock.now()
    runtime_jobs = {r.job_id: r for r in deps.runtime.list()}  # listed first: see _runtime_verdict
    held = sum(deps.jobs.usage(pool)[0].slots for pool in deps.config.pools)
    report.grants_expired = grants.expire_due(deps, now)
    for pool in sorted(deps.config.pools):
        report.timed_out += _time_out_due(deps, pool, now)
        report.reannounced += _reannounce_due(deps, pool, now)
    report.failed += _judge_exited(deps, runtime_jobs, now, report)
    if held != len(runtime_jobs):
        _audit(deps, runtime_jobs, now, report)
    if report.grants_expired:
        report.access_revoked += grants.stop_jobs_of(deps, report.grants_expired, now)
    report.logs_shipped += joblogs.ship_live(deps, runtime_jobs)
    report.images_recorded += _record_images(deps, runtime_jobs)
    for pool in sorted(deps.config.pools):
        report.launched += [j.job_id for j in launching.admit_pool(deps, pool)]
    return report


def _time_out_due(deps: Deps, pool: str, now: datetime) -> list[str]:
    due = deps.jobs.due_jobs(pool, now)
    marks = deps.jobs.report_marks(j.job_id for j in due) if due else {}
    timed_out = []
    for job in due:
        if _awaits_report(deps, job, marks.get(job.job_id), now):
            continue
        if _settle(deps, job, lambda j: lifecycle.time_out(j, now)):
            timed_out.append(job.job_id)
    return timed_out


def _awaits_report(deps: Deps, job: Job, mark: ReportMark | None, now: datetime) -> bool:
    """An accepted outcome is still on its way, or an accepted report moved the deadline."""
    if mark is None:
        return False
    if mark.outcome_at is not None:
        return now - mark.outcome_at < timedelta(seconds=deps.config.outcome_wait_s)
    applied = job.last_epoch_at or job.running_at or job.launched_at
    if applied is None or mark.accepted_at <= applied or job.launched_at is None:
        return False
    ttl_end = job.launched_at + timedelta(seconds=job.limits.ttl_s)
    return now < min(ttl_end, mark.accepted_at + timedelta(seconds=job.limits.epoch_s))


def _reannounce_due(deps: Deps, pool: str, now: datetime) -> list[str]:
    """Finished jobs whose cleanup did not happen in time: announce again, later next time."""
    again = []
    for job in deps.jobs.unreleased_jobs(pool, now):
        try:
            deps.jobs.save_job(lifecycle.reannounced(job, now), expected_version=job.version)
        except (Conflict, InvalidTransition):
            continue  # cleaned up (or re-announced by another sweep) meanwhile
        events.job_finished(deps, job)
        again.append(job.job_id)
    return again


def _judge_exited(deps: Deps, runtime_jobs: dict[str, RuntimeJob], now: datetime, report: SweepReport) -> list[str]:
    """Runtime jobs that exited or are stuck: fail their platform job, or delete an orphan."""
    ended = [r.job_id for r in runtime_jobs.values() if r.status is RuntimeStatus.EXITED or r.reason]
    failed = []
    for page in _pages(ended):
        jobs = {j.job_id: j for j in deps.jobs.jobs_by_id(page)}
        marks = deps.jobs.report_marks(page)
        for job_id in page:
            job = jobs.get(job_id)
            if _is_orphan(job):
                _delete_orphan(deps, job_id)
                report.orphans_deleted.append(job_id)
            elif job is not None and job.state.is_active:
                failed += _reconcile(deps, job, runtime_jobs.get(job_id), marks.get(job_id), now)
    return failed


def _audit(deps: Deps, runtime_jobs: dict[str, RuntimeJob], now: datetime, report: SweepReport) -> None:
    """Counts disagree: page through every active job (lost by the runtime?) and look up
    every runtime job not seen among them (an orphan?), by id."""
    seen: set[str] = set()
    for pool in sorted(deps.config.pools):
        for page in deps.jobs.active_jobs(pool, page=LOOKUP_PAGE):
            report.audited += len(page)
            seen.update(j.job_id for j in page)
            missing = [j for j in page if j.job_id not in runtime_jobs]
            marks = deps.jobs.report_marks(j.job_id for j in missing) if missing else {}
            for job in missing:
                report.failed += _reconcile(deps, job, None, marks.get(job.job_id), now)
    unknown = sorted(set(runtime_jobs) - seen - set(report.orphans_deleted))
    for ids in _pages(unknown):
        jobs = {j.job_id: j for j in deps.jobs.jobs_by_id(ids)}
        for job_id in ids:
            if _is_orphan(jobs.get(job_id)):
                _delete_orphan(deps, job_id)
                report.orphans_deleted.append(job_id)


def _record_images(deps: Deps, runtime_jobs: dict[str, RuntimeJob]) -> list[str]:
    """Record the image each trainer container ran (the pod's imageID, by digest) in its job's
    provenance, once: the runtime then marks it recorded, so a job is read for this only after
    its pod first reports an image (reads proportional to new pods, not to active jobs)."""
    new = {r.job_id: r.image_id for r in runtime_jobs.values() if r.image_id and not r.image_recorded}
    recorded = []
    for page in _pages(sorted(new)):
        for job in deps.jobs.jobs_by_id(page):
            image_id = new[job.job_id]
            if job.provenance.image_id != image_id:
                record = job.provenance.model_copy(update={"image_id": image_id})
                try:
                    deps.jobs.save_job(job.model_copy(update={"provenance": record}), expected_version=job.version)
                except Conflict:
                    continue  # a report saved it meanwhile: the next sweep records it
                recorded.append(job.job_id)
            try:
                deps.runtime.note_image(job.job_id, image_id)
            except TrainyardError as exc:
                log.warning("cannot note a recorded image", extra={"job_id": job.job_id, "error": str(exc)})
    return recorded


def _is_orphan(job: Job | None) -> bool:
    """No platform job, or one that finished and was cleaned up (its runtime should be gone).
    A finished job still to be cleaned up is left to its cleanup."""
    return job is None or (job.state.is_terminal and job.cleaned_up)


def _pages(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), LOOKUP_PAGE):
        yield ids[start : start + LOOKUP_PAGE]


def _reconcile(deps: Deps, job: Job, rt: RuntimeJob | None, mark: ReportMark | None, now: datetime) -> list[str]:
    verdict = _runtime_verdict(deps, job, rt, mark, now)
    if verdict is None:
        return []
    if _settle(deps, job, functools.partial(_fail, now=now, verdict=verdict)):
        return [job.job_id]
    return []


def _runtime_verdict(
    deps: Deps, job: Job, rt: RuntimeJob | None, mark: ReportMark | None, now: datetime
) -> tuple[FailureKind, str] | None:
    launched = job.launched_at or now
    if mark is not None and mark.outcome_at is not None and _awaits_report(deps, job, mark, now):
        return None  # its outcome was accepted: it ends with that outcome, not a verdict
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
    last_word = max(
        t for t in (job.last_epoch_at, job.running_at, launched, mark.accepted_at if mark else None) if t is not None
    )
    if now - last_word < timedelta(seconds=deps.config.exit_grace_s):
        return None  # its final report may still be in flight
    detail = f" ({rt.reason})" if rt.reason else ""
    if job.running_at is None and rt.exit_code != 0:  # it never got going: its output says why
        return exit_before_running(rt.exit_code, _output(deps, job.job_id), detail=detail)
    return FailureKind.TRAINER, f"trainer exited with code {rt.exit_code} without reporting an outcome{detail}"


# What an interpreter or launcher prints when the program or script itself is missing:
# the same command fails the same way on every attempt.
_CANNOT_START = (
    (2, re.compile(r"can't open file .*No such file or directory")),  # python FILE
    (1, re.compile(r"^\S*python[\d.]*: No module named \S+$", re.MULTILINE)),  # python -m MODULE
    (1, re.compile(r"^bwrap: execvp .*: (No such file or directory|Permission denied)$", re.MULTILINE)),
)
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
        return FailureKind.START_FAILED, (
            f"the command could not start (exit code {exit_code}){detail}" + (f": {head}" if head else "")
        )
    tail = "\n".join(lines[-_OUTPUT_LINES:])[-_OUTPUT_CHARS:]
    return FailureKind.TRAINER, (
        f"trainer exited with code {exit_code} before reporting running{detail}" + (f": {tail}" if tail else "")
    )


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


def _settle(deps: Deps, job: Job, change: Callable[[Job], Job]) -> bool:
    """Apply a terminal change and announce it; False if the job moved on meanwhile."""
    try:
        changed = change(job)
        record = audit.job_change(deps, job, changed, actor=system(job.tenant, "sweep"))
        saved = deps.jobs.save_job(changed, expected_version=job.version, audit=record)
    except (Conflict, InvalidTransition):
        return False
    log.info(
        "job settled by sweep",
        extra={"job_id": job.job_id, "tenant": job.tenant, "state": saved.state.value, "reason": saved.reason},
    )
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
            saved = deps.jobs.save_job(
                cancelled, expected_version=job.version, audit=audit.job_change(deps, job, cancelled, actor=who)
            )
        except Conflict:
            continue
        events.job_finished(deps, saved)  # cleanup stops the runtime: the API that cancels has none
        return saved
    raise Conflict(f"job {job_id}: too many concurrent updates")
