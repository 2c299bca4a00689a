"""The sidecar's OpenAPI 3.1 document, served at GET /openapi.json: the tenant routes
(POST /v2/language/intent, /v2/vision/predict), the Open Inference Protocol (V2) REST routes,
health and metrics.

The sidecar is plain Starlette (the hot path stays free of FastAPI's per-request work), so the
document is written here, once, from pydantic models of each body; the request models are the
very ones the routes parse with. tests/unit/predictor/test_sidecar_openapi.py checks it names
every route the app serves, and the integration tests validate real answers against it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from predictor.sidecar.oip import SERVER_VERSION

__all__ = ["MAX_MODEL_ID", "IntentBody", "VisionBody", "document"]
MAX_MODEL_ID = 256


class IntentBody(BaseModel):
    """POST /v2/language/intent: a document to classify with one of the tenant's models."""

    model_config = ConfigDict(extra="forbid", strict=True)
    modelId: str = Field(min_length=1, max_length=MAX_MODEL_ID)
    document: str


class VisionBody(BaseModel):
    """POST /v2/vision/predict: an image (PNG, base64) for one of the tenant's vision models."""

    model_config = ConfigDict(extra="forbid", strict=True)
    modelId: str = Field(min_length=1, max_length=MAX_MODEL_ID)
    sampleBase64Content: str = Field(min_length=1)


class LabelProbability(BaseModel):
    label: str
    probability: float


class PredictResponse(BaseModel):
    """The model's labels, most probable first."""

    probabilities: list[LabelProbability]
    object: Literal["predictresponse"]


class Problem(BaseModel):
    field: str
    message: str


class PredictError(BaseModel):
    """Every error of the tenant routes (and /metrics)."""

    object: Literal["error"]
    status: int
    message: str
    problems: list[Problem] = Field(default_factory=list, description="a 400's problems, each naming its field")


class OipError(BaseModel):
    """Every error of the Open Inference Protocol routes (the protocol's body)."""

    error: str
    problems: list[Problem] = Field(default_factory=list, description="a 400's problems, each naming its field")


class Status(BaseModel):
    status: str = Field(description='"ok" (/healthz); "ready" or why not (/readyz)')


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReady(BaseModel):
    name: str
    ready: bool


class TensorParameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data_size: int | None = Field(default=None, ge=0, description="bytes of this tensor after the JSON header")


class InferInputTensor(BaseModel):
    name: str = Field(description='"document" (intent: UTF-8 texts) or "sample" (vision: PNG bytes)')
    datatype: str = Field(description="BYTES")
    shape: list[int]
    data: list[Any] | None = Field(default=None, description="the elements as JSON strings, unless binary")
    parameters: TensorParameters | None = None


class RequestedOutput(BaseModel):
    name: Literal["probabilities", "labels"]
    parameters: dict[str, Any] | None = Field(default=None, description='{"binary_data": true} to get it as bytes')


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferInputTensor]
    outputs: list[RequestedOutput] | None = Field(default=None, description="default: both")
    parameters: dict[str, Any] | None = Field(default=None, description='{"binary_data_output": true}')


class InferOutputTensor(BaseModel):
    name: Literal["probabilities", "labels"]
    datatype: Literal["FP32", "BYTES"]
    shape: list[int]
    data: list[Any] | None = None
    parameters: TensorParameters | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferOutputTensor]


_MODELS: tuple[type[BaseModel], ...] = (
    IntentBody,
    VisionBody,
    PredictResponse,
    PredictError,
    OipError,
    Status,
    ServerMetadata,
    Live,
    Ready,
    ModelMetadata,
    ModelReady,
    InferRequest,
    InferResponse,
)
_REF = "#/components/schemas/{model}"
_SELF = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {"openapi": {"type": "string"}, "info": {"type": "object"}, "paths": {"type": "object"}},
}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_TENANT_ERRORS = {
    400: "Invalid input: every problem, each naming its field",
    401: "No bearer token, or one that does not verify",
    403: "The token may not predict",
    404: "No such model, or another tenant's (never said which)",
    502: "The platform or the model's archive is broken",
    503: "Not ready yet (a model loading, the inference server busy): retry after Retry-After seconds",
}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


def _operation(
    summary: str,
    ok: type[BaseModel] | None,
    error: type[BaseModel] | None,
    *,
    body: type[BaseModel] | None = None,
    secured: bool = True,
    ok_description: str = "OK",
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {}}
    if ok is not None:
        op["responses"]["200"] = _json(ok, ok_description)
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body, body.__doc__ or "")}
        del op["requestBody"]["description"]
    if error is not None:
        codes = _TENANT_ERRORS if secured else {503: _TENANT_ERRORS[503]}
        op["responses"].update({str(code): _json(error, about) for code, about in codes.items()})
        if secured:
            op["security"] = _BEARER
    return op


def _infer() -> dict[str, Any]:
    op = _operation("Inference (Open Inference Protocol V2)", InferResponse, OipError, body=InferRequest)
    binary = {
        "description": "The JSON header (Inference-Header-Content-Length bytes), then the binary tensors",
        "schema": {"type": "string", "format": "binary"},
    }
    op["requestBody"]["content"]["application/octet-stream"] = binary
    op["responses"]["200"]["content"]["application/octet-stream"] = binary
    return op


def _metrics() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string", "description": "Prometheus exposition format"}}}
    return {
        "summary": "Prometheus metrics (a bearer credential when the metrics token is set)",
        "responses": {
            "200": {"description": "The metrics", "content": text},
            "401": _json(PredictError, "The metrics token is set and was not given"),
        },
    }


def _paths() -> dict[str, dict[str, Any]]:
    name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/v2/language/intent": {
            "post": _operation("Classify a document", PredictResponse, PredictError, body=IntentBody)
        },
        "/v2/vision/predict": {"post": _operation("Classify an image", PredictResponse, PredictError, body=VisionBody)},
        "/healthz": {"get": _operation("The process is alive", Status, None, secured=False)},
        "/readyz": {"get": _operation("The inference server is serving", Status, Status, secured=False)},
        "/metrics": {"get": _metrics()},
        "/v2": {"get": _operation("Server metadata", ServerMetadata, OipError, secured=False)},
        "/v2/health/live": {"get": _operation("Liveness", Live, OipError, secured=False)},
        "/v2/health/ready": {"get": _operation("Readiness", Ready, Ready, secured=False)},
        "/v2/models/{name}": {"get": {**_operation("Model metadata", ModelMetadata, OipError), "parameters": name}},
        "/v2/models/{name}/ready": {"get": {**_operation("Model readiness", ModelReady, OipError), "parameters": name}},
        "/v2/models/{name}/infer": {"post": {**_infer(), "parameters": name}},
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": _SELF}}}
                },
            }
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the sidecar's REST API (pure: the same every call)."""
    _, schemas = models_json_schema([(m, "serialization") for m in _MODELS], ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trainyard predictor",
            "version": SERVER_VERSION,
            "description": "Real-time multitenant prediction: the tenant routes and the Open Inference Protocol (V2).",
        },
        "paths": _paths(),
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
