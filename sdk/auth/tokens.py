"""Bearer token claims, and their signing and verification shared by platform and predictor.

Two kinds of principal carry tokens:
- a user or service: `sub` = principal id, `tenant`, `roles` (in that tenant);
- a trainer: `sub` = ``job:<job_id>``, `tenant`, `job` = the job id it may act for.

Roles grant rights, and nothing else does: a token without roles may call nothing. What
each role may do is the platform's route table (functions/api/policy.py): `data-scientist`
works with projects, tasks, models and datasets and requests data grants; `approver` decides
on the tenant's grants; `admin` reads every grant and audit record of the tenant (of every
tenant in the platform-admin tenant) and revokes grants; `service` resolves models; `job`
is a trainer acting for its own job.

Verification is one `TokenVerifier`, chosen by configuration: HS256 with a shared secret in
local mode (`HS256Verifier`, here), RS256/ES256 against a JWKS in production
(sdk.auth.jwks). Each accepts only its own algorithms (never `none`, never HS256 next
to a JWKS), and always checks signature, expiry, not-before, issuer and audience, with a
few seconds of leeway for clock skew.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import jwt
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from sdk.contracts.errors import Unauthenticated

AUDIENCE = "trainyard"
ISSUER = "trainyard-local"
HS256 = "HS256"
DEFAULT_LEEWAY_S = 5.0  # clock skew tolerated between the signer and us


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


class TokenExpired(Unauthenticated):
    """A genuine token (its signature verified) past its expiry. Its claims can be trusted,
    so the refusal can be put on the record of the tenant and principal it names."""

    def __init__(self, message: str, claims: Claims) -> None:
        super().__init__(message)
        self.claims = claims


class TokenVerifier(Protocol):
    """Bearer token -> verified claims, or Unauthenticated saying why not (TemporaryError
    when the keys to check it cannot be had right now)."""

    def verify(self, token: str) -> Claims: ...


class JobTokenSigner(Protocol):
    """What mints the per-attempt job token, and the public keys that verify it."""

    def job_token(self, *, tenant: str, job_id: str, expires_at: int) -> str: ...

    def public_jwks(self) -> dict[str, list[dict[str, str]]]: ...


# The key that checks a token, picked from its (not yet verified) header: a secret, or a PyJWK.
KeyFor = Callable[[Mapping[str, Any]], str | jwt.PyJWK]


def decode(
    token: str, *, key_for: KeyFor, algorithms: Sequence[str], issuer: str, audience: str, leeway_s: float, now: float
) -> Claims:
    """Verify a compact JWT: algorithm in `algorithms` (checked before any key is touched),
    signature, issuer, audience, expiry and not-before (with leeway). Unauthenticated otherwise."""
    header = _header(token, algorithms)
    try:
        body = jwt.decode(
            token,
            key_for(header),
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            options={
                "require": ["exp", "sub", "iss", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(_explain(exc, issuer=issuer, audience=audience)) from exc
    claims = _claims_of(body)
    _check_times(body, claims, now=now, leeway_s=leeway_s)
    return claims


def _header(token: str, algorithms: Sequence[str]) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: not a well-formed JWT ({exc})") from exc
    alg = header.get("alg")
    if alg not in algorithms:  # `none`, and HS256 where keys are public, end here
        raise Unauthenticated(
            f"invalid token: algorithm {alg!r} is not accepted here (accepted: {', '.join(algorithms)})"
        )
    return header


def _explain(exc: jwt.PyJWTError, *, issuer: str, audience: str) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "invalid token: the signature does not verify"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"invalid token: wrong audience (this service is {audience!r})"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"invalid token: wrong issuer (expected {issuer!r})"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"invalid token: it has no {exc.claim!r} claim"
    if isinstance(exc, jwt.DecodeError):
        return f"invalid token: not a well-formed JWT ({exc})"
    return f"invalid token: {exc}"


def _claims_of(body: Mapping[str, Any]) -> Claims:
    raw_roles = body.get("roles", [])
    known = {r.value for r in Role}
    # Roles this platform does not know (an identity provider's own) grant nothing here.
    roles = [r for r in raw_roles if r in known] if isinstance(raw_roles, list) else raw_roles
    fields = {k: body[k] for k in ("sub", "tenant", "job", "exp") if k in body}
    try:
        return Claims.model_validate({**fields, "roles": roles})
    except PydanticValidationError as exc:
        wrong = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})) or "claims"
        raise Unauthenticated(f"invalid token: missing or malformed claim(s): {wrong}") from exc


def _check_times(body: Mapping[str, Any], claims: Claims, *, now: float, leeway_s: float) -> None:
    if now >= claims.exp + leeway_s:
        raise TokenExpired(f"invalid token: expired at {format_time(claims.exp)}", claims)
    nbf = body.get("nbf")
    if nbf is None:
        return
    if not isinstance(nbf, int | float) or isinstance(nbf, bool):
        raise Unauthenticated("invalid token: its 'nbf' claim is not a number")
    if now + leeway_s < nbf:
        raise Unauthenticated(f"invalid token: not valid before {format_time(nbf)}")


def format_time(epoch_s: float) -> str:
    """Epoch seconds as ISO 8601 UTC (what refusals print)."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


class HS256Verifier:
    """Local mode: tokens signed HS256 with the installation's secret (>= 32 bytes)."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        leeway_s: float = DEFAULT_LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._clock = clock

    def verify(self, token: str) -> Claims:
        return decode(
            token,
            key_for=lambda _: self._secret,
            algorithms=(HS256,),
            issuer=self._issuer,
            audience=self._audience,
            leeway_s=self._leeway_s,
            now=self._clock(),
        )


class SecretJobTokens:
    """Local mode's job tokens: HS256 with the same secret (nothing public to publish)."""

    def __init__(self, secret: str, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience

    def job_token(self, *, tenant: str, job_id: str, expires_at: int) -> str:
        return job_token(
            tenant=tenant,
            job_id=job_id,
            secret=self._secret,
            expires_at=expires_at,
            issuer=self._issuer,
            audience=self._audience,
        )

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": []}  # a shared secret is never published


def issue(claims: Claims, *, secret: str, issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
    """Sign claims into a compact JWT (HS256)."""
    body = claims.model_dump(mode="json", exclude_none=True)
    body.update(iss=issuer, aud=audience, iat=int(time.time()))
    return jwt.encode(body, secret, algorithm=HS256)


def verify(
    token: str, *, secret: str, issuer: str = ISSUER, audience: str = AUDIENCE, now: float | None = None
) -> Claims:
    """Verify an HS256 token's signature, expiry, issuer and audience; raise Unauthenticated otherwise."""
    clock = time.time if now is None else (lambda: now)
    return HS256Verifier(secret, issuer=issuer, audience=audience, clock=clock).verify(token)


def user_token(
    *, tenant: str, sub: str, secret: str, roles: tuple[Role, ...] = (Role.DATA_SCIENTIST,), ttl_s: int = 12 * 3600
) -> str:
    """A convenience for local mode: a signed token for a user of `tenant` (a data scientist
    unless `roles` says otherwise)::

        approver = user_token(tenant="demo", sub="approver@demo", secret=secret, roles=(Role.APPROVER,))
    """
    claims = Claims(sub=sub, tenant=tenant, roles=roles, exp=int(time.time()) + ttl_s)
    return issue(claims, secret=secret)


def job_claims(*, tenant: str, job_id: str, expires_at: int) -> Claims:
    return Claims(sub=f"job:{job_id}", tenant=tenant, roles=(Role.JOB,), job=job_id, exp=expires_at)


def job_token(
    *, tenant: str, job_id: str, secret: str, expires_at: int, issuer: str = ISSUER, audience: str = AUDIENCE
) -> str:
    """A token that can act only for one job, until `expires_at` (epoch seconds)."""
    claims = job_claims(tenant=tenant, job_id=job_id, expires_at=expires_at)
    return issue(claims, secret=secret, issuer=issuer, audience=audience)
