"""Bearer tokens -> the caller (a user or service of a tenant, or a trainer acting for one
job), checked against the route table (functions.api.policy) before any handler runs.

Every refusal is written to the audit trail: a role the route does not admit (403), and a
resource the core reports as not found (404: missing, or another tenant's) or forbidden.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.api import policy
from functions.core import audit
from functions.core.deps import Deps
from functions.domain.audit import Actor
from sdk.contracts import tokens
from sdk.contracts.tokens import Claims, Role
from sdk.errors import Forbidden, NotFound, Unauthenticated

_bearer = HTTPBearer(auto_error=False)
# A refusal names the resource the path points at (the first of these path parameters).
_RESOURCE_PARAMS = {"approval_id": "approval", "job_id": "job", "task_id": "task", "model_id": "model",
                    "project_id": "project"}


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def request_id_of(request: Request) -> str | None:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else request.headers.get("x-request-id")


def claims(request: Request,
           cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Claims:
    if cred is None or cred.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    return tokens.verify(cred.credentials, secret=deps_of(request).config.token_secret)


def actor_of(c: Claims, *, request_id: str | None) -> Actor:
    """A job token acts only as `job`; `job` in a user token counts for nothing."""
    roles = frozenset({Role.JOB}) if c.is_job else frozenset(r for r in c.roles if r is not Role.JOB)
    return Actor(sub=c.sub, tenant=c.tenant, roles=roles, request_id=request_id)


def authorized(request: Request, c: Annotated[Claims, Depends(claims)]) -> Iterator[Actor]:
    """The caller, if one of its roles may call this route; every refusal is audited."""
    deps = deps_of(request)
    actor = actor_of(c, request_id=request_id_of(request))
    template = getattr(request.scope.get("route"), "path", request.url.path)
    action = f"{request.method} {template}"
    allowed = policy.roles_for(request.method, template)
    if not actor.roles & allowed:
        held = sorted(r.value for r in actor.roles) or ["no role"]
        reason = f"{', '.join(held)} may not {action}; it takes {' or '.join(sorted(r.value for r in allowed))}"
        raise audit.denied(deps, actor, action=action, resource=_resource_of(request), reason=reason)
    try:
        yield actor
    except (NotFound, Forbidden) as exc:
        if not getattr(exc, "audited", False):
            resource = f"{exc.kind}/{exc.ident}" if isinstance(exc, NotFound) else _resource_of(request)
            audit.record_refusal(deps, actor, action=action, resource=resource, reason=str(exc))
        raise


def _resource_of(request: Request) -> str:
    for param, kind in _RESOURCE_PARAMS.items():
        if param in request.path_params:
            return f"{kind}/{request.path_params[param]}"
    return f"route/{request.method} {request.url.path}"


def user(c: Annotated[Claims, Depends(claims)]) -> Claims:
    if c.is_job:
        raise Forbidden("a job token can only report for its job")
    return c


def job_caller(job_id: str, c: Annotated[Claims, Depends(claims)]) -> Claims:
    """A trainer's token for exactly this job (another job's id reads as not found)."""
    if not c.is_job:
        raise Forbidden("this endpoint is for trainers (job tokens)")
    if c.job != job_id:
        raise NotFound("job", job_id)
    return c


# Routers take CHECKED as a dependency, so no route escapes the table; handlers that need
# the caller take Authorized (the same, resolved once per request).
CHECKED = Depends(authorized, scope="function")
Authorized = Annotated[Actor, CHECKED]
User = Annotated[Claims, Depends(user)]
Trainer = Annotated[Claims, Depends(job_caller)]
Caller = Annotated[Claims, Depends(claims)]
DepsDep = Annotated[Deps, Depends(deps_of)]
