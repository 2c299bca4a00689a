from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from predictor.sidecar.diskcache import ArchiveRefused, DiskCache
from predictor.sidecar.resolver import Resolution
from sdk.contracts.errors import PermanentError
from sdk.models import archive
from sdk.models.archive import Limits


class FakeFetcher:
    """Serves archive bytes by URL from memory; can hold downloads until released."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.fetches: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self, url: str, dest: Path, *, max_bytes: int) -> str:
        self.fetches.append(url)
        await self.gate.wait()
        data = self.blobs[url]
        dest.write_bytes(data)
        return archive.sha256_hex(data)


def publish(fetcher: FakeFetcher, weights: bytes, *, tenant: str = "acme") -> Resolution:
    blob = archive.pack_archive(
        weights=weights, labels=["a", "b"], kind="intent", config={}, created_from={"job_id": "j", "epoch": 1}
    )
    sha = archive.sha256_hex(blob)
    fetcher.blobs[f"http://s3/{sha}"] = blob
    return Resolution(
        model_id=f"m-{sha[:6]}",
        tenant=tenant,
        sha256=sha,
        size_bytes=len(blob),
        kind="intent",
        labels=("a", "b"),
        url=f"http://s3/{sha}",
        url_expires_at=1e12,
    )


def cache(root: Path, fetcher: FakeFetcher, *, budget: int = 10_000) -> DiskCache:
    disk = DiskCache(root, budget_bytes=budget, fetcher=fetcher, limits=Limits(), max_archive_bytes=1 << 20)
    disk.open()
    return disk


def test_download_extract_then_hit(tmp_path: Path) -> None:
    async def scenario() -> None:
        fetcher = FakeFetcher()
        disk = cache(tmp_path, fetcher)
        res = publish(fetcher, b"w" * 100)
        first = await disk.ensure(res)
        assert not first.hit and first.directory == res.sha256
        assert sorted(p.name for p in (tmp_path / "models" / res.sha256).iterdir()) == ["model.json", "weights.pt"]
        assert (await disk.ensure(res)).hit
        assert disk.downloads == 1 and list((tmp_path / "tmp").iterdir()) == []

    asyncio.run(scenario())


def test_concurrent_misses_download_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        fetcher = FakeFetcher()
        fetcher.gate.clear()
        disk = cache(tmp_path, fetcher)
        res = publish(fetcher, b"w")
        waiters = [asyncio.create_task(disk.ensure(res)) for _ in range(12)]
        await asyncio.sleep(0)
        fetcher.gate.set()
        await asyncio.gather(*waiters)
        assert len(fetcher.fetches) == 1 and disk.downloads == 1

    asyncio.run(scenario())


def test_budget_evicts_lru_and_spares_pinned(tmp_path: Path) -> None:
    async def scenario() -> None:
        fetcher = FakeFetcher()
        disk = cache(tmp_path, fetcher, budget=2_500)
        a, b, c = (publish(fetcher, bytes([i]) * 1000) for i in range(3))
        await disk.ensure(a)
        await disk.ensure(b)
        assert disk.try_pin(a.sha256)  # a in use (and now most recent)
        await disk.ensure(c)
        models = tmp_path / "models"
        assert not (models / b.sha256).exists() and (models / a.sha256).exists()
        assert disk.used_bytes <= disk.budget_bytes and disk.evictions == 1
        disk.unpin(a.sha256)
        assert not disk.try_pin(b.sha256)

    asyncio.run(scenario())


def test_sha_mismatch_leaves_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        fetcher = FakeFetcher()
        disk = cache(tmp_path, fetcher)
        res = publish(fetcher, b"w")
        fetcher.blobs[res.url] = fetcher.blobs[res.url] + b"tampered"
        with pytest.raises(PermanentError, match="does not match"):
            await disk.ensure(res)
        assert list((tmp_path / "models").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []

    asyncio.run(scenario())


def test_malicious_archive_is_refused_and_nothing_is_written_outside(tmp_path: Path) -> None:
    import gzip
    import io
    import tarfile

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    blob = buf.getvalue()
    root = tmp_path / "cache"

    async def scenario() -> None:
        fetcher = FakeFetcher()
        disk = cache(root, fetcher)
        sha = archive.sha256_hex(blob)
        fetcher.blobs["http://s3/evil"] = blob
        res = Resolution(
            model_id="evil",
            tenant="acme",
            sha256=sha,
            size_bytes=len(blob),
            kind="intent",
            labels=(),
            url="http://s3/evil",
            url_expires_at=1e12,
        )
        with pytest.raises(ArchiveRefused, match="escapes"):
            await disk.ensure(res)

    asyncio.run(scenario())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
    assert list((root / "models").iterdir()) == [] and list((root / "tmp").iterdir()) == []


def test_open_reindexes_existing_models_and_clears_tmp(tmp_path: Path) -> None:
    async def scenario() -> str:
        fetcher = FakeFetcher()
        disk = cache(tmp_path, fetcher)
        res = publish(fetcher, b"w" * 10)
        await disk.ensure(res)
        return res.sha256

    sha = asyncio.run(scenario())
    (tmp_path / "tmp" / "leftover.tar.gz").write_bytes(b"partial")
    reopened = cache(tmp_path, FakeFetcher())
    assert reopened.try_pin(sha) and reopened.used_bytes > 0
    assert list((tmp_path / "tmp").iterdir()) == []


def test_archive_over_the_size_limit_is_not_downloaded(tmp_path: Path) -> None:
    async def scenario() -> None:
        fetcher = FakeFetcher()
        disk = DiskCache(tmp_path, budget_bytes=10_000, fetcher=fetcher, limits=Limits(), max_archive_bytes=10)
        disk.open()
        with pytest.raises(PermanentError, match="limit"):
            await disk.ensure(publish(fetcher, b"w"))
        assert fetcher.fetches == []

    asyncio.run(scenario())
