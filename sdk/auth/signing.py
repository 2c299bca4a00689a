"""The platform's own job tokens (ES256), and the one verifier a deployment's settings describe.

Why the platform signs job tokens with an ES256 key of its own in production, rather than
an HS256 secret: users' tokens then come from an identity provider and are verified with
public keys only, so no component holds a secret that could mint a user token; the job
token key (TRAINYARD_JOB_TOKEN_KEY_FILE) lives only where jobs are launched, and anything
that must check a job token (another replica, the egress proxy, an auditor) verifies it
with the public half published at GET /v1/.well-known/jwks.json. A shared HS256 secret
would have to be copied to every verifier, each of which could then mint job tokens, and
accepting HS256 next to a JWKS is exactly what opens the key-confusion attack.

Job tokens carry their own issuer (`job_token_issuer`), so a token's issuer picks its
verifier: the identity provider's keys never verify a job token, the platform's key never
verifies anything but a job token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sdk.auth import tokens
from sdk.auth.jwks import (
    ASYMMETRIC,
    Fetch,
    FileKeys,
    JWKSVerifier,
    KeySource,
    RemoteKeys,
    StaticKeys,
    fetch_json,
    usable_keys,
)
from sdk.auth.tokens import AUDIENCE, DEFAULT_LEEWAY_S, ISSUER, Claims, HS256Verifier, TokenVerifier
from sdk.contracts.errors import Unauthenticated

ES256 = "ES256"
JOB_ISSUER = "trainyard-platform"
_PEM_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def new_key_pem() -> bytes:
    """A fresh EC P-256 private key, PKCS#8 PEM (what TRAINYARD_JOB_TOKEN_KEY_FILE holds)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_keys(pem: bytes) -> list[ec.EllipticCurvePrivateKey]:
    """Every private key of a PEM bundle, in order; each must be EC P-256."""
    keys: list[ec.EllipticCurvePrivateKey] = []
    for block in _PEM_KEY.findall(pem):
        key = serialization.load_pem_private_key(block, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("job token keys must be EC P-256 private keys (ES256)")
        keys.append(key)
    if not keys:
        raise ValueError("no PEM private key found")
    return keys


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK of a P-256 key, its kid the RFC 7638 thumbprint (stable, so every
    replica names the same key the same way)."""
    jwk = json.loads(str(jwt.algorithms.ECAlgorithm.to_jwk(key)))
    core = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(core.encode()).digest()).rstrip(b"=").decode()
    return {"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"], "kid": kid, "alg": ES256, "use": "sig"}


class PlatformSigner:
    """Job tokens signed ES256. With several keys the first signs and all verify and are
    published: rotate by putting the new key first, and drop the old one once the longest
    job TTL has passed."""

    def __init__(
        self, keys: Sequence[ec.EllipticCurvePrivateKey], *, issuer: str = JOB_ISSUER, audience: str = AUDIENCE
    ) -> None:
        if not keys:
            raise ValueError("a platform signer needs at least one key")
        self.issuer = issuer
        self._audience = audience
        self._jwks = [public_jwk(k.public_key()) for k in keys]
        self._signing = keys[0]

    @classmethod
    def from_pem_file(cls, path: Path, *, issuer: str = JOB_ISSUER, audience: str = AUDIENCE) -> PlatformSigner:
        try:
            return cls(load_keys(path.read_bytes()), issuer=issuer, audience=audience)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def job_token(self, *, tenant: str, job_id: str, expires_at: int) -> str:
        body = tokens.job_claims(tenant=tenant, job_id=job_id, expires_at=expires_at).model_dump(
            mode="json", exclude_none=True
        )
        body.update(iss=self.issuer, aud=self._audience, iat=int(time.time()))
        return jwt.encode(body, self._signing, algorithm=ES256, headers={"kid": self._jwks[0]["kid"]})

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [dict(k) for k in self._jwks]}

    def verifier(self, *, leeway_s: float = DEFAULT_LEEWAY_S, clock: Callable[[], float] = time.time) -> JWKSVerifier:
        keys = StaticKeys(usable_keys(self.public_jwks(), algorithms=(ES256,)))
        return JWKSVerifier(
            keys, issuer=self.issuer, audience=self._audience, algorithms=(ES256,), leeway_s=leeway_s, clock=clock
        )


def issuer_of(token: str) -> str:
    """The `iss` a token claims, unverified: only to pick the verifier that will check it."""
    try:
        body = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: not a well-formed JWT ({exc})") from exc
    issuer = body.get("iss")
    if not isinstance(issuer, str):
        raise Unauthenticated("invalid token: it has no 'iss' claim")
    return issuer


class IssuerRouter:
    """Tokens of several issuers, each checked by its own verifier. Only the job issuer's
    tokens may act for a job, and that issuer signs nothing else."""

    def __init__(self, by_issuer: Mapping[str, TokenVerifier], *, job_issuer: str) -> None:
        if job_issuer not in by_issuer:
            raise ValueError(f"no verifier for the job token issuer {job_issuer!r}")
        self._by_issuer = dict(by_issuer)
        self._job_issuer = job_issuer

    def verify(self, token: str) -> Claims:
        issuer = issuer_of(token)
        verifier = self._by_issuer.get(issuer)
        if verifier is None:
            raise Unauthenticated(f"invalid token: issuer {issuer!r} is not trusted here")
        claims = verifier.verify(token)
        if claims.is_job != (issuer == self._job_issuer):
            raise Unauthenticated(
                "invalid token: job tokens come from the platform's job issuer, which issues nothing else"
            )
        return claims


def verifier_for(
    *,
    secret: str | None,
    jwks_url: str | None = None,
    jwks_file: Path | None = None,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    algorithms: Collection[str] = ASYMMETRIC,
    leeway_s: float = DEFAULT_LEEWAY_S,
    jwks_ttl_s: float = 300.0,
    jwks_min_refresh_s: float = 10.0,
    job_signer: PlatformSigner | None = None,
    fetch: Fetch = fetch_json,
) -> TokenVerifier:
    """The verifier settings describe: a JWKS (production; an HS256 secret is then refused
    outright) or else an HS256 secret (local mode); plus the platform's ES256 job tokens
    when it signs them. Builds no client and reads nothing yet: keys load on first use."""
    if jwks_url and jwks_file:
        raise ValueError("configure one JWKS: a URL or a file, not both")
    if jwks_url or jwks_file:
        if secret:
            raise ValueError("a JWKS and an HS256 secret exclude each other: with a JWKS, HS256 is never accepted")
        keys: KeySource = (
            RemoteKeys(jwks_url, algorithms=algorithms, fetch=fetch, ttl_s=jwks_ttl_s, min_refresh_s=jwks_min_refresh_s)
            if jwks_url
            else FileKeys(Path(str(jwks_file)), algorithms=algorithms)
        )
        users: TokenVerifier = JWKSVerifier(
            keys, issuer=issuer, audience=audience, algorithms=algorithms, leeway_s=leeway_s
        )
    elif secret:
        users = HS256Verifier(secret, issuer=issuer, audience=audience, leeway_s=leeway_s)
    else:
        raise ValueError("no way to verify tokens: configure a JWKS (production) or a secret (local mode)")
    if job_signer is None:
        return users
    if job_signer.issuer == issuer:
        raise ValueError(f"job tokens need an issuer of their own, not {issuer!r}")
    return IssuerRouter(
        {issuer: users, job_signer.issuer: job_signer.verifier(leeway_s=leeway_s)}, job_issuer=job_signer.issuer
    )
