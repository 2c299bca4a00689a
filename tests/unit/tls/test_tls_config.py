"""sdk.auth.tls configuration pieces, the settings that feed them, the inference server's peer gate
(with a small fake ServicerContext) and how the SDK classifies TLS failures."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, NoReturn

import grpc
import httpx
import pydantic
import pytest

from predictor.inference.servicer import PeerGate
from predictor.inference.settings import InferenceSettings
from predictor.sidecar.settings import SidecarSettings
from sdk import http
from sdk.auth import certs, tls
from sdk.contracts.errors import PermanentError, TemporaryError, ValidationError
from sdk.trainer import TrainerEnv


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    certs.ensure(directory, {"platform": ("client", "server"), "sidecar": ("client",)})
    return directory


# -- TLSFiles ----------------------------------------------------------------------------


def test_a_key_goes_with_its_certificate_and_something_must_be_set() -> None:
    with pytest.raises(ValidationError, match="together"):
        tls.TLSFiles(cert=Path("a.pem"))
    with pytest.raises(ValidationError, match="together"):
        tls.TLSFiles(key=Path("a.key"), ca=Path("ca.pem"))
    with pytest.raises(ValidationError):
        tls.TLSFiles()
    assert tls.TLSFiles(ca=Path("ca.pem")).mutual is False
    assert tls.TLSFiles(cert=Path("c"), key=Path("k"), ca=Path("ca")).mutual


def test_from_env_and_back(tls_dir: Path) -> None:
    assert tls.TLSFiles.from_env({}) is None
    assert tls.TLSFiles.from_env({"TRAINYARD_TLS_CERT": ""}) is None  # empty counts as unset
    files = tls.TLSFiles.in_dir(tls_dir, "sidecar")
    assert tls.TLSFiles.from_env(files.env()) == files
    assert tls.TLSFiles.from_env({"X_CA": "ca.pem"}, prefix="X_") == tls.TLSFiles(ca=Path("ca.pem"))
    with pytest.raises(ValidationError):
        tls.TLSFiles.from_env({"TRAINYARD_TLS_KEY": "k.pem"})


def test_missing_files_are_all_named_at_once(tmp_path: Path) -> None:
    files = tls.TLSFiles(cert=tmp_path / "c.pem", key=tmp_path / "k.pem", ca=tmp_path / "ca.pem")
    with pytest.raises(ValidationError) as caught:
        tls.client_context(files)
    assert [p.field for p in caught.value.problems] == ["tls.cert", "tls.key", "tls.ca"]


def test_contexts_and_uvicorn_options(tls_dir: Path) -> None:
    server = tls.TLSFiles.in_dir(tls_dir, "platform")
    options = tls.uvicorn_ssl_options(server)
    assert options == {
        "ssl_certfile": str(server.cert),
        "ssl_keyfile": str(server.key),
        "ssl_ca_certs": str(server.ca),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    assert "ssl_cert_reqs" not in tls.uvicorn_ssl_options(tls.TLSFiles(cert=server.cert, key=server.key))
    assert tls.server_context(server).verify_mode == ssl.CERT_REQUIRED
    client = tls.client_context(tls.TLSFiles.in_dir(tls_dir, "sidecar"))
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    with pytest.raises(ValidationError, match="certificate and key"):
        tls.uvicorn_ssl_options(tls.TLSFiles(ca=server.ca))


# -- peer identity -----------------------------------------------------------------------


def test_peer_from_auth_context() -> None:
    verified = {
        "transport_security_type": [b"ssl"],
        "x509_common_name": [b"sidecar"],
        "x509_subject_alternative_name": [b"127.0.0.1", b"localhost"],
    }
    peer = tls.peer_from_auth_context(verified)
    assert peer == tls.Peer("sidecar", ("127.0.0.1", "localhost"))
    assert str(peer) == "CN=sidecar SAN=127.0.0.1,localhost"
    assert tls.peer_from_auth_context({"transport_security_type": b"ssl", "x509_common_name": b"x"}) == tls.Peer("x")
    assert tls.peer_from_auth_context({}) is None  # plaintext: grpc sets no transport type
    assert tls.peer_from_auth_context({"transport_security_type": [b"ssl"]}) is None  # TLS, no client cert
    assert tls.peer_from_auth_context({"transport_security_type": [b"insecure"], "x509_common_name": [b"x"]}) is None


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self, auth: dict[str, list[bytes]]) -> None:
        self._auth = auth
        self.code: grpc.StatusCode | None = None

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5555"

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.code = code
        raise Aborted(details)


def _ctx(cn: str | None) -> Any:
    auth = {"transport_security_type": [b"ssl"]}
    if cn is not None:
        auth["x509_common_name"] = [cn.encode()]
    return FakeContext(auth)


def test_the_gate_lets_allowed_peers_through_and_refuses_the_rest() -> None:
    gate = PeerGate(required=True, allowed=["sidecar"])
    assert gate.check(_ctx("sidecar")) == tls.Peer("sidecar")
    stranger = _ctx("intruder")
    with pytest.raises(Aborted, match="intruder"):
        gate.check(stranger)
    assert stranger.code == grpc.StatusCode.PERMISSION_DENIED
    anonymous = _ctx(None)
    with pytest.raises(Aborted):
        gate.check(anonymous)
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED


def test_an_open_gate_never_looks_and_an_empty_allow_list_takes_any_verified_peer() -> None:
    assert PeerGate.open().check(_ctx(None)) is None
    assert PeerGate(required=True).check(_ctx("anyone")) == tls.Peer("anyone")


# -- settings ----------------------------------------------------------------------------


def test_inference_settings_need_all_three_files_or_none(tls_dir: Path) -> None:
    files = tls.TLSFiles.in_dir(tls_dir, "platform")
    assert InferenceSettings().tls() is None
    full = InferenceSettings(tls_cert=files.cert, tls_key=files.key, tls_ca=files.ca, allowed_peers="a, b,")
    assert full.tls() == files and full.allowed_peers == ["a", "b"]
    with pytest.raises(pydantic.ValidationError, match="together"):
        InferenceSettings(tls_cert=files.cert, tls_key=files.key)
    with pytest.raises(pydantic.ValidationError, match="needs mutual TLS"):
        InferenceSettings(allowed_peers=["sidecar"])
    with pytest.raises(pydantic.ValidationError):  # FilePath: a typo fails at start-up
        InferenceSettings(tls_cert=tls_dir / "nope.pem", tls_key=files.key, tls_ca=files.ca)


def test_sidecar_settings_from_the_environment(tls_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tls.TLSFiles.in_dir(tls_dir, "sidecar")
    monkeypatch.setenv("TRAINYARD_TOKEN_SECRET", "a-secret-of-at-least-thirty-two-chars")
    for key, value in files.env(prefix="TRAINYARD_SIDECAR_INFERENCE_TLS_").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRAINYARD_SIDECAR_PLATFORM_TLS_CA", str(files.ca))
    settings = SidecarSettings()
    assert settings.inference_tls() == tls.TLSFiles(cert=files.cert, key=files.key, ca=files.ca)
    assert settings.platform_tls() == tls.TLSFiles(ca=files.ca)
    monkeypatch.delenv("TRAINYARD_SIDECAR_INFERENCE_TLS_CA")
    with pytest.raises(pydantic.ValidationError, match="together"):
        SidecarSettings()


def test_trainer_env_carries_the_tls_files(tls_dir: Path) -> None:
    base = {"TRAINYARD_JOB_ID": "j-1", "TRAINYARD_TOKEN": "t"}
    assert TrainerEnv.load(base).tls() is None
    files = tls.TLSFiles.in_dir(tls_dir, "sidecar")
    assert TrainerEnv.load({**base, **files.env()}).tls() == files
    with pytest.raises(ValidationError):
        TrainerEnv.load({**base, "TRAINYARD_TLS_CERT": str(files.cert)})


# -- the SDK's view of TLS failures ------------------------------------------------------


def _failing(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("handshake", request=request) from exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(("cause", "permanent"), [
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), True),
    (ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"), True),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), False),
    (ConnectionRefusedError(111, "refused"), False),
])  # fmt: skip
def test_tls_verdicts_are_permanent_and_hang_ups_are_retried(cause: Exception, permanent: bool) -> None:
    sleeps: list[float] = []
    client = httpx.Client(transport=_failing(cause), base_url="https://platform.test")
    with pytest.raises(PermanentError if permanent else TemporaryError):
        http.send(
            client, client.build_request("GET", "/v1/projects"), backoff=http.Backoff(attempts=3), sleep=sleeps.append
        )
    assert len(sleeps) == (0 if permanent else 2)
