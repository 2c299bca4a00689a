"""The sidecar verifies bearer tokens as the platform does: HS256 locally, the identity
provider's JWKS in production (where HS256 is refused outright)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

from predictor.sidecar.components import token_verifier
from predictor.sidecar.settings import SidecarSettings
from sdk.contracts.errors import Unauthenticated
from tests.unit.tokens.forge import Idp, claims, hmac_signed

ISSUER = "https://idp.example.com/"


def production(tmp_path: Path, idp: Idp) -> SidecarSettings:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks()))
    return SidecarSettings(jwks_file=jwks, token_issuer=ISSUER, token_audience="trainyard")


def test_jwks_mode_accepts_the_providers_es256_tokens_and_refuses_hs256(tmp_path: Path) -> None:
    idp = Idp()
    idp.add("k1", "ES256")
    verifier = token_verifier(production(tmp_path, idp))
    body = claims(iss=ISSUER, aud="trainyard", tenant="acme", sub="ana", roles=["data-scientist"])
    assert verifier.verify(idp.sign(body, kid="k1")).tenant == "acme"
    with pytest.raises(Unauthenticated):
        verifier.verify(hmac_signed(idp.public_pem("k1"), body, kid="k1"))  # key confusion
    with pytest.raises(Unauthenticated):
        verifier.verify(idp.sign({**body, "iss": "https://evil.example.com/"}, kid="k1"))


def test_settings_need_exactly_one_way_to_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRAINYARD_TOKEN_SECRET", "TRAINYARD_SIDECAR_TOKEN_SECRET", "TRAINYARD_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="no way to verify tokens"):
        SidecarSettings()
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    with pytest.raises(SettingsError, match="exclude each other"):
        SidecarSettings(jwks_file=jwks, token_secret="s" * 32)
