"""Mutual TLS between the SDK and an HTTP API: a real uvicorn server on 127.0.0.1 with the
options `sdk.auth.tls.uvicorn_ssl_options` gives, a tiny FastAPI app standing in for the platform,
and the real SDK clients (Client, Trainer, the sidecar's resolver)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from predictor.sidecar.components import build_components, close_components
from predictor.sidecar.metrics import Metrics
from predictor.sidecar.settings import SidecarSettings
from sdk import http
from sdk.auth.tls import TLSFiles, client_context, uvicorn_ssl_options
from sdk.client import Client
from sdk.contracts.errors import NotFound, PermanentError, TemporaryError
from sdk.contracts.events import EventType
from sdk.trainer import Trainer
from tests.conftest import free_port
from tests.integration.tls.conftest import Pki

pytestmark = pytest.mark.integration
ONE_TRY = http.Backoff(attempts=1)


class FakeApi:
    """Just enough of the platform's API to tell that a request got through."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.app = FastAPI()
        self.app.add_api_route("/v1/projects", self._projects, methods=["GET"])
        self.app.add_api_route("/v1/events", self._event, methods=["POST"])
        self.app.add_api_route("/v1/models/{model_id}/resolve", self._resolve, methods=["GET"])

    async def _projects(self) -> dict[str, Any]:
        self.hits.append("projects")
        return {"items": []}

    async def _event(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.hits.append(f"event {body['type']}")
        return JSONResponse({"accepted": True}, status_code=202)

    async def _resolve(self, model_id: str) -> JSONResponse:
        self.hits.append(f"resolve {model_id}")
        return JSONResponse({"error": {"code": "not_found", "message": "no such model"}}, status_code=404)


@contextlib.contextmanager
def serve_tls(app: FastAPI, files: TLSFiles) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="critical",
        access_log=False,
        lifespan="off",
        **uvicorn_ssl_options(files),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("TLS test server did not start")
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture(scope="module")
def url(api: FakeApi, pki: Pki) -> Iterator[str]:
    with serve_tls(api.app, pki.files("platform")) as base:
        yield base


def test_sdk_client_with_a_certificate_from_the_ca_gets_through(url: str, api: FakeApi, pki: Pki) -> None:
    with Client(url, "token", tls=pki.files("dev@demo"), backoff=ONE_TRY) as client:
        assert client.list_projects() == []
    assert api.hits[-1] == "projects"


def test_client_from_env_reads_the_tls_variables(url: str, api: FakeApi, pki: Pki) -> None:
    environ = pki.files("dev@demo").env()
    assert set(environ) == {"TRAINYARD_TLS_CERT", "TRAINYARD_TLS_KEY", "TRAINYARD_TLS_CA"}
    with Client.from_env(url, "token", environ=environ, backoff=ONE_TRY) as client:
        assert client.list_projects() == []


def test_trainer_from_env_reports_over_mutual_tls(url: str, api: FakeApi, pki: Pki, tmp_path: Path) -> None:
    environ = {
        "TRAINYARD_JOB_ID": "j-1",
        "TRAINYARD_TOKEN": "job-token",
        "TRAINYARD_PLATFORM_URL": url,
        "TRAINYARD_WORKDIR": str(tmp_path),
        **pki.files("sidecar").env(),
    }
    trainer = Trainer.from_env(environ, capture_logs=False, backoff=ONE_TRY)
    try:
        trainer.running()
    finally:
        trainer.close()
    assert api.hits[-1] == f"event {EventType.JOB_RUNNING}"


@pytest.mark.parametrize("files", ["no certificate", "certificate from another CA"])
def test_httpx_without_an_accepted_certificate_is_refused(url: str, api: FakeApi, pki: Pki, files: str) -> None:
    chosen = pki.ca_only() if files == "no certificate" else pki.files("dev@demo", other_ca=True)
    chosen = TLSFiles(cert=chosen.cert, key=chosen.key, ca=pki.trusted / "ca.pem")  # it does trust the server
    before = len(api.hits)
    with httpx.Client(verify=client_context(chosen)) as raw, pytest.raises(httpx.TransportError):
        raw.get(f"{url}/v1/projects")
    with Client(url, "token", tls=chosen, backoff=ONE_TRY) as client, pytest.raises(TemporaryError) as caught:
        client.list_projects()
    assert "mutual TLS" in str(caught.value)  # the hint: TLS 1.3 refusals look like a hang-up
    assert len(api.hits) == before  # no request reached a route


def _tls12_handshake(url: str, pki: Pki, files: TLSFiles) -> None:
    context = ssl.create_default_context(cafile=str(pki.trusted / "ca.pem"))
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # 1.2: the server's verdict comes inside the handshake
    if files.cert is not None and files.key is not None:
        context.load_cert_chain(files.cert, files.key)
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        context.wrap_socket(sock, server_hostname="127.0.0.1").close()


def test_the_refusal_happens_in_the_handshake(url: str, pki: Pki) -> None:
    _tls12_handshake(url, pki, pki.files("dev@demo"))  # the control: an accepted certificate completes it
    for refused in (pki.ca_only(), pki.files("dev@demo", other_ca=True)):
        with pytest.raises(ssl.SSLError) as caught:
            _tls12_handshake(url, pki, refused)
        assert not isinstance(caught.value, ssl.SSLCertVerificationError)  # the server refused us, not we it


def test_a_client_that_does_not_trust_the_ca_fails_at_once(url: str, api: FakeApi, pki: Pki) -> None:
    """The system trust store does not know the local CA: a permanent error, no retries."""
    sleeps: list[float] = []
    with (
        Client(url, "token", backoff=http.Backoff(attempts=3), sleep=sleeps.append) as client,
        pytest.raises(PermanentError, match="certificate verify failed"),
    ):
        client.list_projects()
    assert sleeps == []


def test_plain_http_to_the_tls_port_gets_nothing(url: str, api: FakeApi) -> None:
    before = len(api.hits)
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/v1/projects", timeout=5).raise_for_status()
    assert len(api.hits) == before


def _sidecar_settings(
    url: str, tmp_path: Path, *, cert: Path | None = None, key: Path | None = None, ca: Path | None = None
) -> SidecarSettings:
    return SidecarSettings(
        token_secret="a-secret-of-at-least-thirty-two-chars",
        platform_url=url,
        cache_dir=tmp_path,
        platform_timeout_s=5.0,
        platform_tls_cert=cert,
        platform_tls_key=key,
        platform_tls_ca=ca,
    )


async def _resolve(settings: SidecarSettings) -> None:
    components = await build_components(settings, metrics=Metrics())
    try:
        await components.platform.resolve("m-1", authorization="Bearer token")
    finally:
        await close_components(components)


def test_sidecar_resolves_through_a_platform_that_requires_mutual_tls(
    url: str, api: FakeApi, pki: Pki, tmp_path: Path
) -> None:
    files = pki.files("sidecar")
    settings = _sidecar_settings(url, tmp_path, cert=files.cert, key=files.key, ca=files.ca)
    with pytest.raises(NotFound):  # the platform's answer: the request got through
        asyncio.run(_resolve(settings))
    assert api.hits[-1] == "resolve m-1"
    without = _sidecar_settings(url, tmp_path, ca=pki.trusted / "ca.pem")
    with pytest.raises(TemporaryError, match="platform unreachable"):
        asyncio.run(_resolve(without))


def test_through_the_egress_socket_an_https_platform_is_spoken_to_in_plain_http(
    api: FakeApi, pki: Pki, tmp_path: Path
) -> None:
    """A sandboxed trainer: the proxy behind its socket holds the certificate and speaks TLS."""
    sock = tmp_path / "platform.sock"
    server = uvicorn.Server(uvicorn.Config(api.app, uds=str(sock), log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with http.platform_client("https://platform.test", "token", uds=str(sock), tls=pki.files("dev@demo")) as c:
            response = c.get("/v1/projects")
        assert response.status_code == 200 and response.request.url.scheme == "http"
        assert api.hits[-1] == "projects"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
