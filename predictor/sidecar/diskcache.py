"""The disk tier: extracted model archives under a byte budget, LRU, one download per model.

Layout under `root`::

    models/<sha256>/model.json, weights.pt    extracted archives (the inference server's model_root)
    tmp/                                       downloads and extractions in progress

An archive is streamed to tmp/ while its sha256 is computed, checked against the
resolution, safely extracted to a staging directory in tmp/, and renamed into models/
(atomic: a reader sees all of a model or none of it). Entries are keyed by sha256, so two
model ids publishing identical archives share one copy. Directories in use by a request
are pinned and never deleted under it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from predictor.cache import ByteLRU, SingleFlight
from predictor.sidecar.resolver import Resolution
from sdk.contracts.errors import PermanentError, TemporaryError
from sdk.models import archive

log = logging.getLogger(__name__)


class UrlRefused(TemporaryError):
    """The pre-signed URL was refused (expired): resolve again and retry."""


class ArchiveRefused(PermanentError):
    """The published archive is unsafe or malformed: the platform's problem, not the caller's."""


class ArchiveFetcher(Protocol):
    async def fetch(self, url: str, dest: Path, *, max_bytes: int) -> str:
        """Write the object at `url` to `dest`; return its sha256 (hex)."""
        ...


class HttpFetcher:
    """Streams a pre-signed GET to a file; translates httpx errors here, once."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def fetch(self, url: str, dest: Path, *, max_bytes: int) -> str:
        digest = hashlib.sha256()
        size = 0
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code in (401, 403):
                    raise UrlRefused(f"archive URL refused ({response.status_code})")
                if response.status_code != 200:
                    raise TemporaryError(f"archive download answered {response.status_code}")
                with dest.open("wb") as out:
                    async for chunk in response.aiter_bytes(1 << 16):
                        size += len(chunk)
                        if size > max_bytes:
                            raise PermanentError(f"archive is over {max_bytes} bytes")
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise TemporaryError(f"archive download failed: {exc}") from exc
        return digest.hexdigest()


@dataclass(frozen=True)
class DiskLookup:
    directory: str  # name under models/, i.e. the sha256
    hit: bool
    download_s: float = 0.0
    extract_s: float = 0.0


class DiskCache:
    def __init__(
        self,
        root: Path,
        *,
        budget_bytes: int,
        fetcher: ArchiveFetcher,
        limits: archive.Limits,
        max_archive_bytes: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.models_dir = root / "models"
        self.tmp_dir = root / "tmp"
        self._lru: ByteLRU[str, int] = ByteLRU(budget_bytes)
        self._flight: SingleFlight[str, DiskLookup] = SingleFlight()
        self._fetcher = fetcher
        self._limits = limits
        self._max_archive_bytes = max_archive_bytes
        self._clock = clock
        self.evictions = 0

    @property
    def downloads(self) -> int:
        """Downloads started since start-up: one per archive however many requests missed it."""
        return self._flight.started

    @property
    def used_bytes(self) -> int:
        return self._lru.used_bytes

    @property
    def budget_bytes(self) -> int:
        return self._lru.budget_bytes

    def open(self) -> None:
        """Create the layout, drop leftovers of a crash, and re-index what is on disk (oldest first)."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        found = sorted((p for p in self.models_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for path in found:
            size = _tree_bytes(path)
            if len(path.name) != 64 or size > self._lru.budget_bytes:
                shutil.rmtree(path, ignore_errors=True)
                continue
            self._delete(self._lru.put(path.name, size, size))

    def try_pin(self, sha256: str) -> bool:
        """Pin a present entry (marking it recently used); False when it is not on disk."""
        if self._lru.get(sha256) is None:
            return False
        self._lru.pin(sha256)
        return True

    def unpin(self, sha256: str) -> None:
        self._delete(self._lru.unpin(sha256))

    async def ensure(self, resolution: Resolution) -> DiskLookup:
        """Make the archive present on disk (downloading it once), without pinning it."""
        if self._lru.get(resolution.sha256) is not None:
            return DiskLookup(resolution.sha256, hit=True)
        return await self._flight.do(resolution.sha256, lambda: self._install(resolution))

    async def _install(self, resolution: Resolution) -> DiskLookup:
        sha = resolution.sha256
        if resolution.size_bytes > self._max_archive_bytes:
            limit = self._max_archive_bytes
            raise PermanentError(f"archive of {resolution.size_bytes} bytes is over the {limit}-byte limit")
        token = uuid.uuid4().hex
        download, staging = self.tmp_dir / f"{sha}.{token}.tar.gz", self.tmp_dir / f"{sha}.{token}"
        try:
            started = self._clock()
            digest = await self._fetcher.fetch(resolution.url, download, max_bytes=self._max_archive_bytes)
            downloaded = self._clock()
            if digest != sha:
                raise PermanentError(f"archive sha256 {digest} does not match the published {sha}")
            try:
                await asyncio.to_thread(archive.safe_extract, download, staging, limits=self._limits)
            except archive.UnsafeArchive as exc:
                raise ArchiveRefused(f"model archive refused: {exc}") from exc
            size = _tree_bytes(staging)
            if size > self._lru.budget_bytes:
                raise PermanentError(f"extracted model of {size} bytes is over the disk budget")
            self._publish(staging, self.models_dir / sha)
            self._delete(self._lru.put(sha, size, size))
            return DiskLookup(sha, hit=False, download_s=downloaded - started, extract_s=self._clock() - downloaded)
        finally:
            download.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _publish(staging: Path, target: Path) -> None:
        try:
            os.replace(staging, target)
        except OSError:
            # Another process extracted the same (content-addressed) archive first: keep theirs.
            if not target.is_dir():
                raise
        os.utime(target)  # recency survives a restart (open() orders by mtime)

    def _delete(self, evicted: list[tuple[str, int]]) -> None:
        for sha, _size in evicted:
            self.evictions += 1
            shutil.rmtree(self.models_dir / sha, ignore_errors=True)
            log.info("evicted model archive %s from disk", sha[:12])


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
