"""The OpenAPI document tells the truth about errors: FastAPI's unused 422 is gone, and every /v1
operation declares the error envelope the API really answers (400, 401, 403, 404, 409)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from tests.support.harness import harness

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
