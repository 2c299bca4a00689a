"""The prediction path's benchmark (run it with `python -m bench.run`), printed as a table.

Server processes (inference + sidecar) run pinned to one core with taskset, the load
generators (wrk, h2load) and this process on the other(s). Takes about two minutes on
a 2-core machine. Figures are wall-clock latencies seen by the client; ratios are to
the raw torch forward of the same document.
"""

from __future__ import annotations

import argparse
import os
import platform as host
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import loadgen, models, peer, procs, scenarios
from bench.platform import BenchPlatform, running_platform
from bench.scenarios import Density, Row
from sdk.auth import tokens
from sdk.models import archive, embeddings

MS = 1e-3


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.0f} µs" if seconds < MS else f"{seconds / MS:.2f} ms"


def _met(ok: bool) -> str:
    return "[green]yes" if ok else "[red]NO"


def ratio(row: Row, raw_p50: float) -> str:
    if not row.p50_s:
        return "-"
    r = row.p50_s / raw_p50
    return f"{r:.1f}x" if r < 10 else f"{r:.0f}x"


def serving(args: argparse.Namespace, work: Path, emb: Path, checkpoint: bytes, pins: procs.Pinning) -> list[Row]:
    server_core, client_cpus = pins.server_core, pins.client_cpus
    rows: list[Row] = []
    table = embeddings.load(emb)
    param_bytes, raw_dir = scenarios.model_param_bytes(checkpoint, table, work)
    rows.extend(scenarios.raw_forward(raw_dir, table))
    with running_platform() as platform:
        cache = work / "cache"
        inference, grpc_port = procs.start_inference(
            workdir=work, model_root=cache / "models", embeddings_dir=emb, budget_bytes=64 << 20, core=server_core
        )
        sidecar, base = procs.start_sidecar(
            workdir=work, cache_dir=cache, platform_url=platform.url, grpc_port=grpc_port, core=server_core
        )
        running = [sidecar, inference]
        try:
            procs.wait_http(base + "/readyz", inference)
            rows += warm(args, work, platform, base, grpc_port, checkpoint, client_cpus)
            if args.peer:
                rows += side_by_side(
                    args, work, emb, raw_dir, platform, base, checkpoint, pins, pids=[sidecar.pid, inference.pid]
                )
            if not args.only_peer:
                rows += cold(
                    work, platform, base, cache, emb, checkpoint, server_core, running=running, grpc_port=grpc_port
                )
        finally:
            for proc in running:
                proc.stop()
    rows.append(Row("intent model parameters (LRU-accounted)", note=f"{param_bytes / 1024:.1f} KiB"))
    return rows


def warm(
    args: argparse.Namespace,
    work: Path,
    platform: BenchPlatform,
    base: str,
    grpc_port: int,
    checkpoint: bytes,
    cpus: set[int] | None,
) -> list[Row]:
    blob = models.archive_for(checkpoint, job_id="warm")
    model_id = platform.publish("acme", blob)
    headers = {"Authorization": f"Bearer {tokens.user_token(tenant='acme', sub='bench', secret=procs.SECRET)}"}
    body = {"modelId": model_id, "document": scenarios.DOCUMENT}
    scenarios.cold_requests(base, [model_id], headers)  # make it warm
    resolves = platform.resolves
    rows = []
    for clients in (1, 4, 16):
        load = scenarios.sidecar_load(
            base, body, headers, clients=clients, duration_s=args.duration, workdir=work, cpus=cpus
        )
        target, met = _sidecar_target(clients, load)
        rows.append(
            Row(
                f"sidecar warm, {clients} client(s) ({load.tool})",
                load.p50_s,
                load.p99_s,
                load.rps,
                target,
                met,
                f"{load.requests} requests, {load.errors} errors",
            )
        )
    rows.append(
        Row(
            "platform calls during warm runs",
            note=str(platform.resolves - resolves),
            target="0",
            met=platform.resolves == resolves,
        )
    )
    for tool, load in scenarios.grpc_alone(
        grpc_port, model_id, archive.sha256_hex(blob), workdir=work, cpus=cpus, duration_s=args.duration / 2
    ):
        p50 = load.p50_s if load.p50_s is not None else load.mean_s
        label = f"gRPC alone, {load.clients} client(s) ({tool}{', mean' if load.p50_s is None else ''})"
        target = "p50 ≤ 0.7 ms" if load.clients == 1 else ""
        rows.append(
            Row(
                label,
                p50,
                load.p99_s,
                load.rps,
                target,
                (p50 or 1) <= 0.7 * MS if target else None,
                f"{load.requests} requests, {load.errors} errors",
            )
        )
    return rows


def side_by_side(
    args: argparse.Namespace,
    work: Path,
    emb: Path,
    model_dir: Path,
    platform: BenchPlatform,
    base: str,
    checkpoint: bytes,
    pins: procs.Pinning,
    *,
    pids: list[int],
) -> list[Row]:
    """trainyard and MLServer (both configurations), interleaved rounds, medians, ratios to the targets."""
    model_id = platform.publish("acme", models.archive_for(checkpoint, job_id="peer"))
    headers = {"Authorization": f"Bearer {tokens.user_token(tenant='acme', sub='bench', secret=procs.SECRET)}"}
    scenarios.cold_requests(base, [model_id], headers)
    ours = [
        peer.Target(
            "trainyard POST /v2/language/intent",
            base + scenarios.INTENT,
            {"modelId": model_id, "document": scenarios.DOCUMENT},
            headers,
            pids,
        ),
        peer.Target(
            "trainyard OIP POST /v2/models/{id}/infer",
            f"{base}/v2/models/{model_id}/infer",
            peer.oip_body(scenarios.DOCUMENT),
            headers,
            pids,
        ),
    ]
    notes: list[str] = []
    measured = peer.side_by_side(
        work=work,
        emb=emb,
        model_dir=model_dir,
        ours=ours,
        core=pins.server_core,
        cpus=pins.client_cpus,
        rounds=args.peer_rounds,
        duration_s=args.peer_duration,
        document=scenarios.DOCUMENT,
        note=notes.append,
    )
    if measured is None:
        return [Row("side by side with MLServer", note=n) for n in notes]
    results, names = measured
    PEER_RESULTS.append((results, names))
    return []


PEER_RESULTS: list[tuple[dict[tuple[str, int], peer.Sample], list[str]]] = []


def render_peer(console: Console, rounds: int) -> None:
    if not PEER_RESULTS:
        return
    results, names = PEER_RESULTS[0]
    t = Table(
        title=f"side by side — same model, same request, same pinned core; medians of {rounds} interleaved rounds"
    )
    for col in ("server", "p50, 1 client", "p99, 4 clients", "req/s, 16 clients", "CPU/request (16 clients)", "errors"):
        t.add_column(col, justify="left" if col == "server" else "right")
    for name in names:
        one, four, sixteen = (results[(name, c)] for c in peer.CLIENTS)
        errors = sum(results[(name, c)].errors for c in peer.CLIENTS)
        t.add_row(
            name,
            fmt(one.median("p50")),
            fmt(four.median("p99")),
            f"{sixteen.median('rps'):,.0f}",
            f"{sixteen.median('cpu_ms'):.2f} ms",
            str(errors),
        )
    console.print(t)
    peers = [n for n in names if n.startswith("MLServer")]
    best_rps = max(results[(n, 16)].median("rps") for n in peers)
    best_p99 = min(results[(n, 4)].median("p99") for n in peers)
    best_p50 = min(results[(n, 1)].median("p50") for n in peers)
    r = Table(title="ratios to MLServer's better configuration (issue 13 targets)")
    for col in ("trainyard route", "req/s at 16 (≥ 1.3x)", "p99 at 4 (≤ 0.8x)", "p50 at 1 (≤ 1.0x)"):
        r.add_column(col, justify="left" if col == "trainyard route" else "right")
    for name in (n for n in names if n.startswith("trainyard")):
        rps = results[(name, 16)].median("rps") / best_rps
        p99 = results[(name, 4)].median("p99") / best_p99
        p50 = results[(name, 1)].median("p50") / best_p50
        r.add_row(
            name, f"{rps:.2f}x {_met(rps >= 1.3)}", f"{p99:.2f}x {_met(p99 <= 0.8)}", f"{p50:.2f}x {_met(p50 <= 1.0)}"
        )
    console.print(r)


def _sidecar_target(clients: int, load: loadgen.Load) -> tuple[str, bool | None]:
    if clients == 1:
        return "p50 ≤ 1.5 ms", (load.p50_s or 1) <= 1.5 * MS
    if clients == 4:
        return "p99 ≤ 6 ms", (load.p99_s or 1) <= 6 * MS
    return "≥ 1,000 req/s per server core", load.rps >= 1000


def cold(
    work: Path,
    platform: BenchPlatform,
    base: str,
    cache: Path,
    emb: Path,
    checkpoint: bytes,
    server_core: str | None,
    *,
    running: list[procs.Proc],
    grpc_port: int,
) -> list[Row]:
    """First answers for 60 fresh models, then again after an inference restart (on disk, not in memory)."""
    headers = {"Authorization": f"Bearer {tokens.user_token(tenant='acme', sub='bench', secret=procs.SECRET)}"}
    warmup, *ids = [platform.publish("acme", models.archive_for(checkpoint, job_id=f"cold-{i}")) for i in range(61)]
    scenarios.cold_requests(base, [warmup], headers)
    off_disk = scenarios.cold_requests(base, ids, headers)
    # Restart the inference server: the archives stay on disk, memory starts empty.
    running[1].stop()
    running[1], _ = procs.start_inference(
        workdir=work,
        model_root=cache / "models",
        embeddings_dir=emb,
        budget_bytes=64 << 20,
        core=server_core,
        name="inference-2",
        port=grpc_port,
    )
    procs.wait_http(base + "/readyz", running[1])
    scenarios.cold_requests(base, [warmup], headers)  # a fresh process's first load pays one-time imports
    on_disk = scenarios.cold_requests(base, ids, headers)
    p99_off, p99_on = loadgen.percentile(off_disk, 99), loadgen.percentile(on_disk, 99)
    n = len(ids)
    return [
        Row(
            f"cold: not on disk (resolve+download+extract+load), {n} models",
            loadgen.percentile(off_disk, 50),
            p99_off,
            target="≤ 150 ms",
            met=p99_off <= 0.150,
            note="through the sidecar, first answer",
        ),
        Row(
            f"cold: on disk, not in memory (load), {n} models",
            loadgen.percentile(on_disk, 50),
            p99_on,
            target="≤ 5 ms p99",
            met=p99_on <= 0.005,
            note="through the sidecar, first answer",
        ),
    ]


def density(
    work: Path,
    emb: Path,
    checkpoint: bytes,
    *,
    n_models: int,
    budget_models: int,
    zipf_requests: int,
    server_core: str | None,
) -> Density:
    table = embeddings.load(emb)
    param_bytes, _ = scenarios.model_param_bytes(checkpoint, table, work)
    root = work / "density-models"
    disk = models.fill_disk_tier(checkpoint, root, n_models)
    budget = param_bytes * budget_models
    proc, port = procs.start_inference(
        workdir=work,
        model_root=root,
        embeddings_dir=emb,
        budget_bytes=budget,
        core=server_core,
        name="inference-density",
    )
    try:
        _wait_grpc(port, proc)
        result = Density(models=n_models, budget_models=budget_models, budget_bytes=budget, model_bytes=param_bytes)
        return scenarios.density_run(port, disk, rss=proc.rss_bytes, result=result, zipf_requests=zipf_requests)
    finally:
        proc.stop()


def _wait_grpc(port: int, proc: procs.Proc) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + 60
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(proc.log.read_text()[-3000:])
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return
            except grpc.RpcError:
                time.sleep(0.2)
    raise RuntimeError("density inference server did not start")


def render(console: Console, rows: list[Row], dens: Density, *, elapsed_s: float, pins: procs.Pinning) -> None:
    raw = next(r.p50_s for r in rows if r.name.startswith("raw torch forward"))
    assert raw is not None
    t = Table(title="trainyard prediction path — latency and throughput")
    for col in ("measurement", "p50", "p99", "req/s", "x raw fwd", "target", "met", "notes"):
        t.add_column(col, justify="left" if col in ("measurement", "notes", "target") else "right")
    for r in rows:
        met = "" if r.met is None else _met(r.met)
        t.add_row(
            r.name, fmt(r.p50_s), fmt(r.p99_s), f"{r.rps:,.0f}" if r.rps else "-", ratio(r, raw), r.target, met, r.note
        )
    console.print(t)
    d = Table(
        title=f"density — {dens.models:,} tenant models through a budget of {dens.budget_models} "
        f"({dens.budget_bytes / 2**20:.1f} MiB of parameters)"
    )
    for col in ("measurement", "value", "target", "met"):
        d.add_column(col)
    mib = 2**20
    first, second = (c / mib for c in dens.rss_cycles)
    above = (dens.rss_peak - dens.rss_start) / mib
    d.add_row("Zipf(1.0) requests: memory-tier hit rate", f"{dens.zipf_hit_rate:.1%}", "", "")
    d.add_row("Zipf(1.0) requests: p50 / p99", f"{fmt(dens.zipf_p50_s)} / {fmt(dens.zipf_p99_s)}", "", "")
    d.add_row(
        "round-robin over all models, twice (every call a load): p99",
        fmt(dens.cycle_p99_s),
        "≤ 5 ms",
        _met(dens.cycle_p99_s <= 0.005),
    )
    d.add_row(
        "RSS: 1 model loaded / budget full / peak",
        f"{dens.rss_start / mib:.0f} / {dens.rss_full / mib:.0f} / {dens.rss_peak / mib:.0f} MiB",
        "",
        "",
    )
    d.add_row(
        "RSS after 1st / 2nd full cycle (stays flat: bounded)",
        f"{first:.1f} / {second:.1f} MiB",
        "no growth",
        _met(second - first <= 2.0),
    )
    d.add_row(
        "peak RSS above 1 model, for a full budget",
        f"{above:.1f} MiB",
        f"param budget {dens.budget_bytes / mib:.1f} MiB + per-model overhead",
        "",
    )
    d.add_row(
        "resident per loaded intent model (beyond shared embeddings)",
        f"{dens.per_model_resident / 1024:.1f} KiB",
        "≤ 100 KB",
        _met(dens.per_model_resident <= 100_000),
    )
    console.print(d)
    console.print(
        f"host: {host.machine()} {os.cpu_count()} CPUs; servers pinned to core {pins.server_core}, "
        f"load generators and this process to {sorted(pins.client_cpus or []) or 'unpinned'}; "
        f"wrk={'yes' if loadgen.have('wrk') else 'no'} h2load={'yes' if loadgen.have('h2load') else 'no'}; "
        f"total {elapsed_s:.0f} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark the prediction path.")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load-generator run")
    parser.add_argument("--models", type=int, default=2000, help="distinct models in the density run")
    parser.add_argument("--budget-models", type=int, default=200, help="models the memory budget holds")
    parser.add_argument("--zipf-requests", type=int, default=6000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="skip the MLServer side-by-side runs")
    parser.add_argument("--peer-rounds", type=int, default=3, help="interleaved rounds of the side-by-side runs")
    parser.add_argument("--peer-duration", type=float, default=3.0, help="seconds per side-by-side wrk run")
    parser.add_argument("--only-peer", action="store_true", help="only the side-by-side table (no cold, density)")
    args = parser.parse_args(argv)
    console = Console(width=None if Console().is_terminal else 160)
    started = time.monotonic()
    pins = procs.Pinning.plan()
    if pins.client_cpus:
        os.sched_setaffinity(0, pins.client_cpus)  # this process (and its threads) stays off the server core
    work = Path(tempfile.mkdtemp(prefix="trainyard-bench-"))
    try:
        with console.status("training the intent model, starting servers…"):
            emb = models.ensure_embeddings(work)
            checkpoint = models.train_intent(work, emb)
        with console.status("warm, throughput and cold-path runs…"):
            rows = serving(args, work, emb, checkpoint, pins)
        if args.only_peer:
            render_peer(console, args.peer_rounds)
            return
        with console.status(f"density: {args.models} models…"):
            dens = density(
                work,
                emb,
                checkpoint,
                n_models=args.models,
                budget_models=args.budget_models,
                zipf_requests=args.zipf_requests,
                server_core=pins.server_core,
            )
        render(console, rows, dens, elapsed_s=time.monotonic() - started, pins=pins)
        render_peer(console, args.peer_rounds)
    finally:
        if args.keep:
            console.print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
