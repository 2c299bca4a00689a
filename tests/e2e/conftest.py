"""The whole local platform, started as a user starts it (`python -m functions.local`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sdk.client import Client
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
POOLS = {"default": {"budget": {"slots": 12, "cpu_milli": 12000, "memory_mb": 16384, "gpu": 0}, "tenant_cap": 12}}


@dataclass
class LocalPlatform:
    url: str
    token: str
    state: Path
    proc: subprocess.Popen[bytes]

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, token or self.token)

    @property
    def secret(self) -> str:
        return (self.state / "secret").read_text().strip()

    def log(self) -> str:
        return (self.state / "platform.log").read_text(errors="replace")


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, state: Path) -> None:
    deadline = time.monotonic() + 180  # the first start extracts the embedding table; CI machines are shared
    while True:
        assert proc.poll() is None, (state / "platform.log").read_text()
        try:
            if (state / "local.json").exists() and httpx.get(url + "/healthz", timeout=1).status_code == 200:
                # The API does not wait for the predictor; the tests that predict do.
                predictor = json.loads((state / "local.json").read_text()).get("predictor_url")
                if predictor is None or httpx.get(predictor + "/readyz", timeout=1).status_code == 200:
                    return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "platform did not start"
        time.sleep(0.2)


@pytest.fixture(scope="session")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    state = tmp_path_factory.mktemp("platform")
    port = free_port()
    env = {
        **os.environ,
        "TRAINYARD_POOLS": json.dumps(POOLS),
        "TRAINYARD_RECONCILE_GRACE_S": "5",
        "TRAINYARD_EXIT_GRACE_S": "1",
    }
    with (state / "platform.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions.local",
                "--port",
                str(port),
                "--state-dir",
                str(state),
                "--sweep-interval",
                "0.5",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )  # its group holds the predictor too: killpg leaves nothing behind
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, url, state)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    token = json.loads((state / "local.json").read_text())["token"]
    platform = LocalPlatform(url=url, token=token, state=state, proc=proc)
    yield platform
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
