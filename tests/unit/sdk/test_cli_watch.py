"""`jobs watch` and `tasks watch`: following a job, and a task across its attempts."""

from __future__ import annotations

import httpx

from tests.unit.sdk.cli_harness import Harness
from tests.unit.sdk.sdk_fake_platform import JOB, T0


def _job_state(state: str, **extra: object) -> httpx.Response:
    return httpx.Response(200, json={**JOB, "state": state, **extra})


def _epochs(n: int) -> httpx.Response:
    items = [{"epoch": e, "metrics": {"loss": 1 / e}, "reported_at": T0} for e in range(1, n + 1)]
    return httpx.Response(200, json={"items": items})


def test_watch_follows_until_terminal(cli: Harness) -> None:
    cli.platform.on("GET", "/v1/jobs/j-1", _job_state("LAUNCHING", metadata={}), _job_state("RUNNING"),
                    _job_state("SUCCEEDED", final_metrics={"loss": 0.2}))  # fmt: skip
    cli.platform.on("GET", "/v1/jobs/j-1/epochs", _epochs(0), _epochs(2), _epochs(5))
    result = cli("jobs", "watch", "j-1", "--interval", "0.5")
    assert result.exit_code == 0, result.output
    assert cli.sleeps == [0.5, 0.5]
    assert "5/5" in result.stdout
    assert "SUCCEEDED" in result.stdout and "loss=0.2" in result.stdout


def test_watch_exits_1_when_the_job_fails(cli: Harness) -> None:
    cli.platform.on("GET", "/v1/jobs/j-1", _job_state("FAILED", reason="no epoch report within 60s"))
    cli.platform.on("GET", "/v1/jobs/j-1/epochs", _epochs(1))
    result = cli("jobs", "watch", "j-1")
    assert result.exit_code == 1
    assert "no epoch report within 60s" in result.stderr
    assert cli.sleeps == []


def _attempt(n: int, state: str, **extra: object) -> dict[str, object]:
    return {**JOB, "job_id": f"t-1.{n}", "attempt": n, "state": state, **extra}


def test_tasks_watch_follows_a_retry_to_the_attempt_that_succeeds(cli: Harness) -> None:
    failed = _attempt(1, "FAILED", reason="trainer exited with code 3", cleaned_up=True)
    cli.platform.on(
        "GET",
        "/v1/tasks/t-1/jobs",
        httpx.Response(200, json={"items": [_attempt(1, "RUNNING")]}),
        httpx.Response(200, json={"items": [failed, _attempt(2, "QUEUED")]}),  # after attempt 1 ended
        httpx.Response(200, json={"items": [failed, _attempt(2, "QUEUED")]}),
        httpx.Response(200, json={"items": [failed, _attempt(2, "SUCCEEDED", cleaned_up=True)]}),
    )
    cli.platform.on("GET", "/v1/jobs/t-1.1", httpx.Response(200, json=failed))
    cli.platform.on("GET", "/v1/jobs/t-1.1/epochs", _epochs(1))
    cli.platform.on(
        "GET",
        "/v1/jobs/t-1.2",
        httpx.Response(200, json=_attempt(2, "RUNNING")),
        httpx.Response(200, json=_attempt(2, "SUCCEEDED", cleaned_up=True, final_metrics={"loss": 0.1})),
    )
    cli.platform.on("GET", "/v1/jobs/t-1.2/epochs", _epochs(2), _epochs(5))

    result = cli("tasks", "watch", "t-1", "--interval", "0.5")

    assert result.exit_code == 0, result.output
    assert "attempt 1 ended FAILED: trainer exited with code 3; attempt 2 follows" in result.stdout
    assert "task t-1: attempt 2 SUCCEEDED loss=0.1" in result.stdout


def test_tasks_watch_waits_for_cleanup_then_exits_1_when_no_attempt_follows(cli: Harness) -> None:
    ended = _attempt(1, "FAILED", reason="the command could not start (exit code 2)")
    cli.platform.on("GET", "/v1/tasks/t-1/jobs", httpx.Response(200, json={"items": [ended]}))
    cli.platform.on(
        "GET",
        "/v1/jobs/t-1.1",
        httpx.Response(200, json=ended),
        httpx.Response(200, json={**ended, "cleaned_up": True}),
    )

    result = cli("tasks", "watch", "t-1")

    assert result.exit_code == 1
    assert "task t-1 ended FAILED after 1 attempt(s): the command could not start" in result.stderr
    assert cli.sleeps == [2.0, 2.0]
