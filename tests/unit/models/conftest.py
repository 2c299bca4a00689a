"""Fixtures for the shared model code: the real embedding table, materialised once."""

from __future__ import annotations

import pytest

from sdk.models import embeddings


@pytest.fixture(scope="session")
def table(tmp_path_factory: pytest.TempPathFactory) -> embeddings.EmbeddingTable:
    return embeddings.ensure(tmp_path_factory.mktemp("embeddings"))
