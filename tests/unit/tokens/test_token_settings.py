"""Token settings of the functions: one mode, complete, never HS256 next to a JWKS; and the
verifier and job signer bootstrap builds from them."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from functions import bootstrap
from functions.settings import Settings
from sdk.auth import tokens
from sdk.auth.signing import new_key_pem
from sdk.contracts.errors import Unauthenticated
from tests.unit.tokens.forge import IDP_ISSUER, Idp, claims, recording

SECRET = "unit-test-secret-0123456789abcdef-xyz"
JWKS_URL = "https://idp.test/jwks.json"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN_SECRET", "TOKEN_ISSUER", "JWKS_URL", "JWKS_FILE", "JOB_TOKEN_KEY_FILE"):
        monkeypatch.delenv(f"TRAINYARD_{name}", raising=False)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "job-token.pem"
    path.write_bytes(new_key_pem())
    return path


def production(key_file: Path, **over: Any) -> Settings:
    values: dict[str, Any] = {"jwks_url": JWKS_URL, "token_issuer": IDP_ISSUER, "job_token_key_file": key_file}
    values.update(over)
    return Settings(**values)


@pytest.mark.parametrize(("over", "message"), [
    ({"token_secret": SECRET}, "with a JWKS, HS256 is never accepted: unset TRAINYARD_TOKEN_SECRET"),
    ({"job_token_key_file": None}, "signs job tokens with TRAINYARD_JOB_TOKEN_KEY_FILE"),
    ({"jwks_url": "http://idp.test/jwks.json"}, "must be https (plain http only on loopback)"),
    ({"job_token_issuer": IDP_ISSUER}, "TRAINYARD_JOB_TOKEN_ISSUER must differ"),
    ({"token_algorithms": ["HS256"]}, "token_algorithms.0"),
])  # fmt: skip
def test_production_settings_refuse_unsafe_or_incomplete_setups(
    key_file: Path, over: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        production(key_file, **over)


def test_a_jwks_needs_the_providers_issuer_named(key_file: Path) -> None:
    with pytest.raises(ValidationError, match="TRAINYARD_TOKEN_ISSUER must name your identity provider"):
        Settings(jwks_url=JWKS_URL, job_token_key_file=key_file)


def test_the_job_token_key_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="job_token_key_file"):
        production(tmp_path / "missing.pem")


def test_local_mode_needs_a_long_enough_secret() -> None:
    with pytest.raises(ValidationError, match="configure TRAINYARD_TOKEN_SECRET"):
        Settings()
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(token_secret="short")


def test_production_builds_a_jwks_verifier_and_an_es256_signer_without_fetching(key_file: Path) -> None:
    idp = Idp()
    idp.add("ec-1", "ES256")
    fetched: list[str] = []
    verifier, signer = bootstrap.token_keys(
        production(key_file, jwks_url="http://127.0.0.1:1/jwks.json"), fetch=recording(fetched, idp)
    )
    assert fetched == []
    assert verifier.verify(idp.sign(claims(), kid="ec-1")).tenant == "acme"
    job = signer.job_token(tenant="acme", job_id="t-1.1", expires_at=int(time.time()) + 60)
    assert verifier.verify(job).job == "t-1.1"
    assert [k["kty"] for k in signer.public_jwks()["keys"]] == ["EC"]
    with pytest.raises(Unauthenticated, match="not trusted here"):
        verifier.verify(tokens.user_token(tenant="acme", sub="ana", secret=SECRET))


def test_local_mode_builds_hs256_for_users_and_jobs() -> None:
    verifier, signer = bootstrap.token_keys(Settings(token_secret=SECRET))
    assert verifier.verify(tokens.user_token(tenant="acme", sub="ana", secret=SECRET)).sub == "ana"
    job = signer.job_token(tenant="acme", job_id="t-1.1", expires_at=int(time.time()) + 60)
    assert tokens.verify(job, secret=SECRET).job == "t-1.1"
    assert signer.public_jwks() == {"keys": []}  # a secret is never published
