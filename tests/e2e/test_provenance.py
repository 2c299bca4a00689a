"""Reproducible runs and trying a checkpoint, on the whole local platform: a trainer in its own
folder reads a granted dataset and reports a seed; the platform records what ran (the code
folder's content hash, the dataset's sha256), a re-run through the API is pinned to it (and
refuses a changed folder, naming it), the comparison names the one parameter two runs differ
in, and a checkpoint answers a prediction in one call, reusing its model the second time."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.runtimes.codehash import code_digest
from sdk.auth import tokens
from sdk.contracts.errors import NotFound
from sdk.contracts.specs import ProjectSpec
from sdk.models.png import encode_gray
from sdk.models.vision import shapes
from tests.e2e.conftest import ROOT, LocalPlatform
from tests.e2e.test_training_lifecycle import approve_training, task, wait_for

pytestmark = pytest.mark.e2e

TRAIN_PY = """\
import torch
from sdk.models.vision import SHAPES, VisionClassifier, vision_checkpoint, vision_config
from sdk.trainer import Trainer

t = Trainer.from_env()
with t:
    rows = t.dataset("d").read_bytes()
    seed = t.hyperparameters.get_int("seed", 0)
    t.metadata(seed=seed, rows_bytes=len(rows))
    torch.manual_seed(seed)
    config = vision_config(image_size=32)
    model = VisionClassifier.from_config(config, n_labels=len(SHAPES))
    path = t.workdir / "ckpt.tar.gz"
    path.write_bytes(vision_checkpoint(model, config=config))
    t.epoch(1, {"loss": 1.0 / (seed + 1)})
    t.checkpoint(1, path, {"loss": 1.0 / (seed + 1)})
    t.succeed({"loss": 1.0 / (seed + 1)})
"""
ROWS = b"text,label\nmy password stopped working,Password Help\n"


def cli(platform: LocalPlatform, *args: str) -> str:
    env = {**os.environ, "TRAINYARD_URL": platform.url, "TRAINYARD_TOKEN": platform.token, "COLUMNS": "250"}
    done = subprocess.run(
        [sys.executable, "-c", "from sdk.cli import main; main()", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_what_ran_is_recorded_rerun_pinned_compared_and_a_checkpoint_tried(
    local_platform: LocalPlatform, tmp_path: Path
) -> None:
    code = tmp_path / "lab"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_PY)
    data = tmp_path / "d.csv"
    data.write_bytes(ROWS)
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="repro", purpose="provenance", datasets=["d"])).project_id
        c.upload_dataset(project, "d", data)
        approve_training(local_platform, c, project)
        command = [sys.executable, "train.py"]
        first = task(c, project, "seed-7", command, code_dir=str(code), datasets=["d"], hyperparameters={"seed": 7})
        [job] = wait_for(c, first, timeout=90)
        assert job.state == "SUCCEEDED", job.reason

        # What ran, as the platform recorded it (the seed is the trainer's own word).
        ran = c.job_provenance(job.job_id)
        assert ran.code is not None and ran.code.sha256 == code_digest(code).sha256 and ran.code_dir == str(code)
        assert ran.command == command
        assert ran.datasets["d"].sha256 == hashlib.sha256(ROWS).hexdigest()
        assert (ran.datasets["d"].size_bytes, ran.datasets["d"].version) == (len(ROWS), 1)
        assert (ran.seed, ran.seed_source) == (7, "reported by the trainer")
        assert c.get_job(job.job_id).provenance["code"]["sha256"] == ran.code.sha256
        shown = cli(local_platform, "jobs", "show", job.job_id)
        assert ran.code.sha256 in shown and hashlib.sha256(ROWS).hexdigest() in shown

        # Re-run through the API, one parameter changed: pinned to the same code, compared.
        again = c.rerun_task(first, hyperparameters={"seed": 8})
        assert again.task.pin is not None and again.task.pin["code_sha256"] == ran.code.sha256
        [rjob] = wait_for(c, again.task.task_id, timeout=90)
        assert rjob.state == "SUCCEEDED", rjob.reason
        assert c.diff_tasks(first, again.task.task_id).only == "hyperparameters.seed"
        rows = {t.task_id: t for t in c.comparison(project).tasks}
        assert rows[first].differs_only_in == {again.task.task_id: "hyperparameters.seed"}
        assert "differ only in hyperparameters.seed" in cli(local_platform, "compare", project)

        # The code folder changes: a pinned re-run refuses to start, naming the folder.
        (code / "train.py").write_text(TRAIN_PY + "# edited\n")
        changed = c.rerun_task(first)
        [refused] = wait_for(c, changed.task.task_id, timeout=60)
        assert refused.state == "FAILED" and refused.failure_kind == "start_failed"
        assert f"code_dir {code} changed since the run this task re-runs" in refused.reason

        # Try the checkpoint in one call; the second try reuses the model.
        image = encode_gray(shapes(1, seed=3)[0][0])
        tried = c.try_checkpoint(job.job_id, 1, image=image)
        assert tried.model.kind == "vision" and tried.prediction["probabilities"]
        assert c.try_checkpoint(job.job_id, 1, image=image).model.model_id == tried.model.model_id
        assert [m.model_id for m in c.list_models() if m.job_id == job.job_id] == [tried.model.model_id]

    # Another tenant: not found, for the re-run and the try alike.
    evil = tokens.user_token(tenant="evil", sub="mallory@evil", secret=local_platform.secret)
    with local_platform.client(evil) as other:
        with pytest.raises(NotFound):
            other.rerun_task(first)
        with pytest.raises(NotFound):
            other.try_checkpoint(job.job_id, 1, image=image)
    assert json.loads(cli(local_platform, "jobs", "provenance", job.job_id, "--json"))["seed"] == 7
