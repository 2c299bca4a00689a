"""Session fixtures for the prediction path: embeddings, trained models, the running stack."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import torch

from predictor import build_proto
from sdk.models import embeddings
from sdk.models.vision import shapes, train_shapes, vision_checkpoint, vision_config
from tests.integration.predictor.stack import FakePlatform, Stack, running_stack, serve_platform

REPO = Path(__file__).resolve().parents[3]


def pytest_configure(config: pytest.Config) -> None:
    build_proto.build()  # idempotent; the tests import predictor.generated


@pytest.fixture(scope="session")
def embeddings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("embeddings")
    embeddings.materialize(directory)
    return directory


@pytest.fixture(scope="session")
def intent_checkpoint(tmp_path_factory: pytest.TempPathFactory, embeddings_dir: Path) -> bytes:
    """A real model: the example trainer, standalone, on the shipped dataset (about a second)."""
    spec = importlib.util.spec_from_file_location("intent_trainer", REPO / "examples" / "intent_trainer.py")
    assert spec is not None and spec.loader is not None
    trainer = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = trainer  # dataclasses look their module up while the file executes
    spec.loader.exec_module(trainer)
    out = tmp_path_factory.mktemp("intent")
    trainer.cli(
        [
            "--local",
            str(REPO / "examples" / "data" / "intents.csv"),
            "--out",
            str(out),
            "--embeddings",
            str(embeddings_dir),
            "--epochs",
            "30",
        ]
    )
    return (out / "best.ckpt.tar.gz").read_bytes()


@pytest.fixture(scope="session")
def vision_model_checkpoint() -> bytes:
    torch.set_num_threads(1)
    images, targets = shapes(1000, seed=1)
    model, accuracy = train_shapes(images, targets)
    assert accuracy > 0.9
    return vision_checkpoint(model, config=vision_config())


@pytest.fixture(scope="session")
def platform(moto_endpoint: str) -> Iterator[FakePlatform]:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"predictor-it-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    fake = FakePlatform(s3=s3, bucket=bucket)
    with serve_platform(fake):
        yield fake


@pytest.fixture(scope="session")
def stack(platform: FakePlatform, embeddings_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One inference server + sidecar for the session; tests publish fresh models to stay independent."""
    with running_stack(
        platform=platform, root=tmp_path_factory.mktemp("stack"), embeddings_dir=embeddings_dir, deadline_s=10.0
    ) as running:  # generous: a slow CI machine must not turn cold loads into 503s
        yield running
