"""The platform's HTTP API (FastAPI; OpenAPI at /openapi.json)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

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

    @app.middleware("http")
    async def request_ids(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request_id(request.headers.get("x-request-id"))
        request.state.request_id = rid  # audit records name it
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["x-request-id"] = rid
        log.info(
            "request",
            extra={
                "request_id": rid,
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response

    return app
