"""Bearer token verification and the caller checks of every prediction, with their decision
cached per token.

The sidecar checks tokens as the platform does: HS256 with the shared secret in local mode,
or any `TokenVerifier` (a JWKS verifier in production, sdk.auth.signing.verifier_for).
A token is immutable, so once its signature verified it stays verified: the cache (LRU, each
entry dropped at the token's expiry) keeps the signature check and JSON decoding off the warm
path. Every request is then checked against the roles that may predict — the roles the
platform lets resolve a model — and a trainer's job token is refused whatever its job's state:
the platform never lets one resolve a model, so a cached resolution must not serve it either.

`TokenDecisions` remembers, per token, what the platform answered when asked to resolve a
model with that very token (its role and liveness as the platform sees them), for a short
TTL: a resolution cached for the tenant then serves only tokens the platform itself accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TLRUCache

from sdk.auth import tokens
from sdk.auth.tokens import Role, TokenVerifier
from sdk.contracts.errors import Forbidden, TrainyardError, Unauthenticated

# Mirrors functions/api/policy.py for GET /v1/models/{id}/resolve: who may ask for predictions.
PREDICT_ROLES = frozenset({Role.DATA_SCIENTIST, Role.SERVICE})


@dataclass(frozen=True)
class _Verified:
    claims: tokens.Claims
    refusal: Forbidden | None  # None: the token may ask for predictions


def bearer(authorization: str | None) -> str:
    """The token of `Authorization: Bearer <token>`; Unauthenticated otherwise."""
    if not authorization or not authorization[:7].lower() == "bearer ":
        raise Unauthenticated("missing bearer token")
    return authorization[7:].strip()


def refusal_of(claims: tokens.Claims) -> Forbidden | None:
    """Why these claims may not ask for predictions, or None when they may."""
    if claims.is_job:
        return Forbidden(f"a job token (job {claims.job}) cannot ask for predictions")
    if not PREDICT_ROLES & set(claims.roles):
        held = ", ".join(sorted(r.value for r in claims.roles)) or "no role"
        wanted = " or ".join(sorted(r.value for r in PREDICT_ROLES))
        return Forbidden(f"{held} may not ask for predictions; it takes {wanted}")
    return None


class Authenticator:
    """`Authenticator(secret)` verifies HS256 (leeway 0, on `clock`); `Authenticator(verifier)`
    uses the verifier, and `leeway_s` should then be the verifier's."""

    def __init__(
        self,
        verifier: str | TokenVerifier,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        leeway_s: float = 0.0,
    ) -> None:
        self._verifier = (
            tokens.HS256Verifier(verifier, leeway_s=leeway_s, clock=clock) if isinstance(verifier, str) else verifier
        )
        self._clock = clock
        self._leeway_s = leeway_s
        self._verified: TLRUCache[str, _Verified] = TLRUCache(
            maxsize=max_entries, ttu=lambda _k, v, _now: v.claims.exp + leeway_s, timer=clock
        )

    def authenticate(self, authorization: str | None) -> tokens.Claims:
        """The claims of a valid token that may ask for predictions: Unauthenticated (401) or
        Forbidden (403) otherwise. Checked on every request; the work is cached per token."""
        token = bearer(authorization)
        verified = self._verified.get(token)
        if verified is None:
            claims = self._verifier.verify(token)
            if claims.exp + self._leeway_s <= self._clock():  # a verifier on another clock
                raise tokens.TokenExpired(f"invalid token: expired at {tokens.format_time(claims.exp)}", claims)
            verified = self._verified[token] = _Verified(claims, refusal_of(claims))
        if verified.refusal is not None:
            raise verified.refusal
        return verified.claims


@dataclass(frozen=True)
class _Decision:
    expires_at: float
    refusal: TrainyardError | None  # None: the platform accepted this token


class TokenDecisions:
    """What the platform last answered to a resolve made with a given token, for `ttl_s`
    (refusals for `negative_ttl_s`, so a flood of one refused token stays off the platform).
    Never past the token's own expiry."""

    def __init__(
        self, *, ttl_s: float, negative_ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._clock = clock
        self._cache: TLRUCache[str, _Decision] = TLRUCache(
            maxsize=max_entries, ttu=lambda _k, v, _now: v.expires_at, timer=clock
        )

    def accepted(self, token: str) -> bool:
        """True when the platform accepted this token recently; raise its refusal when it
        refused it recently; False when there is no fresh decision (ask the platform)."""
        decision = self._cache.get(token)
        if decision is None:
            return False
        if decision.refusal is not None:
            raise decision.refusal
        return True

    def accept(self, token: str, *, token_ttl_s: float) -> None:
        self._store(token, _Decision(self._clock() + min(self._ttl_s, token_ttl_s), None))

    def refuse(self, token: str, refusal: TrainyardError, *, token_ttl_s: float) -> None:
        self._store(token, _Decision(self._clock() + min(self._negative_ttl_s, token_ttl_s), refusal))

    def _store(self, token: str, decision: _Decision) -> None:
        if decision.expires_at > self._clock():
            self._cache[token] = decision

    def __len__(self) -> int:
        return len(self._cache)
