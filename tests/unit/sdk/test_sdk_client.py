"""The user client against a fake platform: paths, bodies, views, errors, dataset transfers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdk.client import Client, JobView
from sdk.contracts.errors import Conflict, Forbidden, NotFound, TemporaryError, Unauthenticated, ValidationError
from sdk.contracts.specs import ProjectPatch, ProjectSpec, TaskSpec
from tests.unit.sdk.sdk_fake_platform import JOB, PROJECT, S3_HOST, SPEC, T0, TASK, FakePlatform


@pytest.fixture
def client(platform: FakePlatform, sleeps: list[float]) -> Client:
    return Client("http://platform.test/", "user-token", transport=platform.transport, sleep=sleeps.append)


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def test_create_project_posts_the_spec_with_bearer_auth(client: Client, platform: FakePlatform) -> None:
    platform.json("POST", "/v1/projects", PROJECT, status=201)
    project = client.create_project(ProjectSpec(name="intents", purpose="demo", datasets=["reviews"]))
    (request,) = platform.sent("POST", "/v1/projects")
    assert request.headers["authorization"] == "Bearer user-token"
    assert _body(request) == {"name": "intents", "purpose": "demo", "datasets": ["reviews"]}
    assert project.project_id == "p-1"
    assert project.datasets == ["reviews"]


def test_update_sends_only_the_changed_fields(client: Client, platform: FakePlatform) -> None:
    platform.json("PATCH", "/v1/projects/p-1", PROJECT)
    client.update_project("p-1", ProjectPatch(ttl_days=30))
    assert _body(platform.sent("PATCH", "/v1/projects/p-1")[0]) == {"ttl_days": 30}


def test_list_and_delete_projects(client: Client, platform: FakePlatform) -> None:
    platform.json("GET", "/v1/projects", {"items": [PROJECT, {**PROJECT, "project_id": "p-2"}]})
    platform.json("DELETE", "/v1/projects/p-2", {**PROJECT, "project_id": "p-2", "active": False})
    assert [p.project_id for p in client.list_projects()] == ["p-1", "p-2"]
    assert client.delete_project("p-2").active is False


def test_create_task_returns_task_and_first_job(client: Client, platform: FakePlatform) -> None:
    platform.json("POST", "/v1/projects/p-1/tasks", {"task": TASK, "job": {**JOB, "state": "QUEUED"}}, status=201)
    created = client.create_task("p-1", TaskSpec.model_validate(SPEC))
    assert _body(platform.sent("POST", "/v1/projects/p-1/tasks")[0]) == SPEC
    assert created.task.spec.hyperparameters == {"lr": 0.001}
    assert created.job.state == "QUEUED"


def test_job_views_keep_unknown_server_fields(client: Client, platform: FakePlatform) -> None:
    platform.json("GET", "/v1/jobs/j-1", JOB)
    job = client.get_job("j-1")
    assert job.total_epochs == 5
    assert not job.is_terminal
    assert job.model_dump(mode="json")["version"] == 3  # --json prints what the server said


@pytest.mark.parametrize(
    ("call", "method", "path", "reply"),
    [
        (lambda c: c.list_tasks("p-1"), "GET", "/v1/projects/p-1/tasks", {"items": [TASK]}),
        (lambda c: c.get_task("t-1"), "GET", "/v1/tasks/t-1", TASK),
        (lambda c: c.list_jobs("t-1"), "GET", "/v1/tasks/t-1/jobs", {"items": [JOB]}),
        (lambda c: c.cancel_job("j-1"), "POST", "/v1/jobs/j-1/cancel", {**JOB, "state": "CANCELLED"}),
        (lambda c: c.epochs("j-1"), "GET", "/v1/jobs/j-1/epochs",
         {"items": [{"epoch": 1, "metrics": {"loss": 0.5}, "reported_at": T0}]}),
        (lambda c: c.checkpoints("j-1"), "GET", "/v1/jobs/j-1/checkpoints",
         {"items": [{"epoch": 1, "key": "k", "metrics": {}, "size_bytes": 3, "sha256": "ab", "reported_at": T0}]}),
        (lambda c: c.comparison("p-1"), "GET", "/v1/projects/p-1/comparison",
         {"metrics": ["loss"], "tasks": [{"task_id": "t-1", "name": "lr-3", "state": "SUCCEEDED", "attempts": 1,
                                          "best": {"loss": 0.1}, "last": {"loss": 0.2},
                                          "series": {"loss": [[1, 0.3], [2, 0.2]]}}]}),
    ],
)  # fmt: skip
def test_each_endpoint_hits_its_path(client: Client, platform: FakePlatform, call: Any, method: str, path: str,
                                     reply: Any) -> None:  # fmt: skip
    platform.json(method, path, reply)
    result = call(client)
    assert len(platform.sent(method, path)) == 1
    assert result  # parsed into a non-empty view or list


def test_logs_are_plain_text(client: Client, platform: FakePlatform) -> None:
    platform.on("GET", "/v1/jobs/j-1/logs", httpx.Response(200, text="epoch 1\nepoch 2\n"))
    assert client.logs("j-1") == "epoch 1\nepoch 2\n"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(404, NotFound), (409, Conflict), (401, Unauthenticated), (403, Forbidden), (400, ValidationError),
     (422, ValidationError)],
)  # fmt: skip
def test_error_responses_map_to_sdk_errors(client: Client, platform: FakePlatform, status: int, kind: type) -> None:
    body = {"error": {"code": "x", "message": "job 'j-9' says no", "problems": [{"field": "f", "message": "m"}]}}
    platform.json("GET", "/v1/jobs/j-9", body, status=status)
    with pytest.raises(kind):
        client.get_job("j-9")


def test_reads_retry_but_writes_do_not(client: Client, platform: FakePlatform, sleeps: list[float]) -> None:
    platform.on("GET", "/v1/jobs/j-1", httpx.Response(503), httpx.Response(200, json=JOB))
    assert isinstance(client.get_job("j-1"), JobView)
    platform.on("POST", "/v1/jobs/j-1/cancel", httpx.Response(503), httpx.Response(200, json=JOB))
    with pytest.raises(TemporaryError):
        client.cancel_job("j-1")
    assert len(platform.sent("POST", "/v1/jobs/j-1/cancel")) == 1
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 0.75  # exponential, plus up to Backoff.jitter_s (0.25 s) at random


def _grant(op: str, key: str) -> dict[str, Any]:
    return {"name": "reviews", "url": f"http://{S3_HOST}/{key}?X-Amz-Signature=s",
            "method": "PUT" if op == "upload" else "GET", "expires_in": 600}  # fmt: skip


def test_upload_dataset_streams_the_file_to_the_presigned_url(
    client: Client, platform: FakePlatform, tmp_path: Path
) -> None:
    platform.json("POST", "/v1/projects/p-1/datasets", _grant("upload", "datasets/p-1/reviews"))
    source = tmp_path / "reviews.jsonl"
    source.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    moved: list[int] = []
    assert client.upload_dataset("p-1", "reviews", source, progress=moved.append) == source.stat().st_size
    assert _body(platform.sent("POST", "/v1/projects/p-1/datasets")[0]) == {"name": "reviews", "op": "upload"}
    assert platform.objects["datasets/p-1/reviews"] == source.read_bytes()
    assert sum(moved) == source.stat().st_size and len(moved) == 4
    put = next(r for r in platform.requests if r.url.host == S3_HOST)
    assert "authorization" not in put.headers


def test_download_dataset_writes_the_bytes(client: Client, platform: FakePlatform, tmp_path: Path) -> None:
    platform.objects["datasets/p-1/reviews"] = b"hello"
    platform.json("POST", "/v1/projects/p-1/datasets", _grant("download", "datasets/p-1/reviews"))
    moved: list[int] = []
    dest = client.download_dataset("p-1", "reviews", tmp_path / "out" / "reviews.jsonl", progress=moved.append)
    assert dest.read_bytes() == b"hello"
    assert sum(moved) == 5
    assert _body(platform.sent("POST", "/v1/projects/p-1/datasets")[0]) == {"name": "reviews", "op": "download"}


def test_failed_download_leaves_no_partial_file(client: Client, platform: FakePlatform, tmp_path: Path) -> None:
    platform.json("POST", "/v1/projects/p-1/datasets", _grant("download", "datasets/p-1/missing"))
    with pytest.raises(NotFound):
        client.download_dataset("p-1", "missing", tmp_path / "missing.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_upload_sends_the_headers_the_url_was_signed_with(
    client: Client, platform: FakePlatform, tmp_path: Path
) -> None:
    grant = {**_grant("upload", "datasets/p-1/reviews"), "headers": {"Content-Type": "application/jsonl"}}
    platform.json("POST", "/v1/projects/p-1/datasets", grant)
    source = tmp_path / "reviews.jsonl"
    source.write_bytes(b"{}\n")
    client.upload_dataset("p-1", "reviews", source)
    put = next(r for r in platform.requests if r.url.host == S3_HOST)
    assert put.headers["content-type"] == "application/jsonl"
    assert put.headers["content-length"] == "3"
