from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from predictor.inference.core import InferenceCore
from predictor.inference.errors import ModelInvalid, WrongKind
from predictor.inference.models import ModelLoader, module_bytes
from predictor.inference.store import LoadedModels
from sdk.contracts.errors import ValidationError
from sdk.models import archive, embeddings
from sdk.models.intent import IntentClassifier, intent_checkpoint, intent_config
from sdk.models.png import encode_gray
from sdk.models.vision import VisionClassifier, shapes, vision_checkpoint, vision_config

LABELS = ["Billing", "Order Change", "Password Help", "Sales Opportunity", "Shipping Info"]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> embeddings.EmbeddingTable:
    return embeddings.ensure(tmp_path_factory.mktemp("embeddings"))


def extract(tmp_path: Path, checkpoint: bytes) -> Path:
    blob, sha = archive.archive_from_checkpoint(checkpoint, created_from={"job_id": "j", "epoch": 1})
    src = tmp_path / "a.tar.gz"
    src.write_bytes(blob)
    archive.safe_extract(src, tmp_path / sha)
    return tmp_path / sha


def intent_dir(tmp_path: Path, table: embeddings.EmbeddingTable, **config_overrides: object) -> Path:
    torch.manual_seed(0)
    config = intent_config(table.info) | config_overrides
    model = IntentClassifier.from_config(intent_config(table.info), n_labels=len(LABELS))
    return extract(tmp_path, intent_checkpoint(model, labels=LABELS, config=config))


def test_intent_model_predicts_every_label_sorted(tmp_path: Path, table: embeddings.EmbeddingTable) -> None:
    model = ModelLoader(table).load(intent_dir(tmp_path, table))
    ranked = model.predict(b"my password stopped working")
    assert sorted(label for label, _ in ranked) == LABELS
    probs = [p for _, p in ranked]
    assert probs == sorted(probs, reverse=True)
    assert math.isclose(sum(probs), 1.0, abs_tol=1e-9)
    assert model.nbytes < 100_000
    with pytest.raises(ValidationError, match="UTF-8"):
        model.predict(b"\xff\xfe")


def test_model_for_another_embedding_table_is_refused(tmp_path: Path, table: embeddings.EmbeddingTable) -> None:
    other = table.info.identity() | {"sha256": "0" * 64}
    with pytest.raises(ModelInvalid, match="embedding table"):
        ModelLoader(table).load(intent_dir(tmp_path, table, embedding=other))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Path, table: embeddings.EmbeddingTable) -> None:
    with pytest.raises(ModelInvalid, match="do not fit"):
        ModelLoader(table).load(intent_dir(tmp_path, table, hidden=7))


def test_corrupt_weights_are_refused(tmp_path: Path, table: embeddings.EmbeddingTable) -> None:
    blob = archive.pack_checkpoint(weights=b"not torch", labels=LABELS, kind="intent", config=intent_config(table.info))
    with pytest.raises(ModelInvalid):
        ModelLoader(table).load(extract(tmp_path, blob))


def test_vision_model_decodes_png(tmp_path: Path, table: embeddings.EmbeddingTable) -> None:
    model = ModelLoader(table).load(
        extract(tmp_path, vision_checkpoint(VisionClassifier(n_labels=4), config=vision_config()))
    )
    images, _ = shapes(1)
    assert len(model.predict(encode_gray(images[0]))) == 4
    with pytest.raises(ValidationError, match="PNG"):
        model.predict(b"not an image")
    assert model.nbytes == module_bytes(VisionClassifier(n_labels=4))


def test_core_refuses_the_wrong_kind_and_times_the_forward(tmp_path: Path, table: embeddings.EmbeddingTable) -> None:
    directory = intent_dir(tmp_path, table)
    store = LoadedModels(root=tmp_path, budget_bytes=1 << 20, loader=ModelLoader(table).load)
    core = InferenceCore(store)

    with pytest.raises(WrongKind):
        core.predict(kind="vision", model_id="m", payload=b"", directory=directory.name)
    prediction = core.predict(kind="intent", model_id="m", payload=b"refund", directory=None)
    assert prediction.hit and prediction.infer_s > 0
    shutil.rmtree(directory)
