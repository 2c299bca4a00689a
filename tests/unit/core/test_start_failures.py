"""A command that cannot start says why (its own first lines of output) and is not retried."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticValidationError

from functions.core import launching, sweeping
from functions.domain.model import JobState
from functions.ports import CannotStart
from sdk.contracts.specs import FailureKind, RetryPolicy
from tests.support.harness import Harness, harness

CANT_OPEN = b"/usr/bin/python3: can't open file '/home/ana/proj/trian.py': [Errno 2] No such file or directory\n"


@pytest.fixture
def h() -> Harness:
    return harness()


def _exited_before_running(h: Harness, code: int, output: bytes) -> str:
    _, job = h.task(h.project(), retry={"max_retries": 2, "backoff_s": 0})
    launching.admit_pool(h.deps, "default")
    h.runtime.write_log(job.job_id, output)
    h.runtime.exit(job.job_id, code)
    h.clock.advance(3)  # past exit_grace_s
    assert sweeping.sweep(h.deps).failed == [job.job_id]
    h.finish_events()
    return job.job_id


def _attempts(h: Harness, job_id: str) -> list[int]:
    job = h.store.get_job("acme", job_id)
    return [j.attempt for j in h.store.list_jobs("acme", job.task_id)]


@pytest.mark.parametrize(
    ("code", "output"),
    [
        (2, CANT_OPEN),
        (1, b"bwrap: execvp pyhton: No such file or directory\n"),
        (1, b"/venv/bin/python: No module named trainer_pkg\n"),
        (127, b"sh: 1: pyhton: not found\n"),
        (126, b""),
    ],
)
def test_a_command_that_cannot_start_fails_with_its_words_and_is_not_retried(
    h: Harness, code: int, output: bytes
) -> None:
    job_id = _exited_before_running(h, code, output)

    job = h.store.get_job("acme", job_id)
    assert job.state is JobState.FAILED and job.failure_kind is FailureKind.START_FAILED
    assert job.reason.startswith(f"the command could not start (exit code {code})")
    assert output.decode().strip() in job.reason
    assert _attempts(h, job_id) == [1]


def test_an_early_crash_names_its_last_lines_and_is_retried(h: Harness) -> None:
    traceback = b"Traceback (most recent call last):\n  File \"train.py\", line 1\nKeyError: 'lr'\n"
    job_id = _exited_before_running(h, 1, traceback)

    job = h.store.get_job("acme", job_id)
    assert job.failure_kind is FailureKind.TRAINER
    assert job.reason.startswith("trainer exited with code 1 before reporting running")
    assert "KeyError: 'lr'" in job.reason
    assert _attempts(h, job_id) == [1, 2]


def test_cant_open_file_only_counts_with_pythons_exit_code(h: Harness) -> None:
    job_id = _exited_before_running(h, 1, b"data loader: can't open file x.csv: No such file or directory\n")

    assert h.store.get_job("acme", job_id).failure_kind is FailureKind.TRAINER


def test_a_runtime_that_cannot_start_the_command_fails_it_for_good(h: Harness) -> None:
    _, job = h.task(h.project(), retry={"max_retries": 2, "backoff_s": 0})
    h.runtime.fail_next_launch(CannotStart("code_dir /gone is not a directory"))

    assert launching.admit_pool(h.deps, "default") == []
    h.finish_events()

    failed = h.store.get_job("acme", job.job_id)
    assert failed.failure_kind is FailureKind.START_FAILED and "code_dir /gone" in failed.reason
    assert _attempts(h, job.job_id) == [1]


def test_the_code_dir_reaches_the_runtime(h: Harness) -> None:
    _, job = h.task(h.project(), code_dir="/home/ana/proj")
    launching.admit_pool(h.deps, "default")

    assert h.runtime.launched[job.job_id].code_dir == "/home/ana/proj"


def test_start_failed_cannot_be_asked_to_be_retried() -> None:
    with pytest.raises(PydanticValidationError, match="never retried"):
        RetryPolicy(retry_on=frozenset({FailureKind.START_FAILED}))
