"""Bearer token claims and HS256 signing/verification shared by platform and predictor.

Two kinds of principal carry tokens:
- a user or service: `sub` = principal id, `tenant`, `roles` (in that tenant);
- a trainer: `sub` = ``job:<job_id>``, `tenant`, `job` = the job id it may act for.

Roles grant rights, and nothing else does: a token without roles may call nothing. What
each role may do is the platform's route table (functions/api/policy.py): `data-scientist`
works with projects, tasks, models and datasets and requests data grants; `approver` decides
on the tenant's grants; `admin` reads every grant and audit record of the tenant (of every
tenant in the platform-admin tenant) and revokes grants; `service` resolves models; `job`
is a trainer acting for its own job.
"""

from __future__ import annotations

import time
from enum import StrEnum

import jwt
from pydantic import BaseModel, ConfigDict, Field

from sdk.errors import Unauthenticated

AUDIENCE = "trainyard"
ISSUER = "trainyard-local"


class Role(StrEnum):
    DATA_SCIENTIST = "data-scientist"
    APPROVER = "approver"
    ADMIN = "admin"
    SERVICE = "service"
    JOB = "job"


class Claims(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str = Field(min_length=1)
    tenant: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    roles: tuple[Role, ...] = ()
    job: str | None = None
    exp: int

    @property
    def is_job(self) -> bool:
        return self.job is not None


def issue(claims: Claims, *, secret: str, issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
    """Sign claims into a compact JWT (HS256)."""
    body = claims.model_dump(mode="json", exclude_none=True)
    body.update(iss=issuer, aud=audience, iat=int(time.time()))
    return jwt.encode(body, secret, algorithm="HS256")


def verify(
    token: str, *, secret: str, issuer: str = ISSUER, audience: str = AUDIENCE, now: float | None = None
) -> Claims:
    """Verify signature, expiry, issuer and audience; raise Unauthenticated otherwise."""
    try:
        body = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "sub", "iss", "aud"], "verify_exp": now is None},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    claims = Claims.model_validate({k: body[k] for k in ("sub", "tenant", "roles", "job", "exp") if k in body})
    if now is not None and claims.exp <= now:
        raise Unauthenticated("invalid token: Signature has expired")
    return claims


def user_token(*, tenant: str, sub: str, secret: str, roles: tuple[Role, ...] = (Role.DATA_SCIENTIST,),
               ttl_s: int = 12 * 3600) -> str:
    """A convenience for local mode: a signed token for a user of `tenant` (a data scientist
    unless `roles` says otherwise)::

        approver = user_token(tenant="demo", sub="approver@demo", secret=secret, roles=(Role.APPROVER,))
    """
    claims = Claims(sub=sub, tenant=tenant, roles=roles, exp=int(time.time()) + ttl_s)
    return issue(claims, secret=secret)


def job_token(*, tenant: str, job_id: str, secret: str, expires_at: int) -> str:
    """A token that can act only for one job, until `expires_at` (epoch seconds)."""
    claims = Claims(sub=f"job:{job_id}", tenant=tenant, roles=(Role.JOB,), job=job_id, exp=expires_at)
    return issue(claims, secret=secret)
