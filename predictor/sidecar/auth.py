"""Bearer token verification, local (no platform call), with a cache of verified tokens.

The sidecar checks tokens as the platform does: HS256 with the shared secret in local mode,
or any `TokenVerifier` (a JWKS verifier in production, sdk.auth.signing.verifier_for).
A token is immutable, so once its signature verified it stays verified: the cache only has
to re-check expiry. That keeps the signature check and JSON decoding off the warm path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sdk.auth import tokens
from sdk.auth.tokens import TokenVerifier
from sdk.contracts.errors import Unauthenticated


class Authenticator:
    """`Authenticator(secret)` verifies HS256 (leeway 0, on `clock`); `Authenticator(verifier)`
    uses the verifier, and `leeway_s` should then be the verifier's."""

    def __init__(self, verifier: str | TokenVerifier, *, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.time, leeway_s: float = 0.0) -> None:
        self._verifier = (tokens.HS256Verifier(verifier, leeway_s=leeway_s, clock=clock)
                          if isinstance(verifier, str) else verifier)
        self._max_entries = max_entries
        self._clock = clock
        self._leeway_s = leeway_s
        self._verified: OrderedDict[str, tokens.Claims] = OrderedDict()

    def authenticate(self, authorization: str | None) -> tokens.Claims:
        """The claims of `Authorization: Bearer <token>`; Unauthenticated otherwise."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise Unauthenticated("missing bearer token")
        token = authorization[7:].strip()
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verifier.verify(token)
            self._verified[token] = claims
            if len(self._verified) > self._max_entries:
                self._verified.popitem(last=False)
        if claims.exp + self._leeway_s <= self._clock():
            self._verified.pop(token, None)
            raise tokens.TokenExpired(f"invalid token: expired at {tokens.format_time(claims.exp)}", claims)
        return claims
