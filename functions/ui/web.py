"""What every page shares: options, the per-request context (the caller's API client, who
they are, their CSRF token), rendering, and how an API refusal becomes a page."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from functions.ui.api import Api, ApiError, ClientFactory, dumps
from functions.ui.session import Me, clear_session, csrf_for, csrf_ok, same_origin, token_of

HERE = Path(__file__).resolve().parent
STATE_COLOURS = {
    "QUEUED": "grey",
    "LAUNCHING": "blue",
    "RUNNING": "blue",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "orange",
    "CANCELLED": "grey",
}


@dataclass(frozen=True)
class UiOptions:
    """How the platform mounts the UI. `dev_code` and `dev_tokens` exist only in local mode:
    the secret of the printed one-click login link, and the local people it signs in."""

    predictor_url: str | None = None
    dev_code: str | None = None
    dev_tokens: Mapping[str, str] = field(default_factory=dict)
    secure_cookie: bool = False
    predictor_verify: Any = True  # an ssl.SSLContext when the predictor speaks TLS


@dataclass
class Ctx:
    api: Api
    me: Me
    token: str
    csrf: str


class Ui:
    def __init__(self, clients: ClientFactory, options: UiOptions) -> None:
        self.clients = clients
        self.options = options
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["tojson_script"] = dumps
        self.env.filters["colour"] = lambda state: STATE_COLOURS.get(str(state), "grey")
        self.env.filters["num"] = _num

    def render(
        self, request: Request, name: str, ctx: Ctx | None = None, *, status: int = 200, **values: Any
    ) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")
        html = self.env.get_template(name).render(
            base=base, me=ctx.me if ctx else None, csrf=ctx.csrf if ctx else "", path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def refusal(self, request: Request, ctx: Ctx, exc: ApiError) -> Response:
        """The API's words (status, message, field problems) on a page, never a blank one."""
        if exc.status == 401:
            response = RedirectResponse(f"{_base(request)}/login?expired=1", status_code=303)
            clear_session(response, path=_cookie_path(request))
            return response
        if wants_json(request):
            return JSONResponse(
                {"error": {"code": exc.code, "message": exc.message, "problems": exc.problems}}, status_code=exc.status
            )
        if request.headers.get("hx-request"):  # a fragment in place, so htmx swaps it in
            return self.render(request, "_error.html", ctx, error=exc)
        return self.render(request, "error.html", ctx, status=exc.status, error=exc)


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Handler = Callable[[Request, Ctx], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page or action of a signed-in caller: its token from the session cookie, CSRF and
    origin checked on every POST, API refusals turned into pages."""

    async def run(request: Request) -> Response:
        ui: Ui = request.app.state.ui
        token = token_of(request)
        if token is None:
            if request.method == "GET" and not wants_json(request):
                return RedirectResponse(f"{_base(request)}/login?next={quote(request.url.path)}", status_code=303)
            return JSONResponse(
                {"error": {"code": "unauthenticated", "message": "sign in first", "problems": []}}, status_code=401
            )
        if request.method == "POST" and not (same_origin(request) and await csrf_ok(request, token)):
            return JSONResponse(
                {
                    "error": {
                        "code": "forbidden",
                        "message": "missing or wrong CSRF token, or another origin",
                        "problems": [],
                    }
                },
                status_code=403,
            )
        ctx = Ctx(api=Api(ui.clients(token)), me=Me.of(token), token=token, csrf=csrf_for(token))
        try:
            return await handler(request, ctx)
        except ApiError as exc:
            return ui.refusal(request, ctx, exc)
        except httpx.HTTPError as exc:  # the predictor (or a pre-signed URL) did not answer
            return ui.refusal(request, ctx, ApiError(502, "unavailable", f"{type(exc).__name__}: {exc}"))
        finally:
            await ctx.api.close()

    return run


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def ident(request: Request, name: str) -> str:
    """A path id as the API knows ids; anything else (`..`, odd characters) is not found."""
    value = str(request.path_params[name])
    if not _ID.fullmatch(value):
        raise ApiError(404, "not_found", f"{name.removesuffix('_id')} {value[:64]!r} not found")
    return value


def wants_json(request: Request) -> bool:
    return request.url.path.rstrip("/").endswith(".json")


def redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}{path}", status_code=303)


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _cookie_path(request: Request) -> str:
    return _base(request) or "/"


def field_of(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)
