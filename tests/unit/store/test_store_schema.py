"""The table definitions, as terraform must reproduce them (no server needed)."""

from __future__ import annotations

from functions.store.schema import IndexSchema, describe
from functions.store.tables import make_tables


def test_tables_and_their_keys() -> None:
    tables = {t.name: t for t in describe(make_tables(prefix="trainyard-", host=None, region="eu-west-1"))}
    assert {name: (t.hash_key, t.range_key) for name, t in tables.items()} == {
        "trainyard-projects": ("project_id", None),
        "trainyard-tasks": ("task_id", None),
        "trainyard-jobs": ("job_id", None),
        "trainyard-epochs": ("job_id", "epoch"),
        "trainyard-checkpoints": ("job_id", "epoch"),
        "trainyard-capacity": ("pk", "sk"),
        "trainyard-dedup": ("key", None),
        "trainyard-models": ("model_id", None),
        "trainyard-approvals": ("approval_id", "item"),
        "trainyard-audit": ("tenant", "at_id"),
        "trainyard-report_marks": ("job_id", None),
        "trainyard-summaries": ("task_id", None),
        "trainyard-dataset_versions": ("dataset", "version"),
    }
    assert {t.billing_mode for t in tables.values()} == {"PAY_PER_REQUEST"}
    assert [name for name, t in tables.items() if t.ttl_attribute] == ["trainyard-dedup", "trainyard-report_marks"]
    assert tables["trainyard-dedup"].ttl_attribute == "expires_at"


def test_job_indexes() -> None:
    described = describe(make_tables(prefix="p-", host=None, region="eu-west-1"))
    jobs = next(t for t in described if t.name == "p-jobs")
    assert jobs.indexes == (
        IndexSchema("by_task", "task_id", "attempt", "ALL"),
        IndexSchema("deadlines", "active_pool", "deadline_at", "ALL"),
        IndexSchema("queue", "queue_pool", "queue_key", "ALL"),
        IndexSchema("unreleased", "release_pool", "announce_at", "ALL"),
    )
    assert jobs.key_types["attempt"] == "N" and jobs.key_types["deadline_at"] == "S"


def test_each_binding_has_its_own_tables_and_indexes() -> None:
    a = make_tables(prefix="a-", host=None, region="eu-west-1")
    b = make_tables(prefix="b-", host=None, region="eu-west-1")
    assert (a.jobs.Meta.table_name, b.jobs.Meta.table_name) == ("a-jobs", "b-jobs")
    assert a.jobs.queue is not b.jobs.queue  # a shared index would query the other table
