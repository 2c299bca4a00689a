"""The one table mapping our errors to HTTP status codes, and the JSON error body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sdk.contracts import errors

STATUS: list[tuple[type[errors.TrainyardError], int, str]] = [
    (errors.NotFound, 404, "not_found"),
    (errors.AlreadyProcessed, 409, "already_processed"),
    (errors.CapacityExhausted, 409, "capacity_exhausted"),
    (errors.Conflict, 409, "conflict"),
    (errors.InvalidTransition, 409, "invalid_transition"),
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.TooLarge, 413, "too_large"),
    (errors.ValidationError, 400, "invalid"),
    (errors.TemporaryError, 503, "unavailable"),
    (errors.PermanentError, 422, "unprocessable"),
]


class ProblemBody(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str  # the STATUS table's code, e.g. "not_found", "invalid", "conflict"
    message: str
    problems: list[ProblemBody]  # every problem with the input (400), else empty


class ErrorBody(BaseModel):
    """Every error answer of the API: {"error": {"code", "message", "problems"}}."""

    error: ErrorDetail


# What any /v1 operation may answer besides its success, declared once for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid input: every problem, each naming its field"},
    401: {"model": ErrorBody, "description": "No bearer token, or one that does not verify"},
    403: {"model": ErrorBody, "description": "The caller's roles or grants do not allow this"},
    404: {"model": ErrorBody, "description": "Not found (or another tenant's: never said which)"},
    409: {"model": ErrorBody, "description": "A conflict: a concurrent change, a state that does not allow it"},
}


def body(code: str, message: str, problems: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "problems": problems or []}}


def _to_response(exc: errors.TrainyardError) -> JSONResponse:
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            problems = (
                [{"field": p.field, "message": p.message} for p in exc.problems]
                if isinstance(exc, errors.ValidationError)
                else None
            )
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            if isinstance(exc, errors.TemporaryError):
                headers = {"Retry-After": str(max(1, round(exc.delay_s)))}
            return JSONResponse(body(code, str(exc), problems), status_code=status, headers=headers)
    return JSONResponse(body("error", str(exc)), status_code=500)


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    async def on_ours(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.TrainyardError)
        return _to_response(exc)

    async def on_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(body("invalid", message, problems), status_code=400)

    app.add_exception_handler(errors.TrainyardError, on_ours)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its 422 answers: request validation answers 400 with ErrorBody."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict) and "responses" in operation:
                    operation["responses"].pop("422", None)
                    for status in RESPONSES:  # JSON even where the success is text (job logs)
                        answer = operation["responses"].get(str(status))
                        if answer is not None and "content" in answer:
                            answer["content"] = {"application/json": next(iter(answer["content"].values()))}
        schemas = doc.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
    return app.openapi_schema
