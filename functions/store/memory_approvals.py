"""The ApprovalStore and AuditStore ports in memory, with DynamoStore's semantics: the same
errors, the same order (functions.store.governance_rules), grants kept as JSON, and
audit records appended in the same atomic step as the change they record.

InMemoryStore mixes these in and shares one lock with them, so a job save and its audit
record happen together, as in one DynamoDB transaction. Helpers named `_..._locked`
expect the caller to hold that lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from functions.domain.approvals import Approval, ApprovalState
from functions.domain.audit import AuditRecord
from functions.store import governance_rules as gr
from sdk.contracts.errors import Conflict, NotFound


class InMemoryAuditLog:
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._audit: dict[tuple[str, str], str] = {}  # (tenant, at_id) -> AuditRecord JSON

    def append(self, record: AuditRecord) -> None:
        with self._lock:
            self._check_audit_locked(record)
            self._put_audit_locked(record)

    def audit_records(
        self,
        tenant: str,
        *,
        actor: str | None = None,
        resource: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        cutoff = None if since is None else gr.since_key(since)
        with self._lock:
            mine = sorted(((at, body) for (t, at), body in self._audit.items() if t == tenant), reverse=True)
        found = [AuditRecord.model_validate_json(body) for at, body in mine if cutoff is None or at >= cutoff]
        kept = [
            r for r in found if (actor is None or r.actor == actor) and (resource is None or r.resource == resource)
        ]
        return kept[: gr.audit_limit(limit)]

    def _check_audit_locked(self, record: AuditRecord | None) -> None:
        if record is not None and (record.tenant, gr.at_id(record)) in self._audit:
            raise gr.duplicate_audit(record)

    def _put_audit_locked(self, record: AuditRecord | None) -> None:
        if record is not None:
            self._audit[(record.tenant, gr.at_id(record))] = record.model_dump_json()


class InMemoryApprovalStore(InMemoryAuditLog):
    def __init__(self) -> None:
        super().__init__()
        self._approvals: dict[str, str] = {}  # approval id -> Approval JSON (with its version)

    def create_approval(self, approval: Approval, *, audit: AuditRecord | None = None) -> None:
        with self._lock:
            if approval.approval_id in self._approvals:
                raise Conflict(f"approval {approval.approval_id} already exists")
            self._check_audit_locked(audit)
            self._approvals[approval.approval_id] = approval.model_dump_json()
            self._put_audit_locked(audit)

    def get_approval(self, tenant: str, approval_id: str) -> Approval:
        with self._lock:
            found = self._approval_locked(approval_id)
        if found is None or found.tenant != tenant:
            raise NotFound("approval", approval_id)
        return found

    def save_approval(self, approval: Approval, *, expected_version: int, audit: AuditRecord | None = None) -> Approval:
        saved = approval.model_copy(update={"version": expected_version + 1})
        with self._lock:
            stored = self._approval_locked(approval.approval_id)
            if stored is None or stored.version != expected_version or stored.tenant != approval.tenant:
                raise gr.stale_approval(approval, expected_version)
            self._check_audit_locked(audit)
            self._approvals[approval.approval_id] = saved.model_dump_json()
            self._put_audit_locked(audit)
        return saved

    def approvals_in_state(
        self, tenant: str, state: ApprovalState, *, expiring_after: datetime | None = None
    ) -> list[Approval]:
        return self._grants(lambda a: a.tenant == tenant and a.state is state and gr.expiring_after(a, expiring_after))

    def approvals_for_dataset(
        self, tenant: str, dataset: str, *, expiring_after: datetime | None = None
    ) -> list[Approval]:
        return self._grants(
            lambda a: a.tenant == tenant and dataset in a.datasets and gr.expiring_after(a, expiring_after)
        )

    def approvals_for_grantee(self, tenant: str, grantee: str) -> list[Approval]:
        return self._grants(lambda a: a.tenant == tenant and a.grantee == grantee)

    def approvals_requested_by(self, tenant: str, principal: str) -> list[Approval]:
        return self._grants(lambda a: a.tenant == tenant and a.requested_by == principal)

    def approvals_by_id(self, approval_ids: Iterable[str]) -> list[Approval]:
        wanted = set(approval_ids)
        return self._grants(lambda a: a.approval_id in wanted)

    def due_approvals(self, now: datetime, *, limit: int = 100) -> list[Approval]:
        return self._grants(lambda a: gr.is_due(a, now))[:limit]

    def _approval_locked(self, approval_id: str) -> Approval | None:
        body = self._approvals.get(approval_id)
        return None if body is None else Approval.model_validate_json(body)

    def _grants(self, keep: Callable[[Approval], bool]) -> list[Approval]:
        with self._lock:
            every = [Approval.model_validate_json(body) for body in self._approvals.values()]
        return sorted((a for a in every if keep(a)), key=gr.approval_order)
