"""The store contract against the in-memory fake that unit tests of the core use."""

from __future__ import annotations

import pytest

from functions.store.memory import InMemoryStore
from tests.store_contract import Store, StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return InMemoryStore()
