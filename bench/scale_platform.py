"""Figures of the platform benchmark that need the whole local platform (`python -m
functions.local`, its embedded store and the local runner): a burst of trivial tasks into
a 3-slot pool (false verdicts, wall time), task creation latency and throughput, and
epoch reports through the public ingress."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.procs import start_local_platform, wait_local_platform
from bench.scale_store import Figure
from sdk.client import Client
from sdk.contracts.specs import ProjectSpec, TaskSpec

ROOT = Path(__file__).resolve().parents[1]
TRAINER = [sys.executable, str(ROOT / "examples" / "scripted_trainer.py")]
POOLS = {
    "default": {"budget": {"slots": 3, "cpu_milli": 3000, "memory_mb": 3072, "gpu": 0}, "tenant_cap": 3},
    "parked": {"budget": {"slots": 1, "cpu_milli": 1000, "memory_mb": 1024, "gpu": 0}, "tenant_cap": 1},
}


@contextlib.contextmanager
def platform(state: Path) -> Iterator[Client]:
    env = {"TRAINYARD_POOLS": json.dumps(POOLS), "TRAINYARD_SANDBOX": "none"}
    proc, url = start_local_platform(state, args=["--sweep-interval", "1", "--no-predictor"], env=env)
    try:
        token = wait_local_platform(proc, url, state, timeout_s=120, poll_s=0.3)
        with Client(url, token) as client:
            yield client
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        stop_trainers(state)


def stop_trainers(state: Path) -> None:
    """Trainers outlive a platform that stops (the next start adopts them): the benchmark's own,
    still queued or running in its state dir, are ended with it."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if str(state).encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)


def spec(name: str, *args: str, pool: str = "default") -> TaskSpec:
    return TaskSpec.model_validate(
        {"name": name, "command": [*TRAINER, *args], "pool": pool, "resources": {"cpu": 1, "memory_mb": 512}}
    )


def settle(c: Client, task_ids: list[str], timeout: float) -> list[object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = [c.list_jobs(t)[-1] for t in task_ids]
        if all(j.is_terminal and j.cleaned_up for j in last):  # type: ignore[attr-defined]
            return last
        time.sleep(0.5)
    raise AssertionError("the burst did not settle")


def trainer_time(c: Client, project: str) -> float:
    """Wall time of one trivial trainer alone (launch to exit), the burst's unit."""
    task = c.create_task(project, spec("alone", "--epochs", "1", "--sleep", "0")).task.task_id
    [job] = settle(c, [task], 120)
    return (job.finished_at - job.launched_at).total_seconds()  # type: ignore[attr-defined]


def burst(c: Client, project: str, runs: int, unit: float, size: int = 60) -> list[Figure]:
    false_verdicts, walls = 0, []
    for run in range(runs):
        begun = time.monotonic()
        ids = [
            c.create_task(project, spec(f"b{run}-{i}", "--epochs", "1", "--sleep", "0")).task.task_id
            for i in range(size)
        ]
        jobs = settle(c, ids, 60 + size * unit * 2)
        walls.append(time.monotonic() - begun)
        false_verdicts += sum(1 for j in jobs if j.state != "SUCCEEDED")  # type: ignore[attr-defined]
    bound = 1.5 * (size * unit / 3)
    return [
        Figure(
            f"{size}-task burst, 3 slots ({runs} runs)",
            f"{false_verdicts} false verdicts",
            "every job SUCCEEDED" if not false_verdicts else "see platform.log",
        ),
        Figure(
            f"{size}-task burst wall time",
            f"{statistics.median(walls):.1f} s",
            f"trainer alone {unit:.2f} s; 1.5 x {size} x trainer / 3 = {bound:.1f} s",
        ),
    ]


def creation(c: Client, project: str) -> list[Figure]:
    one = []
    for i in range(30):
        begun = time.perf_counter()
        c.create_task(project, spec(f"c{i}", "--epochs", "1", pool="parked"))
        one.append(time.perf_counter() - begun)

    def create(i: int) -> None:
        c.create_task(project, spec(f"d{i}", "--epochs", "1", pool="parked"))

    begun = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(80)))
    rate = 80 / (time.perf_counter() - begun)
    return [
        Figure("task creation", f"p50 {statistics.median(one) * 1000:.0f} ms", f"{rate:.1f} tasks/s with 8 clients")
    ]


def ingress(c: Client, project: str, *, epochs: int, metrics: int = 10, each: bool) -> Figure:
    """One job reporting `epochs` epochs of `metrics` values through the public ingress, timed
    from its `running` to its outcome as the platform applied them."""
    command = [
        sys.executable,
        str(ROOT / "examples" / "fast_reporter.py"),
        "--epochs",
        str(epochs),
        "--metrics",
        str(metrics),
    ]
    body = {
        "name": "fast",
        "command": command + (["--each"] if each else []),
        "resources": {"cpu": 1, "memory_mb": 512},
    }
    task = c.create_task(project, TaskSpec.model_validate(body)).task.task_id
    [job] = settle(c, [task], 600)
    seen = [e.epoch for e in c.epochs(job.job_id)]  # type: ignore[attr-defined]
    took = (job.finished_at - job.running_at).total_seconds()  # type: ignore[attr-defined]
    how = "one report per round trip (--each)" if each else "the SDK's automatic batches"
    return Figure(
        f"epoch reports through the ingress, {'single' if each else 'batched'}",
        f"{epochs * metrics / took:,.0f} metric values/s",
        f"{epochs / took:,.0f} epochs/s of {metrics} values; {how}; {epochs} epochs applied in order: "
        f"{seen == list(range(1, epochs + 1))}; state {job.state}",  # type: ignore[attr-defined]
    )


def run(*, runs: int = 1, size: int = 60, epochs: int = 300) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="trainyard-bench-") as tmp, platform(Path(tmp)) as c:
        project = c.create_project(ProjectSpec(name="bench", purpose="platform benchmark")).project_id
        unit = trainer_time(c, project)
        figures = burst(c, project, runs, unit, size)
        figures += creation(c, project)
        figures.append(ingress(c, project, epochs=epochs, each=True))
        figures.append(ingress(c, project, epochs=epochs * 3, each=False))
        return figures
