"""The sidecar's REST API (Starlette): decode, call PredictionService, encode.

    POST /v2/language/intent  {"modelId", "document"}
    POST /v2/vision/predict   {"modelId", "sampleBase64Content"}
      -> 200 {"probabilities": [{"label", "probability"}, ...], "object": "predictresponse"}
    GET /healthz (process alive), /readyz (inference server SERVING), /metrics (Prometheus text:
      with a bearer credential when metrics_token_file is set, else without tenant/model labels),
      /openapi.json (this API's OpenAPI 3.1 document: predictor.sidecar.openapi)
    Open Inference Protocol (V2) REST, predictor.sidecar.oip_rest: /v2/health/*, /v2/models/{name}[/ready|/infer]

Errors are mapped to HTTP statuses in one table (`STATUS_TABLE`) and answered as
{"object": "error", "status", "message", "problems": [{"field", "message"}]}.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from predictor.ranking import Ranked
from predictor.sidecar import oip_rest
from predictor.sidecar.components import Components, build_components, close_components, metrics_token
from predictor.sidecar.edge import STATUS_TABLE, check_document, error_headers, read_body, status_for
from predictor.sidecar.metrics import CONTENT_TYPE, Metrics, ModelSeries
from predictor.sidecar.oip_grpc import start_oip_grpc
from predictor.sidecar.openapi import MAX_MODEL_ID, IntentBody, VisionBody, document
from predictor.sidecar.settings import SidecarSettings
from sdk.contracts.errors import Problem, TrainyardError, Unauthenticated, ValidationError

__all__ = ["STATUS_TABLE", "create_app", "error_response", "parse", "status_for"]

JSON = "application/json"
B = TypeVar("B", bound=BaseModel)


def error_response(exc: TrainyardError) -> Response:
    status = status_for(exc)
    body: dict[str, object] = {"object": "error", "status": status, "message": str(exc)}
    if isinstance(exc, ValidationError):
        body["problems"] = [{"field": p.field, "message": p.message} for p in exc.problems]
    return Response(json.dumps(body), status_code=status, media_type=JSON, headers=error_headers(exc))


def predict_response(ranked: Ranked) -> Response:
    body = {"probabilities": [{"label": label, "probability": p} for label, p in ranked], "object": "predictresponse"}
    return Response(orjson.dumps(body), media_type=JSON)


def parse(model: type[B], raw: bytes) -> B:
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as exc:
        problems = [Problem(".".join(str(x) for x in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise ValidationError(problems) from exc


def parse_intent(raw: bytes) -> tuple[str, str]:
    """(modelId, document). The hot path is a plain orjson decode and four checks; anything else
    goes through IntentBody, so every 400 says exactly what pydantic says about the body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if type(body) is dict and len(body) == 2:
        model_id, document = body.get("modelId"), body.get("document")
        if type(model_id) is str and type(document) is str and 1 <= len(model_id) <= MAX_MODEL_ID:
            return model_id, document
    checked = parse(IntentBody, raw)
    return checked.modelId, checked.document


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
            c.metrics.refused(route, response.status_code)
            return response
        series.request_seconds.observe(time.perf_counter() - started)
        series.ok.inc()
        return predict_response(ranked)

    return endpoint


async def intent(request: Request, c: Components) -> tuple[ModelSeries, Ranked]:
    authorization = request.headers.get("authorization")
    claims = c.authenticator.authenticate(authorization)  # 401/403 before the body is even read
    model_id, text = parse_intent(await read_body(request, c.settings.max_body_bytes))
    document = check_document(text, limit=c.settings.max_document_chars)
    ranked, series = await c.service.predict(
        kind="intent",
        tenant=claims.tenant,
        authorization=str(authorization),
        model_id=model_id,
        payload=document,
        token_ttl_s=claims.exp - time.time(),
    )
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
    ranked, series = await c.service.predict(
        kind="vision",
        tenant=claims.tenant,
        authorization=str(authorization),
        model_id=body.modelId,
        payload=sample,
        token_ttl_s=claims.exp - time.time(),
    )
    return series, ranked


async def openapi(request: Request) -> Response:
    return Response(request.app.state.openapi, media_type=JSON)


async def healthz(request: Request) -> Response:
    return Response('{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    c: Components = request.app.state.components
    ready = await c.inference_ready()
    status = 200 if ready else 503
    return Response(
        json.dumps({"status": "ready" if ready else "inference not serving"}), status_code=status, media_type=JSON
    )


async def metrics(request: Request) -> Response:
    c: Components = request.app.state.components
    if c.metrics_token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {c.metrics_token}".encode()):
            return error_response(Unauthenticated("/metrics needs the metrics bearer token"))
    c.metrics.disk_bytes.set(c.disk.used_bytes)
    c.metrics.disk_budget_bytes.set(c.disk.budget_bytes)
    return Response(c.metrics.render(), media_type=CONTENT_TYPE)


def create_app(settings: SidecarSettings, *, metrics_: Metrics | None = None) -> Starlette:
    """The ASGI app; its clients, caches and channel are built at startup, inside the event loop."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        token = metrics_token(settings)
        components = await build_components(settings, metrics=metrics_ or Metrics(per_model=token is not None))
        components.metrics_token = token
        app.state.components = components
        oip = await start_oip_grpc(components) if settings.grpc_port is not None else None
        app.state.oip_grpc_port = oip.port if oip is not None else None
        try:
            yield
        finally:
            if oip is not None:
                await oip.stop()
            await close_components(components)

    routes = [
        Route("/v2/language/intent", instrumented("intent", intent), methods=["POST"]),
        Route("/v2/vision/predict", instrumented("vision", vision), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *oip_rest.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.openapi = orjson.dumps(document())  # built once: it is the same for every caller
    return app
