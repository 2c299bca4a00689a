"""The predictor's REST API has an OpenAPI document, built from the models the code uses, and
what the endpoints really send validates against it."""

from __future__ import annotations

import json

from predictor.sidecar import openapi
from predictor.sidecar.app import create_app, error_response, predict_response
from predictor.sidecar.settings import SidecarSettings
from sdk.contracts.errors import Problem, TemporaryError, ValidationError


def test_every_operation_has_a_typed_answer_and_its_errors() -> None:
    doc = openapi.document()
    assert set(doc["paths"]) == {"/v2/language/intent", "/v2/vision/predict"}
    for item in doc["paths"].values():
        responses = item["post"]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/PredictResponse"
        }
        assert {"400", "401", "403", "404", "503"} <= set(responses)
    schemas = doc["components"]["schemas"]
    assert schemas["IntentBody"]["required"] == ["modelId", "document"]
    assert schemas["IntentBody"]["additionalProperties"] is False


def test_what_the_endpoints_send_validates_against_the_document() -> None:
    answer = json.loads(bytes(predict_response([("Billing", 0.75), ("Sales", 0.25)]).body))
    openapi.PredictResponse.model_validate(answer, strict=True)
    for exc in (ValidationError([Problem("document", "required")]), TemporaryError("loading", delay_s=2)):
        openapi.ErrorAnswer.model_validate(json.loads(bytes(error_response(exc).body)))


def test_the_sidecar_serves_it() -> None:
    app = create_app(SidecarSettings(token_secret="0123456789abcdef" * 2))
    assert "/openapi.json" in {getattr(route, "path", "") for route in app.routes}
