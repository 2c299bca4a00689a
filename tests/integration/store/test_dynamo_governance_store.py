"""The approvals and audit contract against DynamoStore on a real moto server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from functions.store.dynamo import DynamoStore
from functions.store.tables import create_all, delete_all, make_tables
from tests.governance_store_contract import GovernanceStoreContract, Store

pytestmark = pytest.mark.integration


class TestDynamoGovernanceStore(GovernanceStoreContract):
    @pytest.fixture
    def store(self, moto_endpoint: str) -> Iterator[Store]:
        tables = make_tables(prefix=f"g{uuid.uuid4().hex[:10]}-", host=moto_endpoint, region="us-east-1")
        create_all(tables)
        yield DynamoStore(tables)
        delete_all(tables)
