"""The platform's ES256 job tokens, the issuer router, and the verifier settings build."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sdk.auth import tokens
from sdk.auth.jwks import JWKSVerifier, StaticKeys, usable_keys
from sdk.auth.signing import IssuerRouter, PlatformSigner, load_keys, new_key_pem, verifier_for
from sdk.auth.tokens import HS256Verifier, Role
from sdk.contracts.errors import Unauthenticated
from tests.unit.tokens.forge import IDP_ISSUER, Idp, claims, recording

SECRET = "unit-test-secret-0123456789abcdef-xyz"


@pytest.fixture(scope="module")
def idp() -> Idp:
    idp = Idp()
    idp.add("ec-1", "ES256")
    return idp


@pytest.fixture(scope="module")
def signer() -> PlatformSigner:
    return PlatformSigner(load_keys(new_key_pem()))


def soon() -> int:
    return int(time.time()) + 600


def test_a_job_token_is_es256_names_its_key_and_verifies_with_the_published_keys(signer: PlatformSigner) -> None:
    token = signer.job_token(tenant="acme", job_id="t-1.1", expires_at=soon())
    [published] = signer.public_jwks()["keys"]
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": published["kid"], "typ": "JWT"}
    assert "d" not in published and published["kty"] == "EC" and len(published["kid"]) == 43
    claims_ = signer.verifier().verify(token)
    assert (claims_.sub, claims_.tenant, claims_.roles, claims_.job) == ("job:t-1.1", "acme", (Role.JOB,), "t-1.1")
    outside = JWKSVerifier(
        StaticKeys(usable_keys(signer.public_jwks(), algorithms=("ES256",))),
        issuer="trainyard-platform",
        audience="trainyard",
    )
    assert outside.verify(token).job == "t-1.1"  # anyone with the JWKS can check it


def test_rotation_the_first_key_signs_and_every_key_verifies() -> None:
    old_pem, new_pem = new_key_pem(), new_key_pem()
    before = PlatformSigner(load_keys(old_pem))
    issued = before.job_token(tenant="acme", job_id="t-1.1", expires_at=soon())
    after = PlatformSigner(load_keys(new_pem + old_pem))
    assert after.verifier().verify(issued).job == "t-1.1"  # a running job's token survives the rotation
    kids = [k["kid"] for k in after.public_jwks()["keys"]]
    assert jwt.get_unverified_header(after.job_token(tenant="a", job_id="j", expires_at=soon()))["kid"] == kids[0]
    assert kids[1] == before.public_jwks()["keys"][0]["kid"]


def test_only_p256_keys_sign_job_tokens(tmp_path: Path) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="EC P-256"):
        load_keys(p384)
    (tmp_path / "empty.pem").write_text("nothing here")
    with pytest.raises(ValueError, match=r"empty\.pem: no PEM private key"):
        PlatformSigner.from_pem_file(tmp_path / "empty.pem")


def router(idp: Idp, signer: PlatformSigner) -> IssuerRouter:
    users = JWKSVerifier(
        StaticKeys(usable_keys(idp.jwks(), algorithms=("ES256",))), issuer=IDP_ISSUER, audience="trainyard"
    )
    return IssuerRouter({IDP_ISSUER: users, signer.issuer: signer.verifier()}, job_issuer=signer.issuer)


def test_the_issuer_picks_the_verifier(idp: Idp, signer: PlatformSigner) -> None:
    r = router(idp, signer)
    assert r.verify(idp.sign(claims(), kid="ec-1")).sub == "ana"
    assert r.verify(signer.job_token(tenant="acme", job_id="t-1.1", expires_at=soon())).job == "t-1.1"
    with pytest.raises(Unauthenticated, match="issuer 'trainyard-local' is not trusted here"):
        r.verify(tokens.user_token(tenant="acme", sub="ana", secret=SECRET))


def test_only_the_platform_issues_job_tokens_and_it_issues_nothing_else(idp: Idp, signer: PlatformSigner) -> None:
    r = router(idp, signer)
    with pytest.raises(Unauthenticated, match="job tokens come from the platform's job issuer"):
        r.verify(idp.sign(claims(job="t-1.1", roles=["job"]), kid="ec-1"))
    [key] = load_keys(new_key_pem())
    rogue = PlatformSigner([key])  # same issuer, another key: not the platform's
    with pytest.raises(Unauthenticated, match="unknown key id"):
        r.verify(rogue.job_token(tenant="acme", job_id="t-1.1", expires_at=soon()))


def test_a_user_token_signed_with_the_job_key_is_refused(idp: Idp) -> None:
    [key] = load_keys(pem := new_key_pem())
    signer = PlatformSigner(load_keys(pem))
    kid = signer.public_jwks()["keys"][0]["kid"]
    forged = jwt.encode(claims(iss=signer.issuer), key, algorithm="ES256", headers={"kid": kid})
    with pytest.raises(Unauthenticated, match="which issues nothing else"):
        router(idp, signer).verify(forged)


def test_settings_pick_one_mode(idp: Idp, signer: PlatformSigner, tmp_path: Path) -> None:
    assert isinstance(verifier_for(secret=SECRET), HS256Verifier)
    with pytest.raises(ValueError, match="HS256 is never accepted"):
        verifier_for(secret=SECRET, jwks_url="https://idp.test/jwks.json")
    with pytest.raises(ValueError, match="a URL or a file, not both"):
        verifier_for(secret=None, jwks_url="https://idp.test/jwks.json", jwks_file=tmp_path / "jwks.json")
    with pytest.raises(ValueError, match="no way to verify tokens"):
        verifier_for(secret="")
    with pytest.raises(ValueError, match="an issuer of their own"):
        verifier_for(secret=SECRET, job_signer=signer, issuer=signer.issuer)
    fetched: list[str] = []
    built = verifier_for(
        secret=None,
        jwks_url="https://idp.test/jwks.json",
        issuer=IDP_ISSUER,
        job_signer=signer,
        fetch=recording(fetched, idp),
    )
    assert fetched == []  # nothing is fetched until a token needs a key
    assert built.verify(idp.sign(claims(), kid="ec-1")).sub == "ana"
    assert built.verify(signer.job_token(tenant="acme", job_id="j", expires_at=soon())).job == "j"
    assert fetched == ["https://idp.test/jwks.json"]
