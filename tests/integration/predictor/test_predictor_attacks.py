"""Issue 9, point 3: the predictor's promises, each attacked through its public surface.

- a cached resolution never serves a token the platform would refuse: a trainer's job token,
  a role that may not predict, a principal the platform refuses (the decision is per token);
- /metrics names no tenant and no model to an anonymous caller;
- half-open requests (headers or body never finished) are cut off, not held for ever;
- an empty document is a 400 that says so, not a confident answer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from predictor.inference.server import start
from predictor.inference.settings import InferenceSettings
from predictor.sidecar.settings import SidecarSettings
from sdk.auth import tokens
from sdk.auth.tokens import Role
from tests.conftest import free_port
from tests.integration.predictor.stack import SECRET, Published, Stack, serve_sidecar

pytestmark = pytest.mark.integration

INTENT = "/v2/language/intent"


@pytest.fixture(scope="module")
def model(stack: Stack, intent_checkpoint: bytes) -> Published:
    published = stack.platform.publish("acme", intent_checkpoint)
    warm = httpx.post(
        stack.url + INTENT,
        json={"modelId": published.model_id, "document": "hello"},
        headers=stack.headers("acme"),
        timeout=10,
    )
    assert warm.status_code == 200, warm.text  # the model's resolution is now cached for tenant acme
    return published


def ask(stack: Stack, token: str, model_id: str, document: str = "my password stopped working") -> httpx.Response:
    return httpx.post(
        stack.url + INTENT,
        json={"modelId": model_id, "document": document},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def job_token(tenant: str, job: str) -> str:
    claims = tokens.Claims(sub=f"job:{job}", tenant=tenant, roles=(Role.JOB,), job=job, exp=int(time.time()) + 600)
    return tokens.issue(claims, secret=SECRET)


@pytest.mark.parametrize("who", ["job token", "job token claiming data-scientist", "approver", "no role"])
def test_a_cached_model_is_not_served_to_a_token_that_may_not_predict(stack: Stack, model: Published, who: str) -> None:
    token = {
        "job token": job_token("acme", "j-ended"),
        "job token claiming data-scientist": tokens.issue(
            tokens.Claims(
                sub="job:j-1", tenant="acme", roles=(Role.DATA_SCIENTIST,), job="j-1", exp=int(time.time()) + 600
            ),
            secret=SECRET,
        ),
        "approver": tokens.user_token(tenant="acme", sub="apu", secret=SECRET, roles=(Role.APPROVER,)),
        "no role": tokens.user_token(tenant="acme", sub="nobody", secret=SECRET, roles=()),
    }[who]
    before = stack.platform.resolves[model.model_id]
    response = ask(stack, token, model.model_id)
    assert response.status_code == 403, response.text
    assert "predictions" in response.json()["message"]
    assert stack.platform.resolves[model.model_id] == before  # refused locally, on every request


def test_the_platform_judges_each_new_token_even_for_a_cached_model(stack: Stack, model: Published) -> None:
    fresh = tokens.user_token(tenant="acme", sub="dora", secret=SECRET)
    before = stack.platform.resolves[model.model_id]
    assert ask(stack, fresh, model.model_id).status_code == 200
    assert stack.platform.resolves[model.model_id] == before + 1  # this token's first request: asked
    for _ in range(3):
        assert ask(stack, fresh, model.model_id).status_code == 200
    assert stack.platform.resolves[model.model_id] == before + 1  # then its decision is cached, per token


def test_a_principal_the_platform_refuses_gets_nothing_from_the_cache(stack: Stack, model: Published) -> None:
    stack.platform.refused_subs.add("mallory")
    try:
        token = tokens.user_token(tenant="acme", sub="mallory", secret=SECRET)
        first = ask(stack, token, model.model_id)
        assert first.status_code == 403, first.text
        resolves = stack.platform.resolves[model.model_id]
        second = ask(stack, token, model.model_id)  # the refusal is remembered for this token
        assert second.status_code == 403
        assert stack.platform.resolves[model.model_id] == resolves
        assert ask(stack, stack.token("acme"), model.model_id).status_code == 200  # others are unaffected
    finally:
        stack.platform.refused_subs.discard("mallory")


@pytest.mark.parametrize("document", ["", "   ", "\n\t"])
def test_an_empty_document_is_a_400_that_says_so(stack: Stack, model: Published, document: str) -> None:
    response = ask(stack, stack.token("acme"), model.model_id, document)
    assert response.status_code == 400
    assert response.json()["problems"] == [{"field": "document", "message": "is empty: send the text to classify"}]


def test_metrics_need_the_metrics_token(stack: Stack, model: Published) -> None:
    user = stack.headers("acme")
    for headers in ({}, user, {"Authorization": "Bearer " + "x" * 32}):
        response = httpx.get(stack.url + "/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert model.model_id not in response.text
    scraped = httpx.get(stack.url + "/metrics", headers={"Authorization": f"Bearer {stack.metrics_token}"})
    assert scraped.status_code == 200
    assert model.model_id in scraped.text


@pytest.fixture(scope="module")
def guarded(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second sidecar on the same inference server: /metrics open (no metrics token), short read timeouts."""
    settings = SidecarSettings(
        port=free_port(),
        token_secret=SECRET,
        platform_url=stack.platform.url,
        inference_target=f"127.0.0.1:{stack.inference.port}",
        cache_dir=stack.cache_dir,
        grpc_port=None,
        header_timeout_s=0.5,
        body_timeout_s=0.5,
    )
    with serve_sidecar(settings) as (url, _app):
        yield url


def test_open_metrics_carry_no_tenant_or_model(stack: Stack, model: Published, guarded: str) -> None:
    assert ask_at(guarded, stack.token("acme"), model.model_id).status_code == 200
    text = httpx.get(guarded + "/metrics").text
    assert "trainyard_predict_requests_total" in text
    assert "acme" not in text and model.model_id not in text and "tenant=" not in text


def ask_at(url: str, token: str, model_id: str) -> httpx.Response:
    return httpx.post(
        url + INTENT,
        json={"modelId": model_id, "document": "where is my package"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def half_open(url: str, payload: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(payload)
    return s


def read_until_closed(s: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the server still holds the connection (read {data!r})")


def test_200_half_open_requests_are_cut_off_and_hold_nothing(stack: Stack, model: Published, guarded: str) -> None:
    token = stack.token("acme")
    partial = f"POST {INTENT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n".encode()  # no blank line
    attackers = [half_open(guarded, partial) for _ in range(200)]
    try:
        served = ask_at(guarded, token, model.model_id)  # the service still answers while they hang
        assert served.status_code == 200
        deadline = time.monotonic() + 10
        answers = [read_until_closed(s, deadline) for s in attackers]
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), {a[:40] for a in answers}
    finally:
        for s in attackers:
            s.close()


def test_a_body_that_never_arrives_is_cut_off(stack: Stack, model: Published, guarded: str) -> None:
    head = (
        f"POST {INTENT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {stack.token('acme')}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    ).encode()
    s = half_open(guarded, head + b'{"modelId": "')
    try:
        started = time.monotonic()
        answer = read_until_closed(s, started + 10)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 5
    finally:
        s.close()
    assert ask_at(guarded, stack.token("acme"), model.model_id).status_code == 200


def test_a_slow_but_timely_client_is_served(stack: Stack, model: Published, guarded: str) -> None:
    body = f'{{"modelId": "{model.model_id}", "document": "where is my package"}}'.encode()
    head = (
        f"POST {INTENT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {stack.token('acme')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    s = half_open(guarded, head[:20])
    try:
        time.sleep(0.2)
        s.sendall(head[20:])
        time.sleep(0.2)
        s.sendall(body)
        answer = read_until_closed(s, time.monotonic() + 10)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_local_mode_inference_listens_on_a_private_unix_socket(tmp_path: Path, embeddings_dir: Path) -> None:
    """What local mode starts (functions.local.predictor): inference on a UNIX socket in a 0700
    directory, whatever --host the platform got; the real server answers there and nowhere else."""
    from functions.local.predictor import _inference_address

    with _inference_address(tmp_path, mutual_tls=False) as (listen, target):
        assert listen[0] == "--socket" and target == f"unix:{listen[1]}"
        assert Path(listen[1]).parent.stat().st_mode & 0o077 == 0  # no other local user can even reach it
        settings = InferenceSettings(
            socket=Path(listen[1]), model_root=tmp_path / "models", embeddings_dir=embeddings_dir
        )
        running = start(settings)
        try:
            assert running.port == 1  # grpc's answer for a UNIX socket: no TCP port was opened
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            running.stop(0)
