from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from predictor.inference.store import LoadedModels, Lookup
from predictor.ranking import Ranked
from sdk.contracts.errors import NotFound, ValidationError

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
    """Loads instantly, or blocks (in the loading request's thread) until released; counts calls."""

    def __init__(self, *, nbytes: int = 40, blocking: bool = False) -> None:
        self.calls: list[str] = []
        self.nbytes = nbytes
        self.entered = threading.Event()
        self.release = threading.Event()
        if not blocking:
            self.release.set()

    def __call__(self, directory: Path) -> FakeModel:
        self.entered.set()
        assert self.release.wait(timeout=10)
        if not directory.name.startswith(("a", "b", "c")):
            raise FileNotFoundError(directory)
        self.calls.append(directory.name)
        return FakeModel(directory, self.nbytes)


def store(loader: FakeLoader, *, budget: int = 100) -> LoadedModels:
    return LoadedModels(root=Path("/models"), budget_bytes=budget, loader=loader)


def wait_until(condition: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    """Wait for other threads to reach a state (not for time to pass)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "threads never got there"
        time.sleep(0.001)


def test_miss_loads_then_hits() -> None:
    loader = FakeLoader()
    s = store(loader)
    first = s.get("m1", SHA_A)
    assert not first.hit
    second = s.get("m1", SHA_A)
    assert second.hit and second.model is first.model
    assert s.get("m1", None).hit  # in memory: no directory needed
    assert loader.calls == [SHA_A] and s.loads == 1


def test_concurrent_misses_load_once() -> None:
    loader = FakeLoader(blocking=True)
    s = store(loader)
    results: list[Lookup] = []
    threads = [threading.Thread(target=lambda: results.append(s.get("m1", SHA_A))) for _ in range(16)]
    threads[0].start()
    assert loader.entered.wait(timeout=5)  # the first miss is loading...
    for t in threads[1:]:
        t.start()
    wait_until(lambda: s.waiting("m1", SHA_A) == 15)  # ...and every other miss waits for it
    loader.release.set()
    for t in threads:
        t.join(timeout=5)
    assert len(results) == 16 and len({id(r.model) for r in results}) == 1
    assert loader.calls == [SHA_A] and s.loads == 1


def test_a_waiter_gives_up_at_its_deadline_and_the_load_goes_on() -> None:
    loader = FakeLoader(blocking=True)
    s = store(loader)
    leader = threading.Thread(target=lambda: s.get("m1", SHA_A))
    leader.start()
    assert loader.entered.wait(timeout=5)
    with pytest.raises(TimeoutError):
        s.get("m1", SHA_A, timeout=0.0)
    loader.release.set()
    leader.join(timeout=5)
    assert s.get("m1", SHA_A).hit and s.loads == 1


def test_byte_budget_evicts_least_recently_used() -> None:
    s = store(FakeLoader(nbytes=40), budget=100)
    s.get("m1", SHA_A)
    s.get("m2", SHA_B)
    s.get("m1", SHA_A)  # m1 recent, m2 oldest
    s.get("m3", SHA_C)
    assert s.used_bytes == 80 and len(s) == 2 and s.evictions == 1
    with pytest.raises(NotFound):
        s.get("m2", None)
    assert s.get("m1", None).hit


def test_new_directory_for_same_model_reloads() -> None:
    loader = FakeLoader()
    s = store(loader)
    s.get("m1", SHA_A)
    assert not s.get("m1", SHA_B).hit
    assert loader.calls == [SHA_A, SHA_B] and len(s) == 1


def test_model_over_budget_is_served_not_kept() -> None:
    s = store(FakeLoader(nbytes=500), budget=100)
    assert not s.get("m1", SHA_A).hit
    assert len(s) == 0


def test_unknown_and_unsafe_directories() -> None:
    s = store(FakeLoader())
    with pytest.raises(NotFound):
        s.get("m1", None)
    with pytest.raises(NotFound):
        s.get("m1", "d" * 64)  # the loader finds no such directory
    with pytest.raises(ValidationError, match="sha256"):
        s.get("m1", "../../etc")
