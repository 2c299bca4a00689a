"""What the benchmark measures, one function per scenario; each returns Rows for the table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import numpy as np
import torch

from bench import loadgen
from bench.loadgen import Load, percentile
from predictor.generated import intent_pb2, intent_pb2_grpc
from predictor.inference.models import IntentModel, ModelLoader
from sdk.models import archive, embeddings
from sdk.models.intent import IntentClassifier, load_state, pool_ids

DOCUMENT = "my password stopped working"
INTENT = "/v2/language/intent"


@dataclass
class Row:
    name: str
    p50_s: float | None = None
    p99_s: float | None = None
    rps: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Density:
    models: int
    budget_models: int
    budget_bytes: int
    model_bytes: int
    zipf_hit_rate: float = 0.0
    zipf_p50_s: float = 0.0
    zipf_p99_s: float = 0.0
    cycle_p99_s: float = 0.0
    rss_start: int = 0
    rss_full: int = 0
    rss_cycles: list[int] = field(default_factory=list)
    rss_peak: int = 0
    per_model_resident: float = 0.0
    notes: list[str] = field(default_factory=list)


def raw_forward(model_dir: Path, table: embeddings.EmbeddingTable) -> list[Row]:
    """The raw torch forward (the trained nn.Module, eval mode) for the document, the served
    functional head's forward, and the whole in-process pipeline."""
    torch.set_num_threads(1)
    model = ModelLoader(table).load(model_dir)
    assert isinstance(model, IntentModel)
    manifest = archive.read_extracted_manifest(model_dir)
    module = IntentClassifier.from_config(manifest.config, n_labels=len(manifest.labels))
    module.load_state_dict(load_state((model_dir / archive.WEIGHTS).read_bytes()))
    module.eval()
    pooled = torch.from_numpy(pool_ids(table.vectors, table.tokenizer.encode(DOCUMENT))).unsqueeze(0)

    def forward() -> object:
        with torch.inference_mode():
            return module(pooled)

    fwd = loadgen.python_loop(forward, n=5000, warmup=200)
    head = loadgen.python_loop(lambda: model.head(pooled[0]), n=5000, warmup=200)
    pipe = loadgen.python_loop(lambda: model.predict(DOCUMENT.encode()), n=5000, warmup=200)
    return [
        Row(
            "raw torch forward (nn.Module, eval, inference_mode)",
            fwd.p50_s,
            fwd.p99_s,
            note="in-process, 1 thread: the ratio baseline",
        ),
        Row("served head forward (functional, same weights)", head.p50_s, head.p99_s),
        Row("in-process pipeline (tokenize+pool+forward+softmax)", pipe.p50_s, pipe.p99_s),
    ]


def sidecar_load(
    base: str,
    body: dict[str, str],
    headers: dict[str, str],
    *,
    clients: int,
    duration_s: float,
    workdir: Path,
    cpus: set[int] | None,
) -> Load:
    if loadgen.have("wrk"):
        return loadgen.wrk(
            base + INTENT, body, headers, clients=clients, duration_s=duration_s, workdir=workdir, cpus=cpus
        )
    return loadgen.python_http(base + INTENT, body, headers, clients=clients, duration_s=duration_s)


def grpc_alone(
    port: int, model_id: str, directory: str, *, workdir: Path, cpus: set[int] | None, duration_s: float
) -> list[tuple[str, Load]]:
    request = intent_pb2.IntentPredictionRequest(model_id=model_id, document=DOCUMENT.encode())
    metadata = (("x-trainyard-model-dir", directory),)
    out = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = intent_pb2_grpc.IntentPredictorServiceStub(channel)
        assert stub.predict(request, metadata=metadata, timeout=5).success
        out.append(("python sync stub", loadgen.python_loop(lambda: stub.predict(request, metadata=metadata), n=3000)))
    if loadgen.have("h2load"):
        url = f"http://127.0.0.1:{port}/trainyard.predictor.v1.IntentPredictorService/predict"
        for clients in (1, 4, 16):
            out.append(
                (
                    "h2load",
                    loadgen.h2load_grpc(
                        url,
                        request.SerializeToString(),
                        dict(metadata),
                        clients=clients,
                        duration_s=duration_s,
                        workdir=workdir,
                        cpus=cpus,
                    ),
                )
            )
    return out


def cold_requests(base: str, models: list[str], headers: dict[str, str]) -> list[float]:
    """One request per model, sequentially; the latency of each first answer."""
    samples = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for model_id in models:
            t0 = time.perf_counter()
            response = client.post(INTENT, json={"modelId": model_id, "document": DOCUMENT}, headers=headers)
            samples.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise RuntimeError(f"cold request for {model_id}: {response.status_code} {response.text}")
    return samples


def density_run(
    port: int,
    models: list[tuple[str, str]],
    *,
    rss: Callable[[], int],
    result: Density,
    zipf_requests: int,
    seed: int = 7,
) -> Density:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = intent_pb2_grpc.IntentPredictorServiceStub(channel)

        def call(i: int) -> tuple[float, bool]:
            model_id, directory = models[i]
            request = intent_pb2.IntentPredictionRequest(model_id=model_id, document=DOCUMENT.encode())
            t0 = time.perf_counter()
            response, c = stub.predict.with_call(request, metadata=(("x-trainyard-model-dir", directory),))
            elapsed = time.perf_counter() - t0
            assert response.success, response.error
            return elapsed, dict(c.trailing_metadata() or ()).get("x-trainyard-cache") == "hit"

        call(0)
        result.rss_start = rss()
        for i in range(1, result.budget_models):  # fill the budget exactly
            call(i)
        result.rss_full = rss()
        result.per_model_resident = (result.rss_full - result.rss_start) / (result.budget_models - 1)
        _zipf(call, result, n_models=len(models), n=zipf_requests, seed=seed, rss=rss)
        cycle: list[float] = []
        for _ in range(2):  # round-robin: the LRU's worst case, every call a load
            cycle += [call(i)[0] for i in range(len(models))]
            result.rss_cycles.append(rss())
        result.cycle_p99_s = percentile(cycle, 99)
        result.rss_peak = max(result.rss_peak, *result.rss_cycles)
    return result


def _zipf(
    call: Callable[[int], tuple[float, bool]],
    result: Density,
    *,
    n_models: int,
    n: int,
    seed: int,
    rss: Callable[[], int],
) -> None:
    weights = 1.0 / np.arange(1, n_models + 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_models)  # popularity is not model index
    picks = order[rng.choice(n_models, size=n, p=weights / weights.sum())]
    latencies, hits = [], 0
    for k, i in enumerate(picks):
        elapsed, hit = call(int(i))
        latencies.append(elapsed)
        hits += hit
        if k % 500 == 0:
            result.rss_peak = max(result.rss_peak, rss())
    result.zipf_hit_rate = hits / n
    result.zipf_p50_s = percentile(latencies, 50)
    result.zipf_p99_s = percentile(latencies, 99)


def model_param_bytes(checkpoint: bytes, table: embeddings.EmbeddingTable, workdir: Path) -> tuple[int, Path]:
    blob, _ = archive.archive_from_checkpoint(checkpoint, created_from={"job_id": "bench", "epoch": 0})
    src = workdir / "raw.tar.gz"
    src.write_bytes(blob)
    directory = workdir / "raw-model"
    if not directory.exists():
        archive.safe_extract(src, directory)
    return ModelLoader(table).load(directory).nbytes, directory
