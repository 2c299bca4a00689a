"""The predictor sidecar's Authenticator with a JWKS verifier (production): each token's
signature is checked once, its expiry on every request; HS256 is refused."""

from __future__ import annotations

import pytest

from predictor.sidecar.auth import Authenticator
from sdk.auth import tokens
from sdk.auth.jwks import JWKSVerifier, StaticKeys, usable_keys
from sdk.auth.tokens import Claims
from sdk.contracts.errors import Unauthenticated
from tests.unit.tokens.forge import IDP_ISSUER, Idp, claims, hmac_signed


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


class Counting:
    def __init__(self, inner: JWKSVerifier) -> None:
        self.inner = inner
        self.calls = 0

    def verify(self, token: str) -> Claims:
        self.calls += 1
        return self.inner.verify(token)


@pytest.fixture
def setup() -> tuple[Idp, Counting, Clock]:
    idp = Idp()
    idp.add("ec-1", "ES256")
    clock = Clock()
    keys = StaticKeys(usable_keys(idp.jwks(), algorithms=("ES256", "RS256")))
    verifier = JWKSVerifier(keys, issuer=IDP_ISSUER, audience="trainyard", clock=clock)
    return idp, Counting(verifier), clock


def test_a_token_is_verified_once_and_its_expiry_checked_every_time(setup: tuple[Idp, Counting, Clock]) -> None:
    idp, verifier, clock = setup
    auth = Authenticator(verifier, clock=clock, leeway_s=tokens.DEFAULT_LEEWAY_S)
    header = "Bearer " + idp.sign(claims(clock.t, exp=int(clock.t) + 60), kid="ec-1")
    assert [auth.authenticate(header).tenant for _ in range(3)] == ["acme"] * 3
    assert verifier.calls == 1
    clock.t += 60 + tokens.DEFAULT_LEEWAY_S
    with pytest.raises(tokens.TokenExpired, match="expired at"):
        auth.authenticate(header)


def test_a_jwks_sidecar_refuses_hs256_even_keyed_with_the_public_key(setup: tuple[Idp, Counting, Clock]) -> None:
    idp, verifier, clock = setup
    auth = Authenticator(verifier, clock=clock)
    forged = hmac_signed(idp.public_pem("ec-1"), claims(clock.t), kid="ec-1")
    with pytest.raises(Unauthenticated, match="algorithm 'HS256' is not accepted here"):
        auth.authenticate(f"Bearer {forged}")
