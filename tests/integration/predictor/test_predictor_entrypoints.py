"""`python -m predictor.inference` and `python -m predictor.sidecar` as real processes, configured
from flags and environment as a deployment would, answering the seed's example."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.predictor.stack import SECRET, FakePlatform

pytestmark = pytest.mark.integration


@contextmanager
def process(args: list[str], env: dict[str, str], *, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:  # a file, not a pipe: nobody has to keep draining it
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes], *, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout_s}s")


def test_entry_points_serve_the_seed_example(
    tmp_path: Path, embeddings_dir: Path, platform: FakePlatform, intent_checkpoint: bytes
) -> None:
    model = platform.publish("acme", intent_checkpoint, epoch=60)
    grpc_port, http_port = free_port(), free_port()
    inference_args = [
        "predictor.inference",
        "--port",
        str(grpc_port),
        "--embeddings-dir",
        str(embeddings_dir),
        "--model-root",
        str(tmp_path / "cache" / "models"),
    ]
    sidecar_env = {
        "TRAINYARD_TOKEN_SECRET": SECRET,
        "TRAINYARD_SIDECAR_PLATFORM_URL": platform.url,
        "TRAINYARD_SIDECAR_CACHE_DIR": str(tmp_path / "cache"),
        "TRAINYARD_SIDECAR_INFERENCE_TARGET": f"127.0.0.1:{grpc_port}",
    }
    logs = tmp_path / "inference.log", tmp_path / "sidecar.log"
    with (
        process(inference_args, {}, log=logs[0]) as inference,
        process(
            ["predictor.sidecar", "--port", str(http_port), "--grpc-port", str(free_port())], sidecar_env, log=logs[1]
        ) as sidecar,
    ):
        base = f"http://127.0.0.1:{http_port}"
        wait_ready(base + "/healthz", sidecar, log=logs[1])
        wait_ready(base + "/readyz", inference, log=logs[0])
        from sdk.auth import tokens

        token = tokens.user_token(tenant="acme", sub="ana", secret=SECRET)
        response = httpx.post(
            base + "/v2/language/intent",
            headers={"Authorization": f"Bearer {token}"},
            json={"modelId": model.model_id, "document": "my password stopped working"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["probabilities"][0]["label"] == "Password Help"
        sidecar.send_signal(signal.SIGTERM)
        inference.send_signal(signal.SIGTERM)
        # Both shut down gracefully; uvicorn re-raises the signal it handled, as is conventional.
        assert sidecar.wait(timeout=15) in (0, -signal.SIGTERM)
        assert inference.wait(timeout=15) == 0
