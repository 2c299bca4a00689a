"""examples/scripted_trainer.py: each flag's behaviour, over the fake platform."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from sdk.trainer import Trainer
from tests.unit.sdk.sdk_fake_platform import S3_HOST, FakePlatform

ROOT = Path(__file__).resolve().parents[3]
JOB = "j-7"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scripted_trainer", ROOT / "examples" / "scripted_trainer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scripted = _load()


class Stop(Exception):
    """Breaks the trainer's sleep-forever loops in tests."""


def _sleeper(limit: int) -> tuple[list[float], Callable[[float], None]]:
    calls: list[float] = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        if seconds >= 3600 or len(calls) > limit:
            raise Stop

    return calls, sleep


@pytest.fixture
def make_trainer(platform: FakePlatform, tmp_path: Path) -> Callable[[Mapping[str, str]], Trainer]:
    platform.on("POST", "/v1/events", httpx.Response(202))

    def presign(request: httpx.Request) -> httpx.Response:
        key = f"jobs/{JOB}/{json.loads(request.content)['name']}"
        return httpx.Response(200, json={"key": key, "url": f"http://{S3_HOST}/{key}", "method": "PUT"})

    platform.on("POST", f"/v1/jobs/{JOB}/artifacts", presign)

    made: list[Trainer] = []

    def make(env: Mapping[str, str]) -> Trainer:
        made.append(Trainer.connect("http://p", "tok", JOB, transport=platform.transport, workdir=tmp_path / "work",
                                    attempt=int(env.get("TRAINYARD_ATTEMPT", "1")), sleep=lambda _: None))  # fmt: skip
        return made[-1]

    make.made = made  # type: ignore[attr-defined]  # a trainer that stops mid-run: flush what it reported

    return make


def _types(platform: FakePlatform) -> list[str]:
    return [e["type"].removeprefix("io.trainyard.job.") for e in platform.events()]


def test_a_clean_run_reports_everything(platform: FakePlatform, make_trainer: Callable[..., Trainer]) -> None:
    sleeps, sleep = _sleeper(100)
    assert scripted.main(["--epochs", "2", "--sleep", "0.25"], environ={}, make_trainer=make_trainer, sleep=sleep) == 0
    assert _types(platform) == ["running", "metadata", "epoch", "checkpoint", "epoch", "checkpoint", "succeeded"]
    assert sleeps == [0.25, 0.25]
    events = platform.events()
    assert events[1]["data"]["total_epochs"] == 2
    losses = [e["data"]["metrics"]["loss"] for e in events if e["type"].endswith("epoch")]
    accs = [e["data"]["metrics"]["accuracy"] for e in events if e["type"].endswith("epoch")]
    assert losses == sorted(losses, reverse=True) and accs == sorted(accs)
    assert len(platform.objects) == 2  # one weights file per epoch


def test_fail_first_attempt(platform: FakePlatform, make_trainer: Callable[..., Trainer]) -> None:
    args = ["--fail-first-attempt", "--epochs", "1", "--sleep", "0"]
    assert scripted.main(args, environ={"TRAINYARD_ATTEMPT": "1"}, make_trainer=make_trainer) == 1
    assert _types(platform) == ["running", "failed"]
    assert "on purpose" in platform.events()[1]["data"]["reason"]
    platform.requests.clear()
    assert scripted.main(args, environ={"TRAINYARD_ATTEMPT": "2"}, make_trainer=make_trainer) == 0
    assert _types(platform)[-1] == "succeeded"


def test_crash_exits_3_silently(platform: FakePlatform, make_trainer: Callable[..., Trainer]) -> None:
    assert scripted.main(["--crash"], environ={}, make_trainer=make_trainer) == 3
    assert platform.requests == []


def test_never_run_never_reports(platform: FakePlatform, make_trainer: Callable[..., Trainer]) -> None:
    _, sleep = _sleeper(0)
    with pytest.raises(Stop):
        scripted.main(["--never-run"], environ={}, make_trainer=make_trainer, sleep=sleep)
    assert platform.requests == []


def test_stall_after_goes_silent(platform: FakePlatform, make_trainer: Callable[..., Trainer]) -> None:
    _, sleep = _sleeper(100)
    with pytest.raises(Stop):
        scripted.main(["--stall-after", "1", "--epochs", "5", "--sleep", "0"], environ={}, make_trainer=make_trainer,
                      sleep=sleep)  # fmt: skip
    for trainer in make_trainer.made:  # type: ignore[attr-defined]
        trainer.flush()
    assert _types(platform) == ["running", "metadata", "epoch", "checkpoint"]


def test_forever_keeps_reporting_epochs(platform: FakePlatform, make_trainer: Callable[..., Trainer]) -> None:
    _, sleep = _sleeper(4)
    with pytest.raises(Stop):
        scripted.main(["--forever", "--sleep", "1"], environ={}, make_trainer=make_trainer, sleep=sleep)
    for trainer in make_trainer.made:  # type: ignore[attr-defined]
        trainer.flush()
    assert _types(platform) == ["running", "metadata", "epoch", "epoch", "epoch", "epoch"]
