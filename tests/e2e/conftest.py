"""The whole local platform, started as a user starts it (`python -m functions.local`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.procs import start_local_platform, wait_local_platform
from sdk.client import Client

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


@pytest.fixture(scope="session")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    state = tmp_path_factory.mktemp("platform")
    env = {
        "TRAINYARD_POOLS": json.dumps(POOLS),
        "TRAINYARD_RECONCILE_GRACE_S": "5",
        "TRAINYARD_EXIT_GRACE_S": "1",
    }
    # its group holds the predictor too: killpg leaves nothing behind
    proc, url = start_local_platform(state, args=["--sweep-interval", "0.5"], env=env)
    try:
        # the first start extracts the embedding table; CI machines are shared
        token = wait_local_platform(proc, url, state, timeout_s=180, poll_s=0.2)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    platform = LocalPlatform(url=url, token=token, state=state, proc=proc)
    yield platform
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
