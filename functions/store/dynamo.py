"""DynamoStore: the ProjectStore, TaskStore, JobStore, ModelStore, ApprovalStore and AuditStore
ports on DynamoDB (PynamoDB), and the DatasetStore.

Every change is a conditional write; multi-item changes (a job and its epoch, dedup key
or capacity counters) are one TransactWriteItems, so they happen together or not at all.
PynamoDB errors become trainyard errors in functions.store.errors, and only there.

    store = DynamoStore(make_tables(prefix="trainyard-", host=None, region="eu-west-1"))
"""

from __future__ import annotations

from functions.store.dynamo_approvals import ApprovalsMixin
from functions.store.dynamo_audit import AuditMixin
from functions.store.dynamo_capacity import CapacityMixin
from functions.store.dynamo_catalog import CatalogMixin
from functions.store.dynamo_datasets import DatasetsMixin
from functions.store.dynamo_jobs import JobsMixin
from functions.store.dynamo_models import ModelsMixin


class DynamoStore(CatalogMixin, JobsMixin, CapacityMixin, ModelsMixin, ApprovalsMixin, AuditMixin, DatasetsMixin):
    """Construct with `DynamoStore(tables, clock=...)`; the clock only dates dedup keys."""
