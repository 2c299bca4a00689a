"""HS256 (local mode) and JWKS (production) verification: what is accepted, and each
refusal with its message. Time is injected; no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from sdk.auth.jwks import JWKSVerifier, StaticKeys, usable_keys
from sdk.auth.tokens import HS256Verifier, Role, TokenExpired
from sdk.contracts.errors import Unauthenticated
from tests.unit.tokens.forge import IDP_ISSUER, Idp, claims, flip_signature, hmac_signed, unsigned

SECRET = "unit-test-secret-0123456789abcdef-xyz"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def idp() -> Idp:
    idp = Idp()
    idp.add("rsa-1", "RS256")
    idp.add("ec-1", "ES256")
    return idp


def hs(body: dict[str, Any]) -> str:
    return jwt.encode(body, SECRET, algorithm="HS256")


def local(**over: Any) -> dict[str, Any]:
    return claims(NOW, **{"iss": "trainyard-local", **over})


def hs_verifier() -> HS256Verifier:
    return HS256Verifier(SECRET, clock=lambda: NOW)


def jwks_verifier(idp: Idp, *, algorithms: tuple[str, ...] = ("ES256", "RS256")) -> JWKSVerifier:
    keys = StaticKeys(usable_keys(idp.jwks(), algorithms=algorithms))
    return JWKSVerifier(keys, issuer=IDP_ISSUER, audience="trainyard", algorithms=algorithms, clock=lambda: NOW)


def test_hs256_gives_the_claims_within_the_leeway() -> None:
    got = hs_verifier().verify(hs(local(exp=int(NOW) - 3, roles=["approver", "uma_authorization"])))
    assert (got.sub, got.tenant, got.roles, got.job) == ("ana", "acme", (Role.APPROVER,), None)


HS_REFUSALS: dict[str, tuple[Callable[[], str], str]] = {
    "tampered": (lambda: flip_signature(hs(local())), "signature does not verify"),
    "expired": (lambda: hs(local(exp=int(NOW) - 6)), "expired at"),
    "not yet valid": (lambda: hs(local(nbf=int(NOW) + 60)), "not valid before"),
    "wrong audience": (lambda: hs(local(aud="someone-else")), "wrong audience"),
    "wrong issuer": (lambda: hs(local(iss="https://evil.test")), "wrong issuer"),
    "alg none": (lambda: unsigned(local()), "algorithm 'none' is not accepted"),
    "no expiry": (lambda: hs(local(exp=None)), "no 'exp' claim"),
    "no tenant": (lambda: hs(local(tenant=None)), "malformed claim(s): tenant"),
    "other secret": (
        lambda: jwt.encode(local(), "another-secret-0123456789abcdef-xyz", algorithm="HS256"),
        "signature does not verify",
    ),
    "garbage": (lambda: "not.a.jwt", "not a well-formed JWT"),
}


@pytest.mark.parametrize("case", sorted(HS_REFUSALS))
def test_hs256_refusals_say_why(case: str) -> None:
    make, message = HS_REFUSALS[case]
    with pytest.raises(Unauthenticated, match=r"^invalid token: ") as info:
        hs_verifier().verify(make())
    assert message in str(info.value)


def test_hs256_refuses_an_asymmetric_token(idp: Idp) -> None:
    with pytest.raises(Unauthenticated, match="algorithm 'RS256' is not accepted here"):
        hs_verifier().verify(idp.sign(local(), kid="rsa-1"))


def test_an_expired_genuine_token_carries_its_claims() -> None:
    with pytest.raises(TokenExpired) as info:
        hs_verifier().verify(hs(local(exp=int(NOW) - 60, tenant="globex")))
    assert info.value.claims.tenant == "globex"


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_jwks_accepts_rs256_and_es256(idp: Idp, kid: str) -> None:
    assert jwks_verifier(idp).verify(idp.sign(claims(NOW), kid=kid)).sub == "ana"


JWKS_REFUSALS: dict[str, tuple[Callable[[Idp], str], str]] = {
    # The key-confusion attack: the public key, which anyone has, used as an HMAC secret.
    "HS256 keyed with the public PEM": (
        lambda i: hmac_signed(i.public_pem("rsa-1"), claims(NOW), kid="rsa-1"),
        "algorithm 'HS256' is not accepted here",
    ),
    "HS256 keyed with the JWK": (
        lambda i: hmac_signed(json.dumps(i.public_jwk("ec-1")).encode(), claims(NOW), kid="ec-1"),
        "algorithm 'HS256' is not accepted here",
    ),
    "alg none": (lambda i: unsigned(claims(NOW)), "algorithm 'none' is not accepted here"),
    "tampered": (lambda i: flip_signature(i.sign(claims(NOW), kid="ec-1")), "signature does not verify"),
    "expired": (lambda i: i.sign(claims(NOW, exp=int(NOW) - 10), kid="rsa-1"), "expired at"),
    "not yet valid": (lambda i: i.sign(claims(NOW, nbf=int(NOW) + 30), kid="rsa-1"), "not valid before"),
    "wrong audience": (lambda i: i.sign(claims(NOW, aud="billing"), kid="ec-1"), "wrong audience"),
    "wrong issuer": (lambda i: i.sign(claims(NOW, iss="https://other.test"), kid="ec-1"), "wrong issuer"),
    "unknown kid": (lambda i: i.sign(claims(NOW), kid="unpublished"), "unknown key id 'unpublished'"),
    "no kid": (lambda i: i.sign(claims(NOW), kid="ec-1", omit_kid=True), "names no key (kid)"),
    "ES256 naming the RSA key": (
        lambda i: jwt.encode(claims(NOW), i.keys["ec-1"][1], algorithm="ES256", headers={"kid": "rsa-1"}),
        "does not match the key",
    ),
}


@pytest.mark.parametrize("case", sorted(JWKS_REFUSALS))
def test_jwks_refusals_say_why(idp: Idp, case: str) -> None:
    if "unpublished" not in idp.keys:
        idp.add("unpublished", "ES256", publish=False)
    make, message = JWKS_REFUSALS[case]
    with pytest.raises(Unauthenticated, match=r"^invalid token: ") as info:
        jwks_verifier(idp).verify(make(idp))
    assert message in str(info.value)


def test_only_the_allowed_algorithms_verify(idp: Idp) -> None:
    only_ec = jwks_verifier(idp, algorithms=("ES256",))
    with pytest.raises(Unauthenticated, match="algorithm 'RS256' is not accepted here"):
        only_ec.verify(idp.sign(claims(NOW), kid="rsa-1"))


@pytest.mark.parametrize("algorithms", [("HS256", "RS256"), ("none",), ()])
def test_a_jwks_verifier_never_takes_symmetric_or_no_algorithms(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="a JWKS verifies only ES256, RS256"):
        JWKSVerifier(StaticKeys({}), issuer=IDP_ISSUER, audience="trainyard", algorithms=algorithms)


def test_only_signing_keys_of_accepted_algorithms_are_kept(idp: Idp) -> None:
    good = idp.public_jwk("ec-1")
    document = {"keys": [
        good,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},  # a symmetric key must never verify anything
        {**idp.public_jwk("rsa-1"), "kid": "rsa-as-hmac", "alg": "HS256"},
        {**good, "kid": "for-encryption", "use": "enc"},
        {k: v for k, v in good.items() if k != "kid"},
        {"kty": "EC", "kid": "broken"},
        "not a key",
    ]}  # fmt: skip
    assert set(usable_keys(document, algorithms=("ES256", "RS256"))) == {"ec-1"}
    with pytest.raises(ValueError, match="not a JWKS document"):
        usable_keys({"keys": "none"}, algorithms=("ES256",))
