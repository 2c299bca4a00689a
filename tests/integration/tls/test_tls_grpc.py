"""Mutual TLS between the sidecar and the inference server: the real gRPC server (`start`)
with TRAINYARD_INFERENCE_TLS_* settings on 127.0.0.1, called with the generated stubs and
with the sidecar's own channel and client. The model store loads a fake model, so no
embeddings or torch model are needed: what is under test is who gets through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from predictor.generated import intent_pb2, intent_pb2_grpc
from predictor.inference.core import InferenceCore
from predictor.inference.server import RunningServer, start
from predictor.inference.settings import InferenceSettings
from predictor.inference.store import LoadedModels
from predictor.ranking import Ranked
from predictor.sidecar.inference_client import InferenceAnswer, InferenceClient, open_channel
from predictor.sidecar.settings import SidecarSettings
from sdk.auth import tls
from sdk.contracts.errors import PermanentError, TemporaryError
from tests.integration.tls.conftest import Pki

pytestmark = pytest.mark.integration
MODEL_DIR = "ab" * 32  # a sha256-shaped directory name; the fake loader does not read it
METADATA = (("x-trainyard-model-dir", MODEL_DIR),)


@dataclass
class FakeModel:
    kind: str = "intent"
    labels: tuple[str, ...] = ("greeting", "other")
    nbytes: int = 64

    def predict(self, payload: bytes) -> Ranked:
        return [("greeting", 0.75), ("other", 0.25)]


def fake_core(tmp_path: Path) -> InferenceCore:
    return InferenceCore(LoadedModels(root=tmp_path, budget_bytes=1 << 20, loader=lambda _: FakeModel()))


@pytest.fixture
def server(pki: Pki, tmp_path: Path) -> Iterator[RunningServer]:
    files = pki.files("inference")
    settings = InferenceSettings(
        port=0,
        model_root=tmp_path,
        tls_cert=files.cert,
        tls_key=files.key,
        tls_ca=files.ca,
        allowed_peers=["sidecar", "platform"],
    )
    running = start(settings, core=fake_core(tmp_path))
    yield running
    running.stop(0)


def channel(port: int, files: tls.TLSFiles | None) -> grpc.Channel:
    target = f"127.0.0.1:{port}"
    return (
        grpc.insecure_channel(target)
        if files is None
        else grpc.secure_channel(target, tls.grpc_channel_credentials(files))
    )


def predict(port: int, files: tls.TLSFiles | None) -> intent_pb2.IntentPredictionResponse:
    with channel(port, files) as ch:
        stub = intent_pb2_grpc.IntentPredictorServiceStub(ch)
        reply: intent_pb2.IntentPredictionResponse = stub.predict(
            intent_pb2.IntentPredictionRequest(model_id="m-1", document=b"hello"), metadata=METADATA, timeout=5
        )
        return reply


def refusal(port: int, files: tls.TLSFiles | None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        predict(port, files)
    return caught.value


def test_a_certificate_from_the_ca_gets_through_and_the_server_sees_its_cn(
    server: RunningServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="predictor.inference.servicer")
    reply = predict(server.port, pki.files("sidecar"))
    assert reply.success and [p.label for p in reply.probabilities] == ["greeting", "other"]
    accepted = [r.getMessage() for r in caplog.records if r.getMessage().startswith("accepted peer")]
    assert accepted == ["accepted peer CN=sidecar SAN=sidecar,127.0.0.1,localhost"]
    predict(server.port, pki.files("sidecar"))  # logged once per identity, not per call
    assert sum(r.getMessage().startswith("accepted peer") for r in caplog.records) == 1


def test_no_client_certificate_is_refused_at_the_handshake(server: RunningServer, pki: Pki) -> None:
    assert refusal(server.port, pki.ca_only()).code() == grpc.StatusCode.UNAVAILABLE
    assert refusal(server.port, None).code() == grpc.StatusCode.UNAVAILABLE  # plaintext


def test_a_certificate_from_another_ca_is_refused_even_with_an_allowed_name(server: RunningServer, pki: Pki) -> None:
    other = pki.files("sidecar", other_ca=True)  # CN=sidecar, but not signed by the trusted CA
    forged = tls.TLSFiles(cert=other.cert, key=other.key, ca=pki.trusted / "ca.pem")  # it trusts the server
    assert refusal(server.port, forged).code() == grpc.StatusCode.UNAVAILABLE


def test_a_valid_certificate_outside_allowed_peers_is_permission_denied(
    server: RunningServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    error = refusal(server.port, pki.files("intruder"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "intruder" in (error.details() or "")
    assert any("refused peer CN=intruder" in r.getMessage() for r in caplog.records)


def test_health_needs_a_certificate_but_no_allowed_name(server: RunningServer, pki: Pki) -> None:
    """The sidecar's readiness check goes through the same handshake; the CN check guards predictions."""
    for files in (pki.files("sidecar"), pki.files("intruder")):
        with channel(server.port, files) as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_without_allowed_peers_any_certificate_from_the_ca_is_accepted(pki: Pki, tmp_path: Path) -> None:
    files = pki.files("inference")
    settings = InferenceSettings(port=0, model_root=tmp_path, tls_cert=files.cert, tls_key=files.key, tls_ca=files.ca)
    running = start(settings, core=fake_core(tmp_path))
    try:
        assert predict(running.port, pki.files("intruder")).success
        forged = tls.TLSFiles(cert=pki.other / "sidecar.pem", key=pki.other / "sidecar.key", ca=pki.trusted / "ca.pem")
        assert refusal(running.port, forged).code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(0)


# -- the sidecar's side ----------------------------------------------------------------


def sidecar_settings(port: int, files: tls.TLSFiles, *, server_name: str | None = None) -> SidecarSettings:
    return SidecarSettings(
        token_secret="a-secret-of-at-least-thirty-two-chars",
        inference_target=f"127.0.0.1:{port}",
        inference_tls_cert=files.cert,
        inference_tls_key=files.key,
        inference_tls_ca=files.ca,
        inference_tls_server_name=server_name,
    )


async def sidecar_predict(settings: SidecarSettings) -> InferenceAnswer:
    channel = open_channel(
        settings.inference_target, files=settings.inference_tls(), server_name=settings.inference_tls_server_name
    )
    try:
        return await InferenceClient(channel).predict(
            kind="intent", model_id="m-1", payload=b"hi", directory=MODEL_DIR, timeout=5
        )
    finally:
        await channel.close(None)


def test_the_sidecar_channel_from_its_settings_speaks_mutual_tls(server: RunningServer, pki: Pki) -> None:
    answer = asyncio.run(sidecar_predict(sidecar_settings(server.port, pki.files("sidecar"))))
    assert answer.ranked == [("greeting", 0.75), ("other", 0.25)]
    named = sidecar_settings(server.port, pki.files("sidecar"), server_name="inference")  # the cert's DNS SAN
    assert asyncio.run(sidecar_predict(named)).ranked[0][0] == "greeting"


def test_the_sidecar_checks_the_server_name(server: RunningServer, pki: Pki) -> None:
    wrong = sidecar_settings(server.port, pki.files("sidecar"), server_name="platform")  # not in its SANs
    with pytest.raises(TemporaryError, match="UNAVAILABLE"):
        asyncio.run(sidecar_predict(wrong))


def test_a_refused_sidecar_gets_a_permanent_error(server: RunningServer, pki: Pki) -> None:
    with pytest.raises(PermanentError, match="refused this sidecar"):
        asyncio.run(sidecar_predict(sidecar_settings(server.port, pki.files("intruder"))))
