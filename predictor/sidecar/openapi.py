"""The OpenAPI document of the sidecar's REST API (served at GET /openapi.json).

Built from the same pydantic models the endpoints parse with, plus the answers' models, so the
document and the code cannot drift apart on the bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from predictor.sidecar.bodies import IntentBody, VisionBody


class LabelProbability(BaseModel):
    label: str
    probability: float = Field(ge=0, le=1)


class PredictResponse(BaseModel):
    """Every label with its probability, highest first."""

    probabilities: list[LabelProbability]
    object: Literal["predictresponse"]


class ProblemAnswer(BaseModel):
    field: str
    message: str


class ErrorAnswer(BaseModel):
    object: Literal["error"]
    status: int
    message: str
    problems: list[ProblemAnswer] | None = Field(default=None, description="400 only: each problem by field")


_ERRORS = {
    "400": "Invalid body: every problem, by field",
    "401": "No bearer token, or one that does not verify",
    "403": "The token may not use this model",
    "404": "Unknown model, or another tenant's (never said which)",
    "502": "The platform or the model archive is broken",
    "503": "Not ready yet (a cold model loading, the platform unreachable): retry after Retry-After seconds",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(summary: str, body: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "The ranking",
                                         "content": {"application/json": {"schema": _ref("PredictResponse")}}}}
    for status, text in _ERRORS.items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": _ref("ErrorAnswer")}}}
    return {"summary": summary, "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body)}}},
            "responses": responses}


def document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "validation") for m in (IntentBody, VisionBody, PredictResponse, ErrorAnswer)],
        ref_template="#/components/schemas/{model}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "trainyard predictor", "version": "0.1.0",
                 "description": "Predictions from a tenant's published models (REST sidecar)."},
        "paths": {
            "/v2/language/intent": {"post": _operation("Rank the intents of a document", "IntentBody")},
            "/v2/vision/predict": {"post": _operation("Rank the classes of an image (base64 PNG)", "VisionBody")},
        },
        "components": {"schemas": schemas.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
