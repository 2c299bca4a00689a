from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from functions.store.dynamo import DynamoStore
from functions.store.tables import create_all, delete_all, make_tables
from tests.model_store_contract import ModelStoreContract

pytestmark = pytest.mark.integration


class TestDynamoModelStore(ModelStoreContract):
    @pytest.fixture
    def models(self, moto_endpoint: str) -> Iterator[DynamoStore]:
        tables = make_tables(prefix=f"m{uuid.uuid4().hex[:10]}-", host=moto_endpoint, region="us-east-1")
        create_all(tables)
        yield DynamoStore(tables)
        delete_all(tables)
