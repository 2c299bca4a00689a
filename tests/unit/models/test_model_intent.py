from __future__ import annotations

import numpy as np
import pytest
import torch

from sdk.models import archive
from sdk.models.embeddings import EmbeddingTable
from sdk.models.intent import (
    IntentClassifier,
    IntentHead,
    featurize,
    intent_checkpoint,
    intent_config,
    load_state,
    pool_ids,
)


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


def test_served_head_computes_what_the_trained_module_computes(table: EmbeddingTable) -> None:
    torch.manual_seed(3)
    config = intent_config(table.info)
    model = IntentClassifier.from_config(config, n_labels=5).eval()
    head = IntentHead.from_state(model.state_dict(), config=config, n_labels=5)
    x = torch.from_numpy(featurize(table, ["my password stopped working", "where is my parcel"], config))
    with torch.inference_mode():
        expected = model(x)
    torch.testing.assert_close(head(x), expected)
    assert head.nbytes == sum(p.numel() * 4 for p in model.parameters())


def test_head_refuses_a_state_that_does_not_fit(table: EmbeddingTable) -> None:
    config = intent_config(table.info)
    state = IntentClassifier.from_config(config, n_labels=5).state_dict()
    with pytest.raises(ValueError, match="expected"):
        IntentHead.from_state(state, config=config, n_labels=4)
    with pytest.raises(ValueError, match="keys"):
        IntentHead.from_state({**state, "extra": torch.zeros(1)}, config=config, n_labels=5)
