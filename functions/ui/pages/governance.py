"""Data grants (approvers and admins decide; everyone sees what the API lets them) and the
audit trail (admins: the tenant's; others: their own actions)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from functions.ui.api import ApiError
from functions.ui.pages.projects import ui_of
from functions.ui.web import Ctx, field_of, ident, page, redirect

VERBS = ("approve", "deny", "revoke")
STATES = ("", "current", "requested", "active", "denied", "revoked", "expired")


@page
async def approvals(request: Request, ctx: Ctx) -> Response:
    state = request.query_params.get("state", "")
    grants = await ctx.api.items("/v1/approvals", state=state, dataset=request.query_params.get("dataset", ""))
    return ui_of(request).render(request, "approvals.html", ctx, grants=grants, state=state, states=STATES)


@page
async def decide(request: Request, ctx: Ctx) -> Response:
    aid = ident(request, "approval_id")
    verb = request.path_params["verb"]
    if verb not in VERBS:
        raise ApiError(404, "not_found", f"no action {verb!r} on grants")
    form = await request.form()
    await ctx.api.post(f"/v1/approvals/{aid}/{verb}", {"reason": field_of(form, "reason")})
    return redirect(request, "/approvals")


@page
async def audit(request: Request, ctx: Ctx) -> Response:
    q = request.query_params
    try:
        limit = min(1000, max(1, int(q.get("limit", "200"))))
    except ValueError:
        limit = 200
    records = await ctx.api.items("/v1/audit", resource=q.get("resource", ""), actor=q.get("actor", ""), limit=limit)
    return ui_of(request).render(
        request,
        "audit.html",
        ctx,
        records=records,
        resource=q.get("resource", ""),
        actor=q.get("actor", ""),
        limit=limit,
    )


routes = [
    Route("/approvals", approvals, methods=["GET"]),
    Route("/approvals/{approval_id}/{verb}", decide, methods=["POST"]),
    Route("/audit", audit, methods=["GET"]),
]
