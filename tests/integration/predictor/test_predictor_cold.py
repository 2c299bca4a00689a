"""Cold paths against real servers: one download and one load under concurrent misses, 503
when a cold load outlives the deadline, eviction under both byte budgets, bad archives."""

from __future__ import annotations

import asyncio
import gzip
import io
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from predictor.inference.models import module_bytes
from sdk.models import archive
from sdk.models.intent import IntentClassifier
from tests.integration.predictor.stack import FakePlatform, Stack, running_stack

pytestmark = pytest.mark.integration

INTENT = "/v2/language/intent"


async def burst(stack: Stack, model_id: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        body = {"modelId": model_id, "document": "I forgot my password"}
        return await asyncio.gather(*(client.post(INTENT, json=body, headers=stack.headers("acme")) for _ in range(n)))


def test_concurrent_cold_requests_download_once_and_load_once(stack: Stack, intent_checkpoint: bytes) -> None:
    model = stack.platform.publish("acme", intent_checkpoint, epoch=7)
    downloads, loads = stack.sidecar.disk.downloads, stack.inference.core.store.loads
    responses = asyncio.run(burst(stack, model.model_id, 16))
    assert [r.status_code for r in responses] == [200] * 16
    assert {r.json()["probabilities"][0]["label"] for r in responses} == {"Password Help"}
    assert stack.sidecar.disk.downloads - downloads == 1
    assert stack.inference.core.store.loads - loads == 1
    assert stack.platform.resolves[model.model_id] == 1


def test_cold_load_past_the_deadline_is_503_then_served(
    platform: FakePlatform, embeddings_dir: Path, tmp_path: Path, intent_checkpoint: bytes
) -> None:
    # The platform serves this archive 2 s after asking; this stack's deadline is 0.5 s.
    model = platform.publish("acme", intent_checkpoint, epoch=8, delay_s=2.0)
    body = {"modelId": model.model_id, "document": "reset my password"}
    with running_stack(platform=platform, root=tmp_path, embeddings_dir=embeddings_dir, deadline_s=0.5) as stack:
        started = time.monotonic()
        busy = httpx.post(stack.url + INTENT, json=body, headers=stack.headers("acme"), timeout=10)
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert time.monotonic() - started < 1.9  # answered at the deadline, not when the download ended
        deadline = time.monotonic() + 10
        while True:  # the download went on without us: a retry soon succeeds
            time.sleep(0.3)
            retry = httpx.post(stack.url + INTENT, json=body, headers=stack.headers("acme"), timeout=10)
            if retry.status_code == 200 or time.monotonic() > deadline:
                break
            assert retry.status_code == 503
        assert retry.status_code == 200
        assert retry.json()["probabilities"][0]["label"] == "Password Help"
        labels = {"tenant": "acme", "model": model.model_id}
        registry = stack.sidecar.metrics.registry
        assert registry.get_sample_value("trainyard_model_download_seconds_count", labels) == 1  # one download...
        assert (registry.get_sample_value("trainyard_model_download_seconds_sum", labels) or 0) >= 1.9  # the slow one


def evil_archive() -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("../../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
        link = tarfile.TarInfo("weights.pt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return buf.getvalue()


def test_malicious_archive_is_refused_with_nothing_written_outside_the_cache(stack: Stack) -> None:
    model = stack.platform.publish_raw("acme", evil_archive(), kind="intent")
    before = {p for p in stack.cache_dir.parent.rglob("*")}
    response = httpx.post(
        stack.url + INTENT, json={"modelId": model.model_id, "document": "x"}, headers=stack.headers("acme"), timeout=10
    )
    assert response.status_code == 502
    assert "escapes the archive root" in response.json()["message"]
    after = {p for p in stack.cache_dir.parent.rglob("*")}
    assert not [p for p in after - before if "escaped" in p.name or "tmp" not in p.parts]
    assert not list((stack.cache_dir / "tmp").iterdir())
    assert not (stack.cache_dir / "models" / model.sha256).exists()
    assert not (stack.cache_dir.parent / "escaped.txt").exists()  # where ../../../ from the staging dir points


def test_archive_not_matching_its_sha_is_refused(stack: Stack, intent_checkpoint: bytes) -> None:
    model = stack.platform.publish("acme", intent_checkpoint, epoch=9)
    stack.platform.models[model.model_id].sha256 = "0" * 64  # the platform promised another archive
    response = httpx.post(
        stack.url + INTENT, json={"modelId": model.model_id, "document": "x"}, headers=stack.headers("acme"), timeout=10
    )
    assert response.status_code == 502
    assert "does not match" in response.json()["message"]


def test_eviction_under_both_byte_budgets(
    platform: FakePlatform, embeddings_dir: Path, tmp_path: Path, intent_checkpoint: bytes
) -> None:
    weights_bytes = len(archive.read_members(intent_checkpoint)[archive.WEIGHTS])
    manifest = archive.Manifest.parse(archive.read_members(intent_checkpoint)[archive.MANIFEST])
    params_bytes = module_bytes(IntentClassifier.from_config(manifest.config, n_labels=len(manifest.labels)))
    with running_stack(
        platform=platform,
        root=tmp_path,
        embeddings_dir=embeddings_dir,
        memory_budget_bytes=int(params_bytes * 2.5),
        disk_budget_bytes=int(weights_bytes * 2.5),
    ) as small:
        models = [platform.publish("acme", intent_checkpoint, epoch=100 + i) for i in range(3)]
        for m in models:
            response = httpx.post(
                small.url + INTENT,
                json={"modelId": m.model_id, "document": "refund"},
                headers=small.headers("acme"),
                timeout=10,
            )
            assert response.status_code == 200, response.text
        store, disk = small.inference.core.store, small.sidecar.disk
        assert len(store) == 2 and store.used_bytes <= store.budget_bytes and store.evictions == 1
        on_disk = {p.name for p in (small.cache_dir / "models").iterdir()}
        assert on_disk == {models[1].sha256, models[2].sha256}
        assert disk.used_bytes <= disk.budget_bytes and disk.evictions == 1
        downloads, loads = disk.downloads, store.loads
        again = httpx.post(
            small.url + INTENT,
            json={"modelId": models[0].model_id, "document": "refund"},
            headers=small.headers("acme"),
            timeout=10,
        )
        assert again.status_code == 200
        assert (disk.downloads - downloads, store.loads - loads) == (1, 1)
