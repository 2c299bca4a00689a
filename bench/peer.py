"""MLServer 1.7.1 beside trainyard, in the same run, on the same pinned core, with the same
model and request shape: the side-by-side table of issue 13, as ratios.

MLServer lives in its own venv (.venv/mlserver, `make bench` installs it; its pins differ
from ours) and serves the intent model through bench/mlserver_runtime.py, in both of its
configurations: `parallel_workers=1` (its default: inference in a worker process) and
`parallel_workers=0` (inference in the server process). Rounds are interleaved (every
server, every client count, then again) and medians are reported, so a burst of load from
elsewhere on a shared machine hits every server alike.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench import loadgen, procs
from sdk.models import archive
from sdk.models.intent import DEFAULT_MAX_TOKENS, load_state

REPO = Path(__file__).resolve().parent.parent
MLSERVER_VENV = REPO / ".venv" / "mlserver"
MLSERVER_VERSION = "1.7.1"
CONFIGS = (1, 0)  # parallel_workers
CLIENTS = (1, 4, 16)


def mlserver_bin() -> Path | None:
    path = MLSERVER_VENV / "bin" / "mlserver"
    return path if path.exists() else None


def export_model(model_dir: Path, emb: Path, out: Path) -> Path:
    """The trained head as .npz (+ labels, table, max tokens) for the numpy runtime."""
    manifest = archive.read_extracted_manifest(model_dir)
    state = load_state((model_dir / archive.WEIGHTS).read_bytes())
    model = out / "intent"
    model.mkdir(parents=True)
    np.savez(model / "head.npz", **{k: v.numpy() for k, v in state.items()})
    (model / "head.json").write_text(
        json.dumps(
            {
                "embeddings": str(emb),
                "labels": list(manifest.labels),
                "max_tokens": int(manifest.config.get("max_tokens", DEFAULT_MAX_TOKENS)),
            }
        )
    )
    (model / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "intent",
                "implementation": "bench.mlserver_runtime.IntentRuntime",
                "parameters": {"uri": str(model)},
            }
        )
    )
    return out


@contextmanager
def mlserver(
    binary: Path, model_root: Path, *, parallel_workers: int, core: str | None, workdir: Path
) -> Iterator[tuple[procs.Proc, str]]:
    root = workdir / f"mlserver-pw{parallel_workers}"
    shutil.copytree(model_root, root)
    http_port = procs.free_port()
    (root / "settings.json").write_text(
        json.dumps(
            {
                "http_port": http_port,
                "grpc_port": procs.free_port(),
                "metrics_port": procs.free_port(),
                "parallel_workers": parallel_workers,
                "debug": False,
                "host": "127.0.0.1",
            }
        )
    )
    log = workdir / f"mlserver-pw{parallel_workers}.log"
    command = [str(binary), "start", str(root)]
    if core is not None:
        command = ["taskset", "-c", core, *command]
    with log.open("wb") as out:
        popen = subprocess.Popen(
            command,
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    proc = procs.Proc(f"mlserver-pw{parallel_workers}", popen, log)
    base = f"http://127.0.0.1:{http_port}"
    try:
        procs.wait_http(base + "/v2/models/intent/ready", proc, timeout_s=180)
        yield proc, base
    finally:
        proc.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (MLServer's workers included)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    tick = 100.0  # os.sysconf("SC_CLK_TCK") on Linux
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        todo.extend(children.get(p, []))
    return total


@dataclass
class Target:
    name: str
    url: str
    body: dict[str, object]
    headers: dict[str, str]
    pids: list[int]


@dataclass
class Sample:
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def median(self, name: str) -> float:
        values = getattr(self, name)
        return statistics.median(values) if values else float("nan")


def measure(
    targets: list[Target], *, rounds: int, duration_s: float, workdir: Path, cpus: set[int] | None
) -> dict[tuple[str, int], Sample]:
    results: dict[tuple[str, int], Sample] = {}
    for _ in range(rounds):
        for clients in CLIENTS:
            for t in targets:
                before = sum(cpu_seconds(p) for p in t.pids)
                load = loadgen.wrk(
                    t.url, t.body, t.headers, clients=clients, duration_s=duration_s, workdir=workdir, cpus=cpus
                )
                spent = sum(cpu_seconds(p) for p in t.pids) - before
                s = results.setdefault((t.name, clients), Sample())
                s.p50.append(load.p50_s or float("nan"))
                s.p99.append(load.p99_s or float("nan"))
                s.rps.append(load.rps)
                s.cpu_ms.append(spent / max(1, load.requests) * 1e3)
                s.errors += load.errors
    return results


def oip_body(document: str) -> dict[str, object]:
    return {"inputs": [{"name": "document", "datatype": "BYTES", "shape": [1], "data": [document]}]}


def side_by_side(
    *,
    work: Path,
    emb: Path,
    model_dir: Path,
    ours: list[Target],
    core: str | None,
    cpus: set[int] | None,
    rounds: int,
    duration_s: float,
    document: str,
    note: Callable[[str], None],
) -> tuple[dict[tuple[str, int], Sample], list[str]] | None:
    binary = mlserver_bin()
    if binary is None:
        note(
            f"MLServer {MLSERVER_VERSION} is not installed in {MLSERVER_VENV} (make bench installs it): "
            "no side-by-side table"
        )
        return None
    if not loadgen.have("wrk"):
        note("wrk is missing: no side-by-side table (the Python client would be the bottleneck)")
        return None
    model_root = export_model(model_dir, emb, work / "mlserver-models")
    with ExitStack() as stack:
        targets = list(ours)
        for pw in CONFIGS:
            proc, base = stack.enter_context(mlserver(binary, model_root, parallel_workers=pw, core=core, workdir=work))
            check = httpx.post(base + "/v2/models/intent/infer", json=oip_body(document), timeout=30)
            check.raise_for_status()
            targets.append(
                Target(
                    f"MLServer {MLSERVER_VERSION} parallel_workers={pw}",
                    base + "/v2/models/intent/infer",
                    oip_body(document),
                    {},
                    [proc.pid],
                )
            )
        time.sleep(1.0)  # let start-up work settle before the first round
        return measure(targets, rounds=rounds, duration_s=duration_s, workdir=work, cpus=cpus), [
            t.name for t in targets
        ]
