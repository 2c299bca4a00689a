"""The sidecar's REST API (Starlette): decode, call PredictionService, encode.

    POST /v2/language/intent  {"modelId", "document"}
    POST /v2/vision/predict   {"modelId", "sampleBase64Content"}
      -> 200 {"probabilities": [{"label", "probability"}, ...], "object": "predictresponse"}
    GET /healthz (process alive), /readyz (inference server SERVING), /metrics (Prometheus text)

Errors are mapped to HTTP statuses in one table (`STATUS_TABLE`) and answered as
{"object": "error", "status", "message", "problems": [{"field", "message"}]}.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from predictor.ranking import Ranked
from predictor.sidecar import openapi
from predictor.sidecar.bodies import IntentBody, VisionBody
from predictor.sidecar.components import Components, build_components, close_components
from predictor.sidecar.metrics import CONTENT_TYPE, Metrics, ModelSeries
from predictor.sidecar.settings import SidecarSettings
from sdk.contracts.errors import (
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
    TrainyardError,
    Unauthenticated,
    ValidationError,
)

STATUS_TABLE: tuple[tuple[type[TrainyardError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),  # unknown model, or another tenant's: indistinguishable on purpose
    (ValidationError, 400),
    (TemporaryError, 503),  # with Retry-After
    (PermanentError, 502),  # the platform or an archive is broken: not the caller's fault
)
JSON = "application/json"
B = TypeVar("B", bound=BaseModel)


def status_for(exc: TrainyardError) -> int:
    for kind, status in STATUS_TABLE:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(exc: TrainyardError) -> Response:
    status = status_for(exc)
    body: dict[str, object] = {"object": "error", "status": status, "message": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        body["problems"] = [{"field": p.field, "message": p.message} for p in exc.problems]
    if isinstance(exc, TemporaryError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.delay_s)))
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="trainyard"'
    return Response(json.dumps(body), status_code=status, media_type=JSON, headers=headers)


def predict_response(ranked: Ranked) -> Response:
    body = {"probabilities": [{"label": label, "probability": p} for label, p in ranked], "object": "predictresponse"}
    return Response(json.dumps(body, separators=(",", ":")), media_type=JSON)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ValidationError([Problem("body", f"is {declared} bytes; the limit is {limit}")])
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ValidationError([Problem("body", f"is over the {limit}-byte limit")])
        chunks.append(chunk)
    return b"".join(chunks)


def parse(model: type[B], raw: bytes) -> B:
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as exc:
        problems = [Problem(".".join(str(x) for x in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise ValidationError(problems) from exc


Handler = Callable[[Request, Components], Awaitable[tuple[ModelSeries, Ranked]]]


def instrumented(route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run `handler`, count the outcome, map errors through STATUS_TABLE."""

    async def endpoint(request: Request) -> Response:
        c: Components = request.app.state.components
        started = time.perf_counter()
        try:
            series, ranked = await handler(request, c)
        except TrainyardError as exc:
            response = error_response(exc)
            c.metrics.requests.labels(route, "", "", str(response.status_code)).inc()
            return response
        series.request_seconds.observe(time.perf_counter() - started)
        series.ok.inc()
        return predict_response(ranked)

    return endpoint


async def intent(request: Request, c: Components) -> tuple[ModelSeries, Ranked]:
    authorization = request.headers.get("authorization")
    claims = c.authenticator.authenticate(authorization)  # 401 before the body is even read
    body = parse(IntentBody, await read_body(request, c.settings.max_body_bytes))
    limit = c.settings.max_document_chars
    if len(body.document) > limit:
        raise ValidationError([Problem("document", f"is {len(body.document)} characters; the limit is {limit}")])
    ranked, series = await c.service.predict(kind="intent", tenant=claims.tenant, authorization=str(authorization),
                                             model_id=body.modelId, payload=body.document.encode())
    return series, ranked


async def vision(request: Request, c: Components) -> tuple[ModelSeries, Ranked]:
    authorization = request.headers.get("authorization")
    claims = c.authenticator.authenticate(authorization)
    body = parse(VisionBody, await read_body(request, c.settings.max_body_bytes))
    limit = c.settings.max_sample_bytes
    try:
        sample = base64.b64decode(body.sampleBase64Content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError([Problem("sampleBase64Content", f"is not base64: {exc}")]) from exc
    if len(sample) > limit:
        raise ValidationError([Problem("sampleBase64Content", f"decodes to {len(sample)} bytes; the limit is {limit}")])
    ranked, series = await c.service.predict(kind="vision", tenant=claims.tenant, authorization=str(authorization),
                                             model_id=body.modelId, payload=sample)
    return series, ranked


async def openapi_json(_: Request) -> Response:
    return Response(json.dumps(openapi.document()), media_type=JSON)


async def healthz(request: Request) -> Response:
    return Response('{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    c: Components = request.app.state.components
    ready = await c.inference_ready()
    status = 200 if ready else 503
    return Response(json.dumps({"status": "ready" if ready else "inference not serving"}), status_code=status,
                    media_type=JSON)


async def metrics(request: Request) -> Response:
    c: Components = request.app.state.components
    c.metrics.disk_bytes.set(c.disk.used_bytes)
    c.metrics.disk_budget_bytes.set(c.disk.budget_bytes)
    return Response(c.metrics.render(), media_type=CONTENT_TYPE)


def create_app(settings: SidecarSettings, *, metrics_: Metrics | None = None) -> Starlette:
    """The ASGI app; its clients, caches and channel are built at startup, inside the event loop."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        components = await build_components(settings, metrics=metrics_ or Metrics())
        app.state.components = components
        try:
            yield
        finally:
            await close_components(components)

    routes = [
        Route("/v2/language/intent", instrumented("intent", intent), methods=["POST"]),
        Route("/v2/vision/predict", instrumented("vision", vision), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
