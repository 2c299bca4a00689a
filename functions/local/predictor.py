"""Local mode runs the predictor as a cluster does: two processes, a REST sidecar and a
gRPC inference server, next to the platform. Started as processes by module name, so
`functions` never imports `predictor` (they share only the SDK).

The platform starts them first thing (their imports, torch's above all, take seconds) and
does not wait for them to serve its API: `wait=False` reports their readiness in the log
("predictor ready") while the platform comes up and runs. Their URL is known at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("trainyard.local.predictor")

# What the predictor's two processes import beyond the platform's own dependencies.
PREDICTOR_MODULES = (
    "torch",
    "numpy",
    "grpc",
    "grpc_health",
    "google.protobuf",
    "prometheus_client",
    "predictor.generated",
)


def missing_modules() -> list[str]:
    """The predictor's modules this interpreter lacks: none once trainyard[predictor] is installed
    (and, in a source checkout, `make proto` has generated the gRPC code)."""
    missing = []
    for name in PREDICTOR_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package itself is missing
            found = False
        if not found:
            missing.append(name)
    return missing


@dataclass(frozen=True)
class PredictorProcesses:
    url: str  # the sidecar's REST base URL
    grpc_target: str  # the inference server (unix:PATH, or 127.0.0.1:PORT with mutual TLS)
    oip_grpc_target: str  # the sidecar's Open Inference Protocol gRPC service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(module: str, args: list[str], *, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Same process group as the platform: whoever stops the group (Ctrl-C, a supervisor's
        # killpg) stops the predictor too; and a SIGKILL of the platform alone ends it as well.
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent(os.getpid()),
        )


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    """For preexec_fn: the child gets SIGTERM when the platform dies, however it dies (Linux)."""

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the line above took effect
            os._exit(1)

    return arm


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], *, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"the predictor exited at start-up; see {log}")
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(f"{url}/readyz", timeout=1) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the predictor was not ready within {timeout_s:.0f} s; see {log}")


def _report_ready(url: str, procs: list[subprocess.Popen[bytes]], *, timeout_s: float, log_path: Path) -> None:
    began = time.monotonic()
    try:
        _wait_ready(url, procs, timeout_s=timeout_s, log=log_path)
    except RuntimeError as exc:
        log.error("predictor not ready", extra={"error": str(exc)})
    else:
        log.info("predictor ready", extra={"url": url, "waited_s": round(time.monotonic() - began, 2)})


@contextlib.contextmanager
def predictor(
    *,
    state_dir: Path,
    platform_url: str,
    token_secret: str,
    host: str = "127.0.0.1",
    timeout_s: float = 120.0,
    tls_env: Mapping[str, str] | None = None,
    wait: bool = True,
) -> Iterator[PredictorProcesses]:
    """Run inference + sidecar until the block ends; with `wait`, the block starts once they
    are ready, else at once (their readiness is then logged). The sidecar verifies the same tokens
    as the platform and resolves models through it; archives are cached under state_dir.
    `tls_env`: TRAINYARD_INFERENCE_TLS_* / TRAINYARD_SIDECAR_*_TLS_* for mutual TLS."""
    cache = state_dir / "predictor"
    cache.mkdir(parents=True, exist_ok=True)
    log = state_dir / "predictor.log"
    http_port, oip_port = _free_port(), _free_port()
    # Neither process gets the platform's S3 keys; only the sidecar (which verifies tokens) gets
    # the token secret; inference needs no secret at all.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "TRAINYARD_TOKEN_SECRET"}
    env.update(tls_env or {})
    with _inference_address(state_dir, mutual_tls=bool(tls_env)) as (listen, target):
        inference = _spawn(
            "predictor.inference",
            [*listen, "--model-root", str(cache / "models"), "--embeddings-dir", str(state_dir / "embeddings")],
            log=log,
            env=env,
        )
        env = {**env, "TRAINYARD_TOKEN_SECRET": token_secret}
        sidecar = _spawn(
            "predictor.sidecar",
            [
                "--host",
                host,
                "--port",
                str(http_port),
                "--grpc-port",
                str(oip_port),
                "--platform-url",
                platform_url,
                "--inference-target",
                target,
                "--cache-dir",
                str(cache),
            ],
            log=log,
            env=env,
        )
        procs = [inference, sidecar]
        url = f"http://{host}:{http_port}"
        try:
            if wait:
                _wait_ready(url, procs, timeout_s=timeout_s, log=log)
            else:
                threading.Thread(
                    target=_report_ready,
                    args=(url, procs),
                    kwargs={"timeout_s": timeout_s, "log_path": log},
                    name="trainyard-predictor-ready",
                    daemon=True,
                ).start()
            yield PredictorProcesses(url=url, grpc_target=target, oip_grpc_target=f"{host}:{oip_port}")
        finally:
            for proc in reversed(procs):
                _stop(proc)


@contextlib.contextmanager
def _inference_address(state_dir: Path, *, mutual_tls: bool) -> Iterator[tuple[list[str], str]]:
    """Where inference listens (its flags) and what the sidecar dials. Never another interface,
    whatever `--host` the platform got: the sidecar is its only client. Plaintext: a UNIX socket in
    a private (0700) directory, so no other local user reaches it; mutual TLS: 127.0.0.1."""
    if mutual_tls:
        port = _free_port()
        yield ["--host", "127.0.0.1", "--port", str(port)], f"127.0.0.1:{port}"
        return
    run = state_dir / "predictor" / "run"
    if len(str(run / _SOCKET)) >= _SUN_PATH_MAX:  # a deep state dir: the socket goes to a private temp dir
        with tempfile.TemporaryDirectory(prefix="trainyard-") as short:  # mkdtemp makes it 0700
            yield ["--socket", f"{short}/{_SOCKET}"], f"unix:{short}/{_SOCKET}"
        return
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    run.chmod(0o700)
    (run / _SOCKET).unlink(missing_ok=True)  # a stale socket from a killed run
    yield ["--socket", str(run / _SOCKET)], f"unix:{run / _SOCKET}"


_SOCKET = "inference.sock"
_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux, with its NUL; keep a margin
