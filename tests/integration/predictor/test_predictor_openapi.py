"""Real answers of the sidecar validate against its OpenAPI document (GET /openapi.json): the
tenant route, the Open Inference Protocol routes, health, and both error bodies."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from tests.integration.predictor.stack import Published, Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model(stack: Stack, intent_checkpoint: bytes) -> Published:
    return stack.platform.publish("acme", intent_checkpoint)


def _schema(doc: dict[str, Any], path: str, method: str, status: int) -> jsonschema.Draft202012Validator:
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def test_real_answers_validate_against_the_served_document(stack: Stack, model: Published) -> None:
    doc = httpx.get(stack.url + "/openapi.json", timeout=10).json()
    auth = stack.headers("acme")
    name = model.model_id
    infer = {"inputs": [{"name": "document", "datatype": "BYTES", "shape": [1], "data": ["reset my password"]}]}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("post", "/v2/language/intent", {"json": {"modelId": name, "document": "reset my password"}, "headers": auth}),
        ("post", "/v2/language/intent", {"json": {"modelId": name, "document": "x"}}),  # 401
        ("post", "/v2/language/intent", {"json": {"modelId": name}, "headers": auth}),  # 400
        ("post", "/v2/language/intent", {"json": {"modelId": "nope", "document": "x"}, "headers": auth}),  # 404
        ("get", "/healthz", {}),
        ("get", "/readyz", {}),
        ("get", "/v2", {}),
        ("get", "/v2/health/live", {}),
        ("get", "/v2/health/ready", {}),
        ("get", "/v2/models/{name}", {"headers": auth}),
        ("get", "/v2/models/{name}/ready", {"headers": auth}),
        ("post", "/v2/models/{name}/infer", {"json": infer, "headers": auth}),
        ("post", "/v2/models/{name}/infer", {"json": {"inputs": 3}, "headers": auth}),  # 400
        ("get", "/v2/models/{name}", {}),  # 401
    ]
    seen = set()
    for method, path, kw in calls:
        response = httpx.request(method.upper(), stack.url + path.replace("{name}", name), timeout=30, **kw)
        errors = [e.message for e in _schema(doc, path, method, response.status_code).iter_errors(response.json())]
        assert errors == [], (method, path, response.status_code, errors)
        seen.add(response.status_code)
    assert seen == {200, 400, 401, 404}
