"""The README's walk-through, as a new user does it: their own train.py in their own folder,
`trainyard up` there, tasks with --param, watched, compared, a checkpoint downloaded, all
through the `trainyard` command; the trainer runs unmodified in the bubblewrap sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from functions.local.sandbox import bwrap_wrap, default_read_only, probe
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent

# Exactly the train.py of the README's walk-through ("Your own trainer, step by step").
TRAIN_PY = """\
from sdk.trainer import Trainer

t = Trainer.from_env()
lr = t.hyperparameters.get_float("lr")          # --param lr=0.1 on `trainyard tasks create`
epochs = t.hyperparameters.get_int("epochs", 5)

with t:  # reports running; at the end succeeds, or fails with the traceback
    loss = 1.0
    for n in range(1, epochs + 1):
        loss *= 1 - lr
        t.epoch(n, {"loss": loss})
    weights = t.workdir / "weights.txt"          # the job's own folder: this one is read-only
    weights.write_text(f"loss={loss}\\n")
    t.checkpoint(epochs, weights, {"loss": loss})
    t.succeed({"loss": loss})
"""


@pytest.fixture(scope="module")
def sandboxed() -> None:
    problem = probe(bwrap_wrap(read_only=default_read_only()))
    if problem:
        pytest.skip(f"bubblewrap cannot sandbox here: {problem}")


def trainyard(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    for name in ("TRAINYARD_URL", "TRAINYARD_TOKEN", "TRAINYARD_CONFIG", "TRAINYARD_HOME"):
        env.pop(name, None)
    done = subprocess.run(
        ["trainyard", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    if check:
        assert done.returncode == 0, f"trainyard {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


def test_the_walk_through_runs_my_own_trainer_unmodified_and_sandboxed(tmp_path: Path, sandboxed: None) -> None:
    folder = tmp_path / "intent-lab"
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN_PY)
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "TRAINYARD_SANDBOX": "bwrap"}
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            ["trainyard", "up", "--port", str(port), "--no-predictor", "--sweep-interval", "0.5"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_up(up, folder, port, tmp_path / "up.log")

        project = json.loads(
            trainyard(folder, "projects", "create", "lab", "--purpose", "try my trainer", "--json").stdout
        )["project_id"]
        tasks = {}
        for lr in ("0.1", "0.3"):
            created = trainyard(
                folder,
                "tasks",
                "create",
                project,
                "--name",
                f"lr-{lr}",
                "--command",
                "python train.py",
                "--param",
                f"lr={lr}",
                "--param",
                "epochs=4",
                "--json",
            )
            tasks[lr] = json.loads(created.stdout)["task"]["task_id"]
        (folder / "notebooks").mkdir()  # later commands work from a folder below, too
        for task_id in tasks.values():
            watched = trainyard(folder / "notebooks", "tasks", "watch", task_id, "--interval", "0.5")
            assert "SUCCEEDED" in watched.stdout, watched.stdout

        compared = json.loads(trainyard(folder, "compare", project, "--json").stdout)
        rows = {row["name"]: row for row in compared["tasks"]}
        assert rows["lr-0.1"]["hyperparameters"] == {"lr": 0.1, "epochs": 4}
        assert rows["lr-0.1"]["last"]["loss"] == pytest.approx(0.9**4)  # the --param really ran
        assert rows["lr-0.3"]["last"]["loss"] == pytest.approx(0.7**4)

        job = json.loads(trainyard(folder, "jobs", "list", tasks["0.1"], "--json").stdout)[0]["job_id"]
        trainyard(folder, "jobs", "download-checkpoint", job, "--out", str(tmp_path / "ckpt"))
        saved = (tmp_path / "ckpt" / "weights.txt").read_text()
        assert saved.startswith("loss=") and float(saved[5:]) == pytest.approx(0.9**4)
        assert sorted(p.name for p in folder.iterdir()) == [".trainyard", "notebooks", "train.py"]  # untouched
    finally:
        up.send_signal(signal.SIGTERM)  # the CLI passes it on; the platform stops in order
        try:
            assert up.wait(timeout=60) == 0, (tmp_path / "up.log").read_text()[-3000:]
        finally:
            if up.poll() is None:
                os.killpg(up.pid, signal.SIGKILL)


def _wait_up(up: subprocess.Popen[bytes], folder: Path, port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert up.poll() is None, log.read_text()
        try:
            if (folder / ".trainyard" / "local.json").exists() and httpx.get(
                f"http://127.0.0.1:{port}/healthz", timeout=1
            ).is_success:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "trainyard up did not come up"
        time.sleep(0.3)
