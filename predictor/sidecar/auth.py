"""Bearer token verification, local (no platform call), with a cache of verified tokens.

A token is immutable, so once its HS256 signature verified it stays verified: the cache
only has to re-check expiry. That keeps the HMAC and JSON decoding off the warm path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sdk.contracts import tokens
from sdk.errors import Unauthenticated


class Authenticator:
    def __init__(self, secret: str, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._max_entries = max_entries
        self._clock = clock
        self._verified: OrderedDict[str, tokens.Claims] = OrderedDict()

    def authenticate(self, authorization: str | None) -> tokens.Claims:
        """The claims of `Authorization: Bearer <token>`; Unauthenticated otherwise."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise Unauthenticated("missing bearer token")
        token = authorization[7:].strip()
        claims = self._verified.get(token)
        if claims is None:
            claims = tokens.verify(token, secret=self._secret)
            self._verified[token] = claims
            if len(self._verified) > self._max_entries:
                self._verified.popitem(last=False)
        if claims.exp <= self._clock():
            self._verified.pop(token, None)
            raise Unauthenticated("invalid token: Signature has expired")
        return claims
