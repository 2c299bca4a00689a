"""The trainer SDK across a platform restart, and the task's hyperparameters, typed."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from sdk.contracts.errors import TemporaryError, ValidationError
from sdk.trainer import REPORT_BACKOFF, Hyperparameters, Trainer
from tests.unit.sdk.sdk_fake_platform import FakePlatform

JOB = "j-9"
ENV = {"TRAINYARD_JOB_ID": JOB, "TRAINYARD_TOKEN": "job-token", "TRAINYARD_PLATFORM_URL": "http://platform.test"}
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "intent_trainer.py"


def test_reports_wait_out_a_platform_restart_of_minutes(platform: FakePlatform, sleeps: list[float]) -> None:
    down = httpx.ConnectError("connection refused")
    platform.on("POST", "/v1/events", *([down] * 30), httpx.Response(202))  # back after ~4.5 minutes
    trainer = Trainer.connect(
        "http://platform.test", "job-token", JOB, transport=platform.transport, sleep=sleeps.append
    )

    trainer.epoch(3, {"loss": 0.2})
    trainer.flush()

    assert len(platform.sent("POST", "/v1/events")) == 31
    assert len({json.loads(r.content)["id"] for r in platform.sent("POST", "/v1/events")}) == 1  # one event id
    assert 240 < sum(sleeps) < 360 and max(sleeps) == REPORT_BACKOFF.max_s


def test_a_platform_gone_for_good_still_ends_the_wait(platform: FakePlatform, sleeps: list[float]) -> None:
    platform.on("POST", "/v1/events", httpx.ConnectError("connection refused"))
    trainer = Trainer.connect(
        "http://platform.test", "job-token", JOB, transport=platform.transport, sleep=sleeps.append
    )

    with pytest.raises(TemporaryError):
        trainer.running()
    assert len(sleeps) == REPORT_BACKOFF.attempts - 1 and sum(sleeps) < 400


def test_hyperparameters_come_from_the_task_typed() -> None:
    env = {**ENV, "TRAINYARD_HYPERPARAMETERS": json.dumps({"lr": 0.05, "epochs": 8, "opt": "adam", "amp": False})}

    hp = Trainer.from_env(env, capture_logs=False).hyperparameters

    assert dict(hp) == {"lr": 0.05, "epochs": 8, "opt": "adam", "amp": False}
    assert (hp.get_float("lr"), hp.get_int("epochs"), hp.get_str("opt"), hp.get_bool("amp")) == (0.05, 8, "adam", False)
    assert hp.get_float("epochs") == 8.0 and hp.get_int("missing", 3) == 3
    assert Trainer.from_env(ENV, capture_logs=False).hyperparameters == {}


@pytest.mark.parametrize(
    ("getter", "key", "message"),
    [
        ("get_int", "lr", "hyperparameters.lr: must be a whole number, not 0.05"),
        ("get_float", "opt", "hyperparameters.opt: must be a number, not 'adam'"),
        ("get_float", "amp", "hyperparameters.amp: must be a number, not False"),
        ("get_bool", "opt", "hyperparameters.opt: must be true or false, not 'adam'"),
        ("get_str", "lr", "hyperparameters.lr: must be a string, not 0.05"),
        ("get_float", "nope", "hyperparameters.nope: missing (set it with --param)"),
    ],
)
def test_a_wrong_or_missing_hyperparameter_names_itself(getter: str, key: str, message: str) -> None:
    hp = Hyperparameters({"lr": 0.05, "opt": "adam", "amp": False})

    with pytest.raises(ValidationError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        getattr(hp, getter)(key)


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"lr": [1]}', '{"lr": {"a": 1}}'])
def test_malformed_hyperparameters_fail_at_start_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValidationError, match="TRAINYARD_HYPERPARAMETERS"):
        Trainer.from_env({**ENV, "TRAINYARD_HYPERPARAMETERS": raw}, capture_logs=False)


@pytest.fixture(scope="module")
def intent_trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("intent_trainer_under_test", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_trainer_runs_with_the_tasks_hyperparameters(
    intent_trainer: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = intent_trainer.parse_args(["--lr", "0.5", "--hidden", "16"])

    args = intent_trainer.with_hyperparameters(flags, Hyperparameters({"lr": 0.05, "epochs": 8, "momentum": 0.9}))

    assert isinstance(args, argparse.Namespace)
    assert (args.lr, args.epochs, args.hidden) == (0.05, 8, 16)  # the task wins; flags fill in the rest
    assert "momentum" in capsys.readouterr().out
