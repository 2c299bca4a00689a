"""The approvals and audit contract against the in-memory fake the core's unit tests use."""

from __future__ import annotations

import pytest

from functions.store.memory import InMemoryStore
from tests.governance_store_contract import GovernanceStoreContract, Store


class TestInMemoryGovernanceStore(GovernanceStoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return InMemoryStore()
