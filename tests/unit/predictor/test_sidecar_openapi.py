"""The predictor's REST API has an OpenAPI document that tells the truth: served at
/openapi.json, naming every route the sidecar serves, each with a typed success and its error
body (issue 8, point 9). Real answers are validated against it in
tests/integration/predictor/test_predictor_openapi.py."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from predictor.sidecar.app import create_app
from predictor.sidecar.openapi import document
from predictor.sidecar.settings import SidecarSettings

SECRET = "unit-test-secret-0123456789abcdefghij"
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/v2", "/v2/health/live", "/v2/health/ready"}


@pytest.fixture(scope="module")
def served() -> tuple[dict[str, Any], set[tuple[str, str]]]:
    app = create_app(SidecarSettings(token_secret=SECRET, inference_target="127.0.0.1:1"))
    routes = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}
    client = TestClient(app)  # no lifespan: the document needs no inference server
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc: dict[str, Any] = response.json()
    return doc, routes


def test_the_document_names_exactly_the_routes_the_sidecar_serves(
    served: tuple[dict[str, Any], set[tuple[str, str]]],
) -> None:
    doc, routes = served
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == routes
    assert len(routes) == 12
    jsonschema.Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})


def test_every_operation_has_a_typed_success_and_its_error_body(
    served: tuple[dict[str, Any], set[tuple[str, str]]],
) -> None:
    doc, _ = served
    schemas = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ok = op["responses"]["200"]["content"]
            for media in ok.values():
                ref = media["schema"].get("$ref")
                assert ref is None or schemas[ref.rsplit("/", 1)[-1]]["properties"], (path, method)
                assert media["schema"] != {"type": "object"}, (path, method)
            if path in PUBLIC:
                continue
            assert op["security"] == [{"bearer": []}]
            error = "OipError" if path.startswith("/v2/models/") else "PredictError"
            for status in ("400", "401", "403", "404", "503"):
                body = op["responses"][status]["content"]["application/json"]["schema"]
                assert body == {"$ref": f"#/components/schemas/{error}"}, (path, method, status)


def test_the_request_bodies_are_the_models_the_routes_parse_with() -> None:
    doc = document()
    intent = doc["paths"]["/v2/language/intent"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert intent == {"$ref": "#/components/schemas/IntentBody"}
    body = doc["components"]["schemas"]["IntentBody"]
    assert set(body["required"]) == {"modelId", "document"} and body["additionalProperties"] is False


def test_a_body_that_breaks_the_schema_does_not_validate() -> None:
    doc = document()
    predict = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/PredictResponse", "components": doc["components"]}
    )
    assert predict.is_valid({"probabilities": [{"label": "a", "probability": 0.5}], "object": "predictresponse"})
    assert not predict.is_valid({"probabilities": [{"label": "a"}], "object": "predictresponse"})
    assert not predict.is_valid({"probabilities": [], "object": "error"})
