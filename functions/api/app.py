"""The platform's HTTP API (FastAPI; OpenAPI at /openapi.json)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.api import approvals, audit, errors, ingress, jobs, models, projects
from functions.api.auth import CHECKED, keys_router
from functions.api.schemas import Health
from functions.core.deps import Deps
from functions.ui.api import asgi_clients
from functions.ui.app import UiOptions, create_ui

log = logging.getLogger("trainyard.api")
# A caller's X-Request-ID ends up in audit records and logs: only a short, plain token is kept;
# anything else (long, control characters, JSON or log look-alikes) is replaced by our own id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def request_id(given: str | None) -> str:
    """The caller's X-Request-ID when it is a plain token of at most 64 characters, else a new one."""
    return given if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class RequestIds:
    """Names each request (X-Request-ID, kept in request.state for the audit records), answers
    with the name, and logs one line per request. Plain ASGI: Starlette's BaseHTTPMiddleware
    costs a task and a stream per request, a measurable share of a fast call's time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), None)
        rid = request_id(given)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def named(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, named)
        finally:
            log.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def create_app(deps: Deps, *, ui: UiOptions | None = None) -> FastAPI:
    """The API, and the web UI at /ui/ (which calls this same API in-process, with the
    signed-in person's token, through the public routes only)."""
    app = FastAPI(
        title="trainyard",
        version="0.1.0",
        description="Training & experimentation platform: projects, tasks, jobs, data, grants, audit, events.",
    )
    app.state.deps = deps
    errors.install(app)
    for router in (projects.router, jobs.router, models.router, ingress.router, approvals.router, audit.router):
        # every /v1 route passes the role table, and answers errors as errors.ErrorBody
        app.include_router(router, dependencies=[CHECKED], responses=errors.RESPONSES)
    app.include_router(keys_router)  # but the public keys of job tokens, which anyone may read
    app.mount("/ui", create_ui(asgi_clients(app), ui or UiOptions()))

    @app.get("/healthz", tags=["health"])
    def healthz() -> Health:
        return Health(status="ok")

    app.add_middleware(RequestIds)
    return app
