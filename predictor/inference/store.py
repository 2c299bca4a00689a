"""The in-memory tier: loaded models in an LRU bounded in parameter bytes, loaded once.

Thread-safe: the gRPC server runs handlers on a thread pool. A miss is loaded by the
first request's thread while concurrent requests for the same model wait for it (at
most until their own deadline).

Models are keyed by model id and remember the archive directory (named by the archive's
sha256) they were loaded from; a request naming another directory for the same id gets
a fresh load. Directories are looked up only under `root` (the sidecar's extraction
directory) and must be a sha256, so the metadata a caller sends cannot point elsewhere.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from predictor.cache import ByteLRU
from predictor.cache.blocking import BlockingSingleFlight
from predictor.inference.models import LoadedModel
from sdk.contracts.errors import NotFound, Problem, ValidationError

_DIR_NAME = re.compile(r"^[0-9a-f]{64}$")
Loader = Callable[[Path], LoadedModel]


@dataclass(frozen=True)
class Lookup:
    model: LoadedModel
    hit: bool
    load_s: float = 0.0


@dataclass(frozen=True)
class _Loaded:
    model: LoadedModel
    directory: str


class LoadedModels:
    def __init__(
        self, *, root: Path, budget_bytes: int, loader: Loader, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._root = root
        self._lru: ByteLRU[str, _Loaded] = ByteLRU(budget_bytes)
        self._lock = threading.Lock()  # guards the LRU (not thread-safe by itself)
        self._flight: BlockingSingleFlight[tuple[str, str], Lookup] = BlockingSingleFlight()
        self._loader = loader
        self._clock = clock
        self.evictions = 0

    @property
    def loads(self) -> int:
        """Loads started since start-up (one per model however many requests missed it)."""
        return self._flight.started

    @property
    def used_bytes(self) -> int:
        return self._lru.used_bytes

    @property
    def budget_bytes(self) -> int:
        return self._lru.budget_bytes

    def __len__(self) -> int:
        return len(self._lru)

    def waiting(self, model_id: str, directory: str) -> int:
        """Requests waiting for another request's load of this model (tests use it)."""
        return self._flight.waiting((model_id, directory))

    def get(self, model_id: str, directory: str | None, *, timeout: float | None = None) -> Lookup:
        """The model, loading it from `root/directory` on a miss.

        Raises NotFound when it is not loaded and no (existing) directory is named,
        ModelInvalid when its files cannot be served, and TimeoutError when another
        request's load of it does not finish within `timeout` seconds.
        """
        with self._lock:
            loaded = self._lru.get(model_id)
        if loaded is not None and directory in (None, loaded.directory):
            return Lookup(loaded.model, hit=True)
        if directory is None:
            raise NotFound("model", model_id)
        if not _DIR_NAME.match(directory):
            raise ValidationError([Problem("x-trainyard-model-dir", "must be a lowercase hex sha256")])
        return self._flight.do((model_id, directory), lambda: self._load(model_id, directory), timeout=timeout)

    def _load(self, model_id: str, directory: str) -> Lookup:
        started = self._clock()
        try:
            model = self._loader(self._root / directory)
        except FileNotFoundError as exc:
            raise NotFound("model", model_id) from exc
        elapsed = self._clock() - started
        if model.nbytes <= self._lru.budget_bytes:  # a model bigger than the budget is served, not kept
            with self._lock:
                self.evictions += len(self._lru.put(model_id, _Loaded(model, directory), model.nbytes))
        return Lookup(model, hit=False, load_s=elapsed)
