"""Keys of the approvals and audit tables that DynamoStore writes and InMemoryStore sorts by,
so both stores answer in the same order."""

from __future__ import annotations

from datetime import datetime

from functions.domain.approvals import Approval, ApprovalState
from functions.domain.audit import AuditRecord
from functions.store.rules import utc_iso
from sdk.contracts.errors import Conflict

GRANT_ITEM = "grant"
DATASET_ITEM_PREFIX = "dataset#"
# The expiring index has one partition: approved grants are few (people approve them by hand).
APPROVED_PARTITION = "approved"
MAX_AUDIT_LIMIT = 1000


def scoped(tenant: str, value: str) -> str:
    """An index partition key that keeps tenants apart: `<tenant>#<value>`."""
    return f"{tenant}#{value}"


def dataset_item(name: str) -> str:
    return DATASET_ITEM_PREFIX + name


def expiry_key(approval: Approval) -> str:
    return utc_iso(approval.expires_at)


def approval_order(approval: Approval) -> tuple[str, str]:
    return expiry_key(approval), approval.approval_id


def expiring_after(approval: Approval, moment: datetime | None) -> bool:
    return moment is None or expiry_key(approval) > utc_iso(moment)


def is_due(approval: Approval, now: datetime) -> bool:
    return approval.state is ApprovalState.APPROVED and expiry_key(approval) <= utc_iso(now)


def at_id(record: AuditRecord) -> str:
    """Sort key of a tenant's trail: time first, then the id that makes it unique."""
    return f"{utc_iso(record.at)}#{record.audit_id}"


def since_key(since: datetime) -> str:
    return utc_iso(since)


def stale_approval(approval: Approval, expected_version: int) -> Conflict:
    return Conflict(f"approval {approval.approval_id}: stored version is not {expected_version}")


def duplicate_audit(record: AuditRecord) -> Conflict:
    return Conflict(f"audit record {record.audit_id} already exists; records are never overwritten")


def audit_limit(limit: int) -> int:
    return max(1, min(limit, MAX_AUDIT_LIMIT))
