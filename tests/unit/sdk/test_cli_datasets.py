"""`trainyard datasets show|validate` and version pins on `tasks create`, against the fake platform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.sdk.sdk_fake_platform import JOB, T0, TASK, FakePlatform
from tests.unit.sdk.test_sdk_cli import Harness

VALIDATION_SPEC = {
    "name": "validate-intents",
    "kind": "validation",
    "datasets": ["intents"],
    "dataset_versions": {"intents": 1},
    "retry": {"max_retries": 0},
}
FAILED = {
    "job_id": "j-1",
    "task_id": "t-1",
    "finished_at": T0,
    "dataset": "intents",
    "version": 1,
    "validator": "intent-csv/1",
    "passed": False,
    "findings": [{"code": "empty_text", "severity": "error", "message": "the text is empty", "line": 3}],
    "checked": {"rows": 3, "errors": 1, "warnings": 0},
}
V1 = {"version": 1, "created_at": T0, "created_by": "ana@acme", "status": "failed", "validation": FAILED}
V2 = {"version": 2, "created_at": T0, "created_by": "ana@acme", "status": "unvalidated", "validation": None}
DATASET = {
    "project_id": "p-1",
    "name": "intents",
    "latest": 2,
    "latest_validated": None,
    "last_validation": V1,
    "versions": [V1, V2],
}


@pytest.fixture
def cli(platform: FakePlatform, tmp_path: Path) -> Harness:
    return Harness(platform, tmp_path)


def test_validate_waits_for_the_job_and_shows_the_findings(cli: Harness) -> None:
    created = {"task": {**TASK, "spec": VALIDATION_SPEC}, "job": {**JOB, "state": "QUEUED"}}
    cli.platform.json("POST", "/v1/projects/p-1/datasets/intents/validate", created, status=201)
    cli.platform.json("GET", "/v1/jobs/j-1", {**JOB, "state": "SUCCEEDED"})
    cli.platform.json("GET", "/v1/projects/p-1/datasets/intents", DATASET)
    result = cli("datasets", "validate", "p-1", "intents", "--version", "1")
    assert result.exit_code == 1, result.output  # the version failed: scripts can tell
    assert json.loads(cli.platform.sent("POST", "/v1/projects/p-1/datasets/intents/validate")[0].content) == {
        "version": 1
    }
    assert "FAILED" in result.stdout and "empty_text" in result.stdout and "the text is empty" in result.stdout


def test_validate_without_waiting_and_a_job_that_failed_to_run(cli: Harness) -> None:
    created = {"task": {**TASK, "spec": VALIDATION_SPEC}, "job": {**JOB, "state": "QUEUED"}}
    cli.platform.json("POST", "/v1/projects/p-1/datasets/intents/validate", created, status=201)
    result = cli("datasets", "validate", "p-1", "intents", "--no-wait")
    assert result.exit_code == 0 and "version 1" in result.stdout
    assert json.loads(cli.platform.sent("POST", "/v1/projects/p-1/datasets/intents/validate")[0].content) == {}
    cli.platform.json("GET", "/v1/jobs/j-1", {**JOB, "state": "FAILED", "reason": "cannot read the dataset"})
    result = cli("datasets", "validate", "p-1", "intents")
    assert result.exit_code == 1 and "cannot read the dataset" in result.stderr


def test_validate_without_the_grant_is_one_clear_error(cli: Harness) -> None:
    body = {"error": {"code": "forbidden", "message": "no active validate grant for project:p-1 on ['intents']"}}
    cli.platform.json("POST", "/v1/projects/p-1/datasets/intents/validate", body, status=403)
    result = cli("datasets", "validate", "p-1", "intents")
    assert result.exit_code == 1 and "validate grant" in result.stderr


def test_show_lists_versions_and_the_last_validation(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/projects/p-1/datasets/intents", DATASET)
    result = cli("datasets", "show", "p-1", "intents")
    assert result.exit_code == 0, result.output
    assert "failed" in result.stdout and "unvalidated" in result.stdout and "empty_text" in result.stdout
    assert json.loads(cli("datasets", "show", "p-1", "intents", "--json").stdout)["latest"] == 2


def test_tasks_create_pins_versions_and_requires_validation(cli: Harness) -> None:
    cli.platform.json("POST", "/v1/projects/p-1/tasks", {"task": TASK, "job": JOB}, status=201)
    result = cli(
        "tasks", "create", "p-1", "--name", "strict", "--command", "python train.py", "--dataset", "intents",
        "--dataset-version", "intents=2", "--require-validated",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(cli.platform.sent("POST", "/v1/projects/p-1/tasks")[0].content)
    assert body["dataset_versions"] == {"intents": 2} and body["require_validated"] is True
    bad = cli("tasks", "create", "p-1", "--name", "x", "--command", "x", "--dataset-version", "intents")
    assert bad.exit_code != 0 and "NAME=N" in bad.stderr
