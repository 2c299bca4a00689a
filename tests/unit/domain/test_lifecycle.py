from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain import lifecycle
from functions.domain.model import Job, JobState
from sdk.contracts.errors import InvalidTransition
from sdk.contracts.specs import FailureKind
from tests.support.builders import T0, job


def launched(at_s: float = 0):
    return lifecycle.launch(job(), T0 + timedelta(seconds=at_s))


def test_happy_path_goes_queued_launching_running_succeeded() -> None:
    j = launched()
    assert j.state is JobState.LAUNCHING and j.capacity_held and j.launched_at == T0
    j = lifecycle.mark_running(j, T0 + timedelta(seconds=5))
    j = lifecycle.record_epoch(j, 1, T0 + timedelta(seconds=30))
    assert j.last_epoch == 1
    j = lifecycle.succeed(j, T0 + timedelta(seconds=40), {"acc": 0.9})
    assert j.state is JobState.SUCCEEDED and j.final_metrics == {"acc": 0.9}
    assert j.deadline_at is None


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED])
def test_terminal_states_accept_nothing(state: JobState) -> None:
    j = job(state=state, launched_at=T0)
    for change in (
        lambda x: lifecycle.launch(x, T0),
        lambda x: lifecycle.mark_running(x, T0),
        lambda x: lifecycle.cancel(x, T0),
        lambda x: lifecycle.record_epoch(x, 1, T0),
        lambda x: lifecycle.succeed(x, T0, {}),
    ):
        with pytest.raises(InvalidTransition):
            change(j)


def test_illegal_transition_names_job_and_states() -> None:
    with pytest.raises(InvalidTransition, match=r"t-1\.1: cannot go from QUEUED to RUNNING"):
        lifecycle.mark_running(job(), T0)


def test_epoch_requires_running() -> None:
    with pytest.raises(InvalidTransition):
        lifecycle.record_epoch(launched(), 1, T0)


def test_launch_refused_while_backing_off() -> None:
    j = job(not_before=T0 + timedelta(seconds=30))
    with pytest.raises(InvalidTransition, match="backing off"):
        lifecycle.launch(j, T0)
    assert lifecycle.launch(j, T0 + timedelta(seconds=30)).state is JobState.LAUNCHING


def test_launch_limit_from_launch_time() -> None:
    j = launched()
    assert lifecycle.expired_limit(j, T0 + timedelta(seconds=59)) is None
    assert lifecycle.expired_limit(j, T0 + timedelta(seconds=60)) is FailureKind.LAUNCH_TIMEOUT
    out = lifecycle.time_out(j, T0 + timedelta(seconds=61))
    assert out.state is JobState.TIMED_OUT and "launch limit of 60s" in out.reason


def test_epoch_limit_counts_from_running_then_from_last_epoch() -> None:
    j = lifecycle.mark_running(launched(), T0 + timedelta(seconds=10))
    assert j.deadline_at == T0 + timedelta(seconds=130)
    j = lifecycle.record_epoch(j, 1, T0 + timedelta(seconds=100))
    assert j.deadline_at == T0 + timedelta(seconds=220)
    assert lifecycle.expired_limit(j, T0 + timedelta(seconds=219)) is None
    assert lifecycle.expired_limit(j, T0 + timedelta(seconds=220)) is FailureKind.EPOCH_TIMEOUT


def test_checkpoint_does_not_restart_the_epoch_clock() -> None:
    j = lifecycle.mark_running(launched(), T0)
    assert lifecycle.record_checkpoint(j).deadline_at == j.deadline_at


def test_ttl_wins_over_epoch_limit() -> None:
    j = job(limits=job().limits.model_copy(update={"ttl_s": 100.0, "epoch_s": 1000.0}))
    j = lifecycle.mark_running(lifecycle.launch(j, T0), T0)
    assert j.deadline_at == T0 + timedelta(seconds=100)
    assert lifecycle.time_out(j, T0 + timedelta(seconds=100)).failure_kind is FailureKind.TTL_TIMEOUT


def test_time_out_before_any_limit_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="no time limit"):
        lifecycle.time_out(launched(), T0 + timedelta(seconds=1))


def test_cleanup_only_after_finish_and_releases_capacity() -> None:
    with pytest.raises(InvalidTransition):
        lifecycle.mark_cleaned(launched(), log_key=None)
    done = lifecycle.cancel(launched(), T0)
    cleaned = lifecycle.mark_cleaned(done, log_key="k")
    assert cleaned.cleaned_up and not cleaned.capacity_held and cleaned.log_key == "k"


def test_trainer_may_fail_before_running() -> None:
    out = lifecycle.fail(launched(), T0, reason="bad data", kind=FailureKind.TRAINER)
    assert out.state is JobState.FAILED and out.failure_kind is FailureKind.TRAINER


def apply(op: str, j: Job, now: datetime) -> Job:
    if op == "launch":
        return lifecycle.launch(j, now)
    if op == "run":
        return lifecycle.mark_running(j, now)
    if op == "epoch":
        return lifecycle.record_epoch(j, 1, now)
    if op == "succeed":
        return lifecycle.succeed(j, now, {})
    if op == "fail":
        return lifecycle.fail(j, now, reason="x", kind=FailureKind.TRAINER)
    if op == "cancel":
        return lifecycle.cancel(j, now)
    return lifecycle.time_out(j, now)


@given(
    st.lists(st.sampled_from(["launch", "run", "epoch", "succeed", "fail", "cancel", "timeout"]), max_size=12),
    st.lists(st.integers(min_value=0, max_value=500), min_size=12, max_size=12),
)
def test_any_event_sequence_keeps_invariants(ops: list[str], gaps: list[int]) -> None:
    """Whatever arrives, a job never leaves a terminal state and timestamps never go back."""
    j = job()
    now = T0
    for op, gap in zip(ops, gaps, strict=False):
        now += timedelta(seconds=gap)
        before = j
        try:
            j = apply(op, j, now)
        except InvalidTransition:
            assert j == before
            continue
        assert not before.state.is_terminal, "a terminal job changed"
        if j.state.is_terminal:
            assert j.finished_at == now and j.deadline_at is None
