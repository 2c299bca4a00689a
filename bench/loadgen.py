"""Load generators: wrk (HTTP) and h2load (gRPC over HTTP/2) from Debian, so the client is
not the bottleneck; plain Python loops for per-call percentiles where no C tool gives them,
and as a fallback when the tools are missing (labelled as such in the table)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Load:
    tool: str
    clients: int
    requests: int
    errors: int
    rps: float
    p50_s: float | None
    p99_s: float | None
    mean_s: float | None = None


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def _seconds(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def wrk(
    url: str,
    body: dict[str, object],
    headers: dict[str, str],
    *,
    clients: int,
    duration_s: float,
    workdir: Path,
    cpus: set[int] | None,
) -> Load:
    script = workdir / "post.lua"
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(json.dumps(body))}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    threads = max(1, min(clients, len(cpus) if cpus else 1))
    seconds = max(1, round(duration_s))
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run(_pinned(command, cpus), capture_output=True, text=True, check=True).stdout
    pct = {m[0]: _seconds(m[1], m[2]) for m in re.findall(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        n_errors += sum(int(x) for x in socket_errors.groups())
    return Load(
        "wrk",
        clients,
        int(total.group(1)) if total else 0,
        n_errors,
        float(rps.group(1)) if rps else 0.0,
        pct.get("50"),
        pct.get("99"),
    )


def h2load_grpc(
    url: str,
    message: bytes,
    headers: dict[str, str],
    *,
    clients: int,
    duration_s: float,
    workdir: Path,
    cpus: set[int] | None,
) -> Load:
    body = workdir / "grpc-body.bin"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)  # gRPC length-prefixed frame
    command = [
        "h2load",
        "-c",
        str(clients),
        "-m",
        "1",
        "-D",
        str(max(1, round(duration_s))),
        "-d",
        str(body),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run(_pinned([*command, url], cpus), capture_output=True, text=True, check=True).stdout
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    timing = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", out)
    mean = _seconds(timing.group(5), timing.group(6)) if timing else None
    return Load(
        "h2load",
        clients,
        int(done.group(1)) if done else 0,
        int(done.group(3)) + int(done.group(4)) if done else 0,
        float(rps.group(1)) if rps else 0.0,
        None,
        None,
        mean,
    )


def python_loop(call: Callable[[], object], *, n: int, warmup: int = 50) -> Load:
    for _ in range(warmup):
        call()
    samples = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return Load(
        "python", 1, n, 0, n / elapsed, percentile(samples, 50), percentile(samples, 99), sum(samples) / len(samples)
    )


def python_http(url: str, body: dict[str, str], headers: dict[str, str], *, clients: int, duration_s: float) -> Load:
    """Fallback when wrk is missing: threads of httpx clients (the client is then the bottleneck)."""
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration_s

    def worker() -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                response = client.post(url, json=body, headers=headers)
                with lock:
                    samples.append(time.perf_counter() - t0)
                    errors[0] += response.status_code != 200

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Load(
        "python-httpx",
        clients,
        len(samples),
        errors[0],
        len(samples) / duration_s,
        percentile(samples, 50),
        percentile(samples, 99),
    )


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def _pinned(command: list[str], cpus: set[int] | None) -> list[str]:
    if cpus and have("taskset"):
        return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus)), *command]
    return command
