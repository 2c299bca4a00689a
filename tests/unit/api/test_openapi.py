"""The OpenAPI document tells the truth: FastAPI's unused 422 is gone, every /v1 operation declares
the error envelope the API really answers (400, 401, 403, 404, 409) and a typed success, and real
answers validate against the schemas declared for them."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.core import launching, reporting
from sdk.contracts import events as ev
from tests.support.harness import Harness, harness

ERRORS = {"400", "401", "403", "404", "409"}
PUBLIC = {"/healthz", "/v1/.well-known/jwks.json"}  # no caller: no 401/403


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    with TestClient(create_app(harness().deps)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


def test_no_operation_documents_422_and_its_schemas_are_gone(doc: dict[str, Any]) -> None:
    assert [(p, m) for p, m, op in operations(doc) if "422" in op["responses"]] == []
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(doc["components"]["schemas"])


def test_every_v1_operation_declares_the_error_envelope(doc: dict[str, Any]) -> None:
    missing = {
        (p, m): sorted(ERRORS - set(op["responses"]))
        for p, m, op in operations(doc)
        if p.startswith("/v1/") and p not in PUBLIC and not set(op["responses"]) >= ERRORS
    }
    assert missing == {}
    for path, method, op in operations(doc):
        for status in ERRORS & set(op["responses"]):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)


def test_the_envelope_schema_is_the_body_the_api_sends(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message", "problems"}
    with TestClient(create_app(harness().deps)) as client:
        answer = client.post("/v1/projects", json={"name": ""}, headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert set(answer.json()) == {"error"} and set(answer.json()["error"]) == {"code", "message", "problems"}


def test_the_model_resolve_answer_is_typed(doc: dict[str, Any]) -> None:
    ok = doc["paths"]["/v1/models/{model_id}/resolve"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ModelResolution"}


def test_every_operation_declares_a_typed_success(doc: dict[str, Any]) -> None:
    """Not "any object": each 2xx names a schema (a component, or text for the job logs)."""
    untyped = []
    for path, method, op in operations(doc):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        schemas = [c.get("schema", {}) for r in successes.values() for c in r.get("content", {}).values()]
        if not schemas or any(not s or s == {"type": "object"} or s == {} for s in schemas):
            untyped.append((method.upper(), path))
        for s in schemas:
            ref = s.get("$ref", "")
            if ref:
                target = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
                if not target.get("properties"):
                    untyped.append((method.upper(), path))
    assert untyped == []
    assert len(operations(doc)) >= 39


def _validator(doc: dict[str, Any], method: str, path: str, status: int) -> jsonschema.Draft202012Validator:
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def test_real_answers_validate_against_their_declared_schemas(
    doc: dict[str, Any], h: Harness, client: TestClient
) -> None:
    answers: list[tuple[str, str, httpx.Response]] = []

    def call(method: str, template: str, url: str, **kw: Any) -> httpx.Response:
        response = client.request(method.upper(), url, **kw)
        assert response.status_code < 300, response.text
        answers.append((method, template, response))
        return response

    project = call("post", "/v1/projects", "/v1/projects", json={"name": "p", "purpose": "x", "datasets": ["d"]})
    pid = project.json()["project_id"]
    created = call("post", "/v1/projects/{project_id}/tasks", f"/v1/projects/{pid}/tasks", json=_TASK).json()
    other = call("post", "/v1/projects/{project_id}/tasks", f"/v1/projects/{pid}/tasks", json=_TASK | {"args": ["2"]})
    job_id, task_id = created["job"]["job_id"], created["task"]["task_id"]
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job_id, event_type="x", event_id="r", payload=ev.JobRunning())
    reporting.report(
        h.deps,
        tenant="acme",
        job_id=job_id,
        event_type="x",
        event_id="e",
        payload=ev.EpochReport(epoch=0, metrics={"loss": 0.5}),
    )
    call("get", "/v1/projects", "/v1/projects")
    call("get", "/v1/projects/{project_id}/tasks", f"/v1/projects/{pid}/tasks")
    call("get", "/v1/projects/{project_id}/comparison", f"/v1/projects/{pid}/comparison")
    call("get", "/v1/tasks/{task_id}/diff/{other_id}", f"/v1/tasks/{task_id}/diff/{other.json()['task']['task_id']}")
    call("get", "/v1/tasks/{task_id}/jobs", f"/v1/tasks/{task_id}/jobs")
    call("get", "/v1/jobs/{job_id}", f"/v1/jobs/{job_id}")
    call("get", "/v1/jobs/{job_id}/epochs", f"/v1/jobs/{job_id}/epochs")
    call("post", "/v1/jobs/{job_id}/cancel", f"/v1/jobs/{job_id}/cancel")
    call("post", "/v1/projects/{project_id}/datasets", f"/v1/projects/{pid}/datasets", json={"name": "d"})
    grant = {"datasets": ["d"], "action": "train", "project": pid, "purpose": "x", "days": 3}
    call("post", "/v1/approvals", "/v1/approvals", json=grant)
    call("get", "/v1/approvals", "/v1/approvals")
    call("get", "/v1/audit", "/v1/audit")
    call("get", "/v1/.well-known/jwks.json", "/v1/.well-known/jwks.json")
    call("get", "/healthz", "/healthz")
    for method, template, response in answers:
        errors = list(_validator(doc, method, template, response.status_code).iter_errors(response.json()))
        assert errors == [], (method, template, [e.message for e in errors])
    assert len(answers) == 17


def test_the_declared_schemas_reject_a_body_that_breaks_them(doc: dict[str, Any]) -> None:
    """The check above can fail: a job without its id, or a list that is not one, does not validate."""
    job = _validator(doc, "get", "/v1/jobs/{job_id}", 200)
    assert not job.is_valid({"task_id": "t", "state": "QUEUED"})
    assert not _validator(doc, "get", "/v1/projects", 200).is_valid({"items": {"project_id": "p"}})


_TASK = {"name": "t", "command": ["python", "train.py"]}
