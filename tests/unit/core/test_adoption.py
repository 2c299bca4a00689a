"""A restarted platform re-adopts the trainers that ran on while it was down.

The platform's state survives the restart (the store); the runtime still holds the
trainers (RecordingRuntime here; the local runner's part is in
tests/unit/runtimes/test_local_runtime.py). Only the clock moves while it is "down".
"""

from __future__ import annotations

import dataclasses

import pytest

from functions.core import adoption, launching, reporting, sweeping
from functions.domain.model import ADOPTION_GRACE_S, JobState
from sdk.contracts import events as ev
from sdk.contracts.specs import FailureKind
from tests.support.harness import Harness, harness

LIMITS = {"launch_s": 30, "epoch_s": 60, "ttl_s": 3600}


@pytest.fixture
def h() -> Harness:
    return harness()


def _running(h: Harness) -> str:
    _, job = h.task(h.project(), limits=LIMITS)
    launching.admit_pool(h.deps, "default")
    h.runtime.start(job.job_id)
    _report(h, job.job_id, ev.JobRunning(), "run")
    _report(h, job.job_id, ev.EpochReport(epoch=1, metrics={"loss": 1.0}), "e1")
    return job.job_id


def _report(h: Harness, job_id: str, payload: object, event_id: str) -> None:
    reporting.report(h.deps, tenant="acme", job_id=job_id, event_type="x", event_id=event_id, payload=payload)  # type: ignore[arg-type]


def test_a_trainer_running_through_an_outage_is_adopted_and_finishes_for_real(h: Harness) -> None:
    job_id = _running(h)
    h.clock.advance(300)  # the platform was down 5 minutes: longer than the epoch limit

    assert adoption.adopt(h.deps) == [job_id]
    report = sweeping.sweep(h.deps)

    assert report.timed_out == [] and report.failed == [] and report.orphans_deleted == []
    assert job_id in h.runtime.launched and h.runtime.deleted == [] and h.runtime.stopped == []
    _report(h, job_id, ev.EpochReport(epoch=2, metrics={"loss": 0.5}), "e2")  # its retried reports arrive
    _report(h, job_id, ev.JobSucceeded(metrics={"loss": 0.5}), "done")
    assert h.store.get_job("acme", job_id).state is JobState.SUCCEEDED


def test_after_adoption_its_limits_are_judged_from_its_own_reports_again(h: Harness) -> None:
    job_id = _running(h)
    h.clock.advance(300)
    adoption.adopt(h.deps)

    h.clock.advance(59)
    assert sweeping.sweep(h.deps).timed_out == []
    h.clock.advance(2)  # 61 s after adoption without a report: the epoch limit of 60 s
    assert sweeping.sweep(h.deps).timed_out == [job_id]
    assert h.store.get_job("acme", job_id).failure_kind is FailureKind.EPOCH_TIMEOUT


def test_the_ttl_does_not_move_for_an_outage(h: Harness) -> None:
    job_id = _running(h)
    h.clock.advance(3601)

    adoption.adopt(h.deps)

    assert sweeping.sweep(h.deps).timed_out == [job_id]
    assert h.store.get_job("acme", job_id).failure_kind is FailureKind.TTL_TIMEOUT


@pytest.mark.parametrize(("code", "state"), [(0, JobState.FAILED), (3, JobState.FAILED)])
def test_a_trainer_that_ended_during_the_outage_gets_the_verdict_of_its_recorded_exit(
    h: Harness, code: int, state: JobState
) -> None:
    job_id = _running(h)
    h.runtime.exit(job_id, code)  # the supervisor wrote its exit code while the platform was down
    h.clock.advance(300)

    adoption.adopt(h.deps)
    report = sweeping.sweep(h.deps)

    assert report.failed == [job_id] and report.timed_out == []  # not a time-out the platform's absence caused
    job = h.store.get_job("acme", job_id)
    assert job.state is state and job.failure_kind is FailureKind.TRAINER and f"code {code}" in job.reason


def test_a_job_whose_trainer_is_gone_is_not_adopted_and_fails_as_infrastructure(h: Harness) -> None:
    job_id = _running(h)
    h.runtime.delete(job_id)  # e.g. the machine rebooted: no supervisor, no job directory
    h.clock.advance(300)

    assert adoption.adopt(h.deps) == []
    report = sweeping.sweep(h.deps)

    assert job_id in report.timed_out + report.failed
    assert h.store.get_job("acme", job_id).state in (JobState.TIMED_OUT, JobState.FAILED)


def test_adoption_is_harmless_twice_and_ignores_finished_jobs(h: Harness) -> None:
    job_id = _running(h)
    _report(h, job_id, ev.JobSucceeded(metrics={}), "done")

    assert adoption.adopt(h.deps) == []
    assert adoption.adopt(h.deps) == []


def test_a_short_epoch_limit_still_leaves_time_for_the_sdks_retried_reports(h: Harness) -> None:
    _, job = h.task(h.project(), limits={"launch_s": 5, "epoch_s": 5, "ttl_s": 3600})
    launching.admit_pool(h.deps, "default")
    h.runtime.start(job.job_id)
    _report(h, job.job_id, ev.JobRunning(), "run")
    h.clock.advance(60)
    adoption.adopt(h.deps)

    h.clock.advance(ADOPTION_GRACE_S - 1)  # the SDK retries at most 10 s apart: its report is on its way
    assert sweeping.sweep(h.deps).timed_out == []
    h.clock.advance(2)
    assert sweeping.sweep(h.deps).timed_out == [job.job_id]


class _NoWalks:
    """The job store, refusing the queries that walk every active job: adoption must read
    only the jobs the runtime holds (start-up time must not grow with history)."""

    def __init__(self, jobs: object) -> None:
        self._jobs = jobs

    def __getattr__(self, name: str) -> object:
        if name in ("active_jobs", "unreleased_jobs"):
            raise AssertionError(f"adoption walked the {name} index")
        return getattr(self._jobs, name)


def test_adoption_reads_only_the_jobs_the_runtime_holds(h: Harness) -> None:
    held = _running(h)
    for _ in range(5):  # other jobs, which the runtime does not hold
        h.task(h.project(), limits=LIMITS)
    h.clock.advance(300)
    deps = dataclasses.replace(h.deps, jobs=_NoWalks(h.deps.jobs))  # type: ignore[arg-type]

    assert adoption.adopt(deps) == [held]
