"""The store contract against DynamoStore on a real moto server, plus what only the
real tables can show: sparse indexes, one shared client, errors of an unreachable server.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from functions.domain import lifecycle
from functions.domain.admission import Capacity
from functions.local.moto_isolation import isolate_moto_dynamodb
from functions.store import rules
from functions.store.dynamo import DynamoStore
from functions.store.tables import Tables, create_all, delete_all, make_tables
from sdk.contracts.errors import PermanentError, TemporaryError
from sdk.contracts.specs import FailureKind
from tests.store_contract import Store, StoreContract, at, job, launched, queued

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated_moto() -> Iterator[None]:
    """Without it moto over-admits concurrent launches (see functions.local.moto_isolation)."""
    undo = isolate_moto_dynamodb()
    yield
    undo()


@pytest.fixture
def tables(moto_endpoint: str, isolated_moto: None) -> Iterator[Tables]:
    """A fresh set of tables per test, under its own prefix."""
    made = make_tables(prefix=f"t{uuid.uuid4().hex[:10]}-", host=moto_endpoint, region="us-east-1")
    create_all(made)
    yield made
    delete_all(made)


@pytest.fixture
def unused_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens there


class TestDynamoStore(StoreContract):
    @pytest.fixture
    def store(self, tables: Tables) -> Store:
        return DynamoStore(tables)


def _index_attrs(tables: Tables, job_id: str) -> dict[str, str | None]:
    stored = tables.jobs.get(job_id, consistent_read=True).attribute_values
    names = ("queue_pool", "queue_key", "active_pool", "deadline_at", "release_pool", "announce_at")
    return {name: stored.get(name) for name in names}


def test_sweep_and_queue_indexes_are_sparse(tables: Tables) -> None:
    store = DynamoStore(tables)
    (j,) = queued(store, job("j1"))
    attrs = _index_attrs(tables, "j1")
    assert (attrs["queue_pool"], attrs["active_pool"], attrs["release_pool"]) == ("gpu#acme", None, None)
    j = launched(store, j, now=0)
    assert _index_attrs(tables, "j1") == {
        "queue_pool": None,
        "queue_key": None,
        "active_pool": f"gpu#{rules.deadline_shard('j1')}",
        "deadline_at": "2030-01-01T00:01:00.000000Z",
        "release_pool": None,
        "announce_at": None,
    }
    store.save_job(lifecycle.fail(j, at(5), reason="x", kind=FailureKind.TRAINER), expected_version=j.version)
    assert _index_attrs(tables, "j1") == {
        "queue_pool": None,
        "queue_key": None,
        "active_pool": None,
        "deadline_at": None,
        "release_pool": "gpu",
        "announce_at": "2030-01-01T00:01:05.000000Z",
    }
    raw = tables.jobs.get("j1", consistent_read=True).serialize()
    assert "deadline_at" not in raw and "active_pool" not in raw  # absent, not null: the index skips it
    assert sum(tables.jobs.deadlines.count(p) for p in rules.deadline_partitions("gpu")) == 0
    assert tables.jobs.queue.count("gpu#acme") == 0
    assert tables.jobs.unreleased.count("gpu") == 1


def test_every_table_shares_one_client(tables: Tables) -> None:
    clients = {id(model._get_connection().connection.client) for model in tables.models()}
    assert clients == {id(tables.connection.client)}


def test_usage_reads_one_pool_partition(tables: Tables) -> None:
    store = DynamoStore(tables)
    a, b = queued(store, job("a"), job("b", pool="cpu"))
    launched(store, a)
    launched(store, b)
    assert store.usage("gpu") == (Capacity(slots=1, cpu_milli=1000, memory_mb=1024), {"acme": 1})
    assert [r.sk for r in tables.capacity.query("pool#gpu")] == ["tenant#acme", "usage"]


def test_a_missing_table_is_a_permanent_error(moto_endpoint: str) -> None:
    store = DynamoStore(make_tables(prefix="never-created-", host=moto_endpoint, region="us-east-1"))
    with pytest.raises(PermanentError):
        store.get_job("acme", "j1")


def test_an_unreachable_server_is_a_temporary_error(unused_endpoint: str) -> None:
    store = DynamoStore(make_tables(prefix="t-", host=unused_endpoint, region="us-east-1"))
    with pytest.raises(TemporaryError):
        store.create_job(job("j1"))
