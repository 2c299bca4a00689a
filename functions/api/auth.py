"""Bearer tokens -> the caller (a user or service of a tenant, or a trainer acting for one
job), checked against the route table (functions.api.policy) before any handler runs.

Tokens are checked by the configured `TokenVerifier` (deps.config: HS256 in local mode, a
JWKS plus the platform's ES256 job key in production). A job token acts only while its job
is live: once the job ended (or never existed in the token's tenant) it opens nothing.

Every refusal is written to the audit trail: a role the route does not admit (403), a job
token of an ended job (403), a resource the core reports as not found (404: missing, or
another tenant's) or forbidden, and a genuine but expired token (401). A token whose
signature does not verify names nobody we can trust, so it is logged, not audited.

One route is public: GET /v1/.well-known/jwks.json, the public keys of job tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.api import policy
from functions.api.schemas import Jwks
from functions.core import audit
from functions.core.deps import Deps
from functions.domain.audit import Actor
from sdk.auth.tokens import Claims, Role, TokenExpired
from sdk.contracts.errors import Forbidden, NotFound, Unauthenticated

log = logging.getLogger("trainyard.auth")
_bearer = HTTPBearer(auto_error=False)
# A refusal names the resource the path points at (the first of these path parameters).
_RESOURCE_PARAMS = {
    "approval_id": "approval",
    "job_id": "job",
    "task_id": "task",
    "model_id": "model",
    "project_id": "project",
}


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def request_id_of(request: Request) -> str | None:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else None  # set by the app's middleware, bounded there


def claims(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Claims:
    if cred is None or cred.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    deps = deps_of(request)
    try:
        return deps.config.token_verifier().verify(cred.credentials)
    except TokenExpired as exc:  # genuine claims: the refusal goes on their tenant's record
        actor = actor_of(exc.claims, request_id=request_id_of(request))
        audit.record_refusal(deps, actor, action=_action_of(request), resource=_resource_of(request), reason=str(exc))
        raise
    except Unauthenticated as exc:
        log.warning(
            "token refused", extra={"reason": str(exc), "path": request.url.path, "request_id": request_id_of(request)}
        )
        raise


def actor_of(c: Claims, *, request_id: str | None) -> Actor:
    """A job token acts only as `job`; `job` in a user token counts for nothing."""
    roles = frozenset({Role.JOB}) if c.is_job else frozenset(r for r in c.roles if r is not Role.JOB)
    return Actor(sub=c.sub, tenant=c.tenant, roles=roles, request_id=request_id)


def authorized(request: Request, c: Annotated[Claims, Depends(claims)]) -> Iterator[Actor]:
    """The caller, if one of its roles may call this route; every refusal is audited."""
    deps = deps_of(request)
    actor = actor_of(c, request_id=request_id_of(request))
    action = _action_of(request)
    allowed = policy.roles_for(request.method, _template_of(request))
    if not actor.roles & allowed:
        held = sorted(r.value for r in actor.roles) or ["no role"]
        reason = f"{', '.join(held)} may not {action}; it takes {' or '.join(sorted(r.value for r in allowed))}"
        raise audit.denied(deps, actor, action=action, resource=_resource_of(request), reason=reason)
    if c.job is not None:
        _require_live_job(deps, actor, c.job, action=action)
    try:
        yield actor
    except (NotFound, Forbidden) as exc:
        if not getattr(exc, "audited", False):
            resource = f"{exc.kind}/{exc.ident}" if isinstance(exc, NotFound) else _resource_of(request)
            audit.record_refusal(deps, actor, action=action, resource=resource, reason=str(exc))
        raise


def _require_live_job(deps: Deps, actor: Actor, job_id: str, *, action: str) -> None:
    """A job token stops working the moment its job ends, whatever its expiry says."""
    try:
        job = deps.jobs.get_job(actor.tenant, job_id)
    except NotFound as exc:  # none in the token's tenant: another tenant's, or made up
        audit.record_refusal(deps, actor, action=action, resource=f"job/{job_id}", reason=str(exc))
        raise
    if job.state.is_terminal:
        raise audit.denied(
            deps,
            actor,
            action=action,
            resource=f"job/{job_id}",
            reason=f"job {job_id} is {job.state.value}: its token stopped working when it ended",
        )


def _template_of(request: Request) -> str:
    return str(getattr(request.scope.get("route"), "path", request.url.path))


def _action_of(request: Request) -> str:
    return f"{request.method} {_template_of(request)}"


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
TrainerCaller = Annotated[Claims, Depends(job_caller)]
Caller = Annotated[Claims, Depends(claims)]
DepsDep = Annotated[Deps, Depends(deps_of)]


keys_router = APIRouter(tags=["auth"])


@keys_router.get("/v1/.well-known/jwks.json", response_model=Jwks)
def job_token_keys(deps: DepsDep) -> JSONResponse:
    """The public keys that verify the platform's job tokens (RFC 7517); empty in local mode,
    whose HS256 secret is never published. Public: it holds nothing secret."""
    return JSONResponse(deps.config.job_tokens().public_jwks(), headers={"cache-control": "public, max-age=300"})
