"""Vision end to end: a generated image dataset travels through the platform, the example
vision trainer learns it, a checkpoint is published and `/v2/vision/predict` names a shape;
`trainyard models try` predicts with a checkpoint without a separate publish step."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sdk.contracts.specs import ProjectSpec
from sdk.models.png import encode_gray
from sdk.models.vision import SHAPES, shapes
from sdk.predict import Predictor
from tests.e2e.conftest import ROOT, LocalPlatform
from tests.e2e.test_training_lifecycle import approve_training, task, wait_for

pytestmark = pytest.mark.e2e
VISION = [sys.executable, str(ROOT / "examples" / "vision_trainer.py")]


def test_vision_trainer_publish_and_predict(local_platform: LocalPlatform) -> None:
    config = json.loads((local_platform.state / "local.json").read_text())
    data = local_platform.state / "shapes.npz"
    subprocess.run([*VISION, "--make-dataset", str(data), "--n", "800"], check=True, timeout=120)
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="vision", purpose="shapes", datasets=["shapes"])).project_id
        c.upload_dataset(project, "shapes", data)
        approve_training(local_platform, c, project, dataset="shapes")
        tid = task(c, project, "shapes", [*VISION, "--epochs", "6"], datasets=["shapes"])
        [job] = wait_for(c, tid, timeout=180)
        assert job.state == "SUCCEEDED", job.reason
        assert job.final_metrics["val_accuracy"] > 0.6  # type: ignore[attr-defined]
        model = c.publish_model(job.job_id, metric="val_accuracy")
        assert model.kind == "vision"
    images, targets = shapes(40, seed=4242)  # images no trial saw; chance is 1 in 4
    with Predictor(config["predictor_url"], local_platform.token) as p:
        answers = [p.vision(model.model_id, encode_gray(image)).ranked[0][0] for image in images]
    assert sum(a == SHAPES[int(t)] for a, t in zip(answers, targets, strict=True)) >= 24, answers

    image = local_platform.state / "shape.png"
    image.write_bytes(encode_gray(images[0]))
    env = {
        "TRAINYARD_URL": local_platform.url,
        "TRAINYARD_TOKEN": local_platform.token,
        "TRAINYARD_PREDICTOR_URL": config["predictor_url"],
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
    }
    tried = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sdk.cli import main; main()",
            "models",
            "try",
            job.job_id,
            "--epoch",
            str(model.epoch),
            "--image",
            str(image),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert tried.returncode == 0, tried.stderr
    assert json.loads(tried.stdout)["probabilities"][0]["label"] == answers[0]
