from __future__ import annotations

import pytest

from functions.store.memory import InMemoryStore
from tests.model_store_contract import ModelStoreContract


class TestInMemoryModelStore(ModelStoreContract):
    @pytest.fixture
    def models(self) -> InMemoryStore:
        return InMemoryStore()
