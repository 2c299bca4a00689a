"""Token makers for tests: an identity provider with RSA and EC keys and its JWKS, and the
hostile tokens a verifier must refuse (made by hand where pyjwt rightly refuses to)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

IDP_ISSUER = "https://idp.test/realms/acme"
AUDIENCE = "trainyard"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(now: float | None = None, **over: Any) -> dict[str, Any]:
    """A data scientist of acme, valid for five minutes from `now`; `over` changes claims
    (a value of None removes the claim)."""
    t = int(time.time() if now is None else now)
    body: dict[str, Any] = {
        "sub": "ana",
        "tenant": "acme",
        "roles": ["data-scientist"],
        "iss": IDP_ISSUER,
        "aud": AUDIENCE,
        "iat": t,
        "exp": t + 300,
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def compact(header: dict[str, Any], body: dict[str, Any], signature: bytes) -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    return head + "." + b64(signature)


def unsigned(body: dict[str, Any]) -> str:
    """`alg: none`, no signature."""
    return compact({"alg": "none", "typ": "JWT"}, body, b"")


def hmac_signed(secret: bytes, body: dict[str, Any], *, kid: str | None = None) -> str:
    """HS256 with any bytes as the secret, a public key included: the key-confusion attack."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    return head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def flip_signature(token: str) -> str:
    """The same token with one bit of its signature flipped."""
    head, _, sig = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return head + "." + b64(bytes(raw))


def recording(fetched: list[str], idp: Idp) -> Callable[[str], dict[str, Any]]:
    """A JWKS fetch that serves `idp`'s keys and notes each URL it was asked for."""

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return idp.jwks()

    return fetch


class Idp:
    """An identity provider: keys by kid (RSA for RS256, EC P-256 for ES256), a JWKS of
    the public halves, and a signer."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.published: list[str] = []

    def add(self, kid: str, alg: str, key: Any | None = None, *, publish: bool = True) -> None:
        if key is None:
            key = (
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if alg == "RS256"
                else ec.generate_private_key(ec.SECP256R1())
            )
        self.keys[kid] = (alg, key)
        if publish:
            self.published.append(kid)

    def retire(self, kid: str) -> None:
        self.published.remove(kid)

    def sign(self, body: dict[str, Any], *, kid: str, omit_kid: bool = False) -> str:
        alg, key = self.keys[kid]
        return jwt.encode(body, key, algorithm=alg, headers=None if omit_kid else {"kid": kid})

    def public_pem(self, kid: str) -> bytes:
        _, key = self.keys[kid]
        return bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def public_jwk(self, kid: str) -> dict[str, Any]:
        alg, key = self.keys[kid]
        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(str(algo.to_jwk(key.public_key())))
        return {**jwk, "kid": kid, "alg": alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk(kid) for kid in self.published]}
