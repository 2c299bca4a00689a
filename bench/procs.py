"""Server processes for the benchmark: pinned to one core with taskset, as in production
where the two containers of a pod share a CPU budget."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SECRET = "bench-secret-bench-secret-0123456789"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Pinning:
    """taskset core for the servers, CPU set for load generators; None where pinning is impossible."""

    server_core: str | None
    client_cpus: set[int] | None

    @classmethod
    def plan(cls) -> Pinning:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(str(available[0]), set(available[1:]))


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn(name: str, module: str, args: list[str], *, env: dict[str, str], workdir: Path, core: str | None) -> Proc:
    log = workdir / f"{name}.log"
    command = [sys.executable, "-m", module, *args]
    if core is not None:
        command = ["taskset", "-c", core, *command]
    with log.open("wb") as out:
        popen = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


def wait_http(url: str, proc: Proc, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in {timeout_s}s:\n{proc.log.read_text()[-3000:]}")


def start_local_platform(state: Path, *, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """The whole local platform as a user starts it (`python -m functions.local` with `args`) on a
    free port, its state in `state` and its output in state/platform.log, in a process group of
    its own (killpg stops the predictor it starts too); returns the process and its URL. The
    e2e tests (tests/e2e/conftest.py) and bench/scale_platform.py start it so."""
    port = free_port()
    command = [sys.executable, "-m", "functions.local", "--port", str(port), "--state-dir", str(state), *args]
    with (state / "platform.log").open("wb") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    return proc, f"http://127.0.0.1:{port}"


def wait_local_platform(
    proc: subprocess.Popen[bytes], url: str, state: Path, *, timeout_s: float, poll_s: float
) -> str:
    """Until the platform wrote state/local.json, its /healthz answers 200 and, where local.json
    names a predictor, the predictor's /readyz too (the API does not wait for the predictor);
    returns the token in local.json. Fails with platform.log when the platform exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, (state / "platform.log").read_text()
        try:
            if (state / "local.json").exists() and httpx.get(url + "/healthz", timeout=1).status_code == 200:
                predictor = json.loads((state / "local.json").read_text()).get("predictor_url")
                if predictor is None or httpx.get(predictor + "/readyz", timeout=1).status_code == 200:
                    return str(json.loads((state / "local.json").read_text())["token"])
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "platform did not start"
        time.sleep(poll_s)


def start_inference(
    *,
    workdir: Path,
    model_root: Path,
    embeddings_dir: Path,
    budget_bytes: int,
    core: str | None,
    name: str = "inference",
    port: int | None = None,
) -> tuple[Proc, int]:
    port = port or free_port()
    args = [
        "--port",
        str(port),
        "--model-root",
        str(model_root),
        "--embeddings-dir",
        str(embeddings_dir),
        "--memory-budget-bytes",
        str(budget_bytes),
    ]
    return spawn(name, "predictor.inference", args, env={}, workdir=workdir, core=core), port


def start_sidecar(
    *, workdir: Path, cache_dir: Path, platform_url: str, grpc_port: int, core: str | None
) -> tuple[Proc, str]:
    port = free_port()
    env = {
        "TRAINYARD_TOKEN_SECRET": SECRET,
        "TRAINYARD_SIDECAR_PLATFORM_URL": platform_url,
        "TRAINYARD_SIDECAR_CACHE_DIR": str(cache_dir),
        "TRAINYARD_SIDECAR_INFERENCE_TARGET": f"127.0.0.1:{grpc_port}",
        "TRAINYARD_SIDECAR_PORT": str(port),
        "TRAINYARD_SIDECAR_GRPC_PORT": str(free_port()),
        "TRAINYARD_SIDECAR_RESOLVE_TTL_S": "600",
    }
    proc = spawn("sidecar", "predictor.sidecar", [], env=env, workdir=workdir, core=core)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc)
    return proc, base
