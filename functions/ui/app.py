"""The web UI (server-rendered Jinja2 pages, vendored htmx + uPlot), mounted by the platform
at /ui/. It reaches the platform only through the public REST API with the caller's token
(see functions.ui.api), so it can show nothing that token may not see."""

from __future__ import annotations

import hmac

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from functions.ui.api import Api, ApiError, ClientFactory
from functions.ui.pages import governance, jobs, models, projects
from functions.ui.session import MAX_TOKEN_CHARS, Me, clear_session, csrf_ok, same_origin, set_session, token_of
from functions.ui.web import HERE, Ctx, Ui, UiOptions, page

__all__ = ["UiOptions", "create_ui"]


def _ui(request: Request) -> Ui:
    ui: Ui = request.app.state.ui
    return ui


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _signed_in(request: Request, token: str, *, to: str) -> Response:
    response = RedirectResponse(f"{_base(request)}{to}", status_code=303)
    set_session(response, token, secure=_ui(request).options.secure_cookie, path=_base(request) or "/")
    return response


def _next(request: Request, value: str) -> str:
    """Only a path inside the UI (never another site: no `//host`, no scheme)."""
    base = _base(request)
    if value.startswith(f"{base}/") and not value.startswith("//") and "\\" not in value:
        return value.removeprefix(base)
    return "/projects"


async def home(request: Request) -> Response:
    return RedirectResponse(
        f"{_base(request)}/projects" if token_of(request) else f"{_base(request)}/login", status_code=303
    )


async def login_page(request: Request) -> Response:
    return _ui(request).render(
        request,
        "login.html",
        next=request.query_params.get("next", ""),
        expired=bool(request.query_params.get("expired")),
    )


async def login(request: Request) -> Response:
    """Paste a bearer token; it is checked by one API call before it becomes the session."""
    ui = _ui(request)
    if not same_origin(request):
        return ui.render(request, "login.html", status=403, error=ApiError(403, "forbidden", "another origin"))
    form = await request.form()
    token = str(form.get("token") or "").strip()
    goto = _next(request, str(form.get("next") or ""))
    if not token or len(token) > MAX_TOKEN_CHARS:
        problem = ApiError(400, "invalid", "token: paste a bearer token", [{"field": "token", "message": "required"}])
        return ui.render(request, "login.html", status=400, error=problem, next=goto)
    api = Api(ui.clients(token))
    try:
        await api.get("/v1/audit", limit=1)  # any person's token may read (its own part of) the trail
    except ApiError as exc:
        return ui.render(request, "login.html", status=exc.status, error=exc, next=goto)
    finally:
        await api.close()
    return _signed_in(request, token, to=goto)


async def dev_login(request: Request) -> Response:
    """Local mode's one-click login: the link `trainyard up` prints carries a secret code."""
    options = _ui(request).options
    code = request.query_params.get("code", "")
    who = request.query_params.get("as", "dev")
    token = options.dev_tokens.get(who)
    if not options.dev_code or token is None or not hmac.compare_digest(code.encode(), options.dev_code.encode()):
        return _ui(request).render(
            request, "error.html", status=404, error=ApiError(404, "not_found", "no such login link")
        )
    me = Me.of(token)
    return _signed_in(request, token, to="/projects" if me.is_scientist else "/approvals")


async def logout(request: Request) -> Response:
    token = token_of(request)
    if token is not None and not (same_origin(request) and await csrf_ok(request, token)):
        return Response("missing or wrong CSRF token", status_code=403)
    response = RedirectResponse(f"{_base(request)}/login", status_code=303)
    clear_session(response, path=_base(request) or "/")
    return response


@page
async def not_found(request: Request, ctx: Ctx) -> Response:
    raise ApiError(404, "not_found", f"{request.url.path} not found")


def create_ui(clients: ClientFactory, options: UiOptions | None = None) -> Starlette:
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/login/dev", dev_login, methods=["GET"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *projects.routes,
        *jobs.routes,
        *models.routes,
        *governance.routes,
        Route("/{rest:path}", not_found, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.ui = Ui(clients, options or UiOptions())
    return app
