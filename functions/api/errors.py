"""The one table mapping our errors to HTTP status codes, and the JSON error body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sdk.contracts import errors

STATUS: list[tuple[type[errors.TrainyardError], int, str]] = [
    (errors.NotFound, 404, "not_found"),
    (errors.AlreadyProcessed, 409, "already_processed"),
    (errors.CapacityExhausted, 409, "capacity_exhausted"),
    (errors.Conflict, 409, "conflict"),
    (errors.InvalidTransition, 409, "invalid_transition"),
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.ValidationError, 400, "invalid"),
    (errors.TemporaryError, 503, "unavailable"),
    (errors.PermanentError, 422, "unprocessable"),
]


def body(code: str, message: str, problems: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "problems": problems or []}}


def _to_response(exc: errors.TrainyardError) -> JSONResponse:
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            problems = [{"field": p.field, "message": p.message} for p in exc.problems] \
                if isinstance(exc, errors.ValidationError) else None
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
