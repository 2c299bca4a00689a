from __future__ import annotations

import numpy as np
import torch

from sdk.models import archive
from sdk.models.embeddings import EmbeddingTable
from sdk.models.intent import IntentClassifier, featurize, intent_checkpoint, intent_config, load_state, pool_ids


def test_pool_is_the_mean_of_token_rows(table: EmbeddingTable) -> None:
    ids = table.tokenizer.encode("my password")
    expected = table.vectors[ids].astype(np.float32).mean(axis=0)
    np.testing.assert_allclose(pool_ids(table.vectors, ids), expected, rtol=1e-6)
    assert not pool_ids(table.vectors, []).any()


def test_featurize_batches_documents(table: EmbeddingTable) -> None:
    config = intent_config(table.info)
    x = featurize(table, ["where is my package", "", "refund my money"], config)
    assert x.shape == (3, 384)
    assert x.dtype == np.float32
    assert not x[1].any()


def test_config_names_the_embedding_table(table: EmbeddingTable) -> None:
    config = intent_config(table.info, hidden=16)
    assert config["embedding"]["sha256"] == table.info.sha256
    assert config["hidden"] == 16


def test_default_head_is_small(table: EmbeddingTable) -> None:
    model = IntentClassifier.from_config(intent_config(table.info), n_labels=5)
    params = sum(p.numel() for p in model.parameters())
    assert params * 4 < 100_000  # the per-model budget, with room for Python overhead
    assert model(torch.zeros(2, 384)).shape == (2, 5)


def test_checkpoint_round_trips_the_state_dict(table: EmbeddingTable) -> None:
    config = intent_config(table.info, hidden=8)
    model = IntentClassifier.from_config(config, n_labels=3)
    blob = intent_checkpoint(model, labels=["a", "b", "c"], config=config)
    members = archive.read_members(blob)
    state = load_state(members[archive.WEIGHTS])
    twin = IntentClassifier.from_config(config, n_labels=3)
    twin.load_state_dict(state)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, twin.state_dict()[name])
