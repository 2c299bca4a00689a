from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from predictor.inference.postprocess import Ranked
from predictor.inference.store import ModelStore
from sdk.errors import NotFound, ValidationError

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


@dataclass
class FakeModel:
    directory: Path
    nbytes: int
    kind: str = "intent"
    labels: tuple[str, ...] = ("x", "y")

    def predict(self, payload: bytes) -> Ranked:
        return [("x", 1.0), ("y", 0.0)]


class FakeLoader:
    """Loads instantly, or blocks (in its worker thread) until released; counts calls."""

    def __init__(self, *, nbytes: int = 40, blocking: bool = False) -> None:
        self.calls: list[str] = []
        self.nbytes = nbytes
        self.release = threading.Event()
        if not blocking:
            self.release.set()

    def __call__(self, directory: Path) -> FakeModel:
        self.release.wait(timeout=10)
        if not directory.name.startswith(("a", "b", "c")):
            raise FileNotFoundError(directory)
        self.calls.append(directory.name)
        return FakeModel(directory, self.nbytes)


def store(loader: FakeLoader, *, budget: int = 100) -> ModelStore:
    return ModelStore(root=Path("/models"), budget_bytes=budget, loader=loader)


def test_miss_loads_then_hits() -> None:
    async def scenario() -> None:
        loader = FakeLoader()
        s = store(loader)
        first = await s.get("m1", SHA_A)
        assert not first.hit
        second = await s.get("m1", SHA_A)
        assert second.hit and second.model is first.model
        assert (await s.get("m1", None)).hit  # in memory: no directory needed
        assert loader.calls == [SHA_A] and s.loads == 1

    asyncio.run(scenario())


def test_concurrent_misses_load_once() -> None:
    async def scenario() -> None:
        loader = FakeLoader(blocking=True)
        s = store(loader)
        waiters = [asyncio.create_task(s.get("m1", SHA_A)) for _ in range(16)]
        await asyncio.sleep(0)
        loader.release.set()
        lookups = await asyncio.gather(*waiters)
        assert len({id(x.model) for x in lookups}) == 1
        assert loader.calls == [SHA_A] and s.loads == 1

    asyncio.run(scenario())


def test_byte_budget_evicts_least_recently_used() -> None:
    async def scenario() -> None:
        loader = FakeLoader(nbytes=40)
        s = store(loader, budget=100)
        await s.get("m1", SHA_A)
        await s.get("m2", SHA_B)
        await s.get("m1", SHA_A)  # m1 recent, m2 oldest
        await s.get("m3", SHA_C)
        assert s.used_bytes == 80 and len(s) == 2 and s.evictions == 1
        with pytest.raises(NotFound):
            await s.get("m2", None)
        assert (await s.get("m1", None)).hit

    asyncio.run(scenario())


def test_new_directory_for_same_model_reloads() -> None:
    async def scenario() -> None:
        loader = FakeLoader()
        s = store(loader)
        await s.get("m1", SHA_A)
        assert not (await s.get("m1", SHA_B)).hit
        assert loader.calls == [SHA_A, SHA_B] and len(s) == 1

    asyncio.run(scenario())


def test_model_over_budget_is_served_not_kept() -> None:
    async def scenario() -> None:
        s = store(FakeLoader(nbytes=500), budget=100)
        assert not (await s.get("m1", SHA_A)).hit
        assert len(s) == 0

    asyncio.run(scenario())


def test_unknown_and_unsafe_directories() -> None:
    async def scenario() -> None:
        s = store(FakeLoader())
        with pytest.raises(NotFound):
            await s.get("m1", None)
        with pytest.raises(NotFound):
            await s.get("m1", "d" * 64)  # the loader finds no such directory
        with pytest.raises(ValidationError, match="sha256"):
            await s.get("m1", "../../etc")

    asyncio.run(scenario())
