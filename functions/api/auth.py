"""Bearer tokens -> the caller: a user of a tenant, or a trainer acting for one job."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.core.deps import Deps
from sdk.contracts import tokens
from sdk.contracts.tokens import Claims
from sdk.errors import Forbidden, NotFound, Unauthenticated

_bearer = HTTPBearer(auto_error=False)


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def claims(request: Request,
           cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Claims:
    if cred is None or cred.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    return tokens.verify(cred.credentials, secret=deps_of(request).config.token_secret)


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


User = Annotated[Claims, Depends(user)]
Trainer = Annotated[Claims, Depends(job_caller)]
Caller = Annotated[Claims, Depends(claims)]
DepsDep = Annotated[Deps, Depends(deps_of)]
