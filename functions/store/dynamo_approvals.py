"""Grants in DynamoDB.

A grant is one row plus one immutable link row per dataset it names, written together;
every lookup is a key read or an index query, and what an (eventually consistent) index
returns is re-read consistently, so a grant is always judged in its current state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from functions.domain.approvals import Approval, ApprovalState
from functions.domain.audit import AuditRecord
from functions.store import governance_rules as gr
from functions.store.dynamo_base import DynamoBase
from functions.store.errors import translated
from functions.store.tables import ApprovalRow
from functions.store.tx import Write
from sdk.contracts.errors import Conflict, NotFound

_Keep = Callable[[Approval], bool]


class ApprovalsMixin(DynamoBase):
    def create_approval(self, approval: Approval, *, audit: AuditRecord | None = None) -> None:
        rows = self._t.approvals
        write = Write()
        write.put(
            self._grant_row(approval),
            condition=rows.approval_id.does_not_exist(),
            on_fail=Conflict(f"approval {approval.approval_id} already exists"),
        )
        for name in approval.datasets:
            write.put(
                rows(
                    approval.approval_id,
                    gr.dataset_item(name),
                    tenant=approval.tenant,
                    expires_at=gr.expiry_key(approval),
                    tenant_dataset=gr.scoped(approval.tenant, name),
                )
            )
        self._add_audit(write, audit)
        self._commit(write)

    def get_approval(self, tenant: str, approval_id: str) -> Approval:
        missing = NotFound("approval", approval_id)
        with translated(missing=missing):
            row = self._t.approvals.get(approval_id, gr.GRANT_ITEM, consistent_read=True)
        if row.tenant != tenant:
            raise missing
        return _approval_of(row)

    def save_approval(self, approval: Approval, *, expected_version: int, audit: AuditRecord | None = None) -> Approval:
        rows = self._t.approvals
        saved = approval.model_copy(update={"version": expected_version + 1})
        condition = (rows.version == expected_version) & (rows.tenant == approval.tenant)
        write = Write()
        write.put(self._grant_row(saved), condition=condition, on_fail=gr.stale_approval(approval, expected_version))
        self._add_audit(write, audit)
        self._commit(write)
        return saved

    def approvals_in_state(
        self, tenant: str, state: ApprovalState, *, expiring_after: datetime | None = None
    ) -> list[Approval]:
        rows = self._t.approvals
        condition = None if expiring_after is None else rows.expires_at > gr.since_key(expiring_after)
        found = self._grant_ids(rows.by_state.query, gr.scoped(tenant, state.value), condition)
        return self._current_grants(
            found, lambda a: a.tenant == tenant and a.state is state and gr.expiring_after(a, expiring_after)
        )

    def approvals_for_dataset(
        self, tenant: str, dataset: str, *, expiring_after: datetime | None = None
    ) -> list[Approval]:
        rows = self._t.approvals
        condition = None if expiring_after is None else rows.expires_at > gr.since_key(expiring_after)
        found = self._grant_ids(rows.by_dataset.query, gr.scoped(tenant, dataset), condition)
        return self._current_grants(
            found, lambda a: a.tenant == tenant and dataset in a.datasets and gr.expiring_after(a, expiring_after)
        )

    def approvals_for_grantee(self, tenant: str, grantee: str) -> list[Approval]:
        found = self._grant_ids(self._t.approvals.by_grantee.query, gr.scoped(tenant, grantee), None)
        return self._current_grants(found, lambda a: a.tenant == tenant and a.grantee == grantee)

    def approvals_requested_by(self, tenant: str, principal: str) -> list[Approval]:
        found = self._grant_ids(self._t.approvals.by_requester.query, gr.scoped(tenant, principal), None)
        return self._current_grants(found, lambda a: a.tenant == tenant and a.requested_by == principal)

    def approvals_by_id(self, approval_ids: Iterable[str]) -> list[Approval]:
        return self._current_grants(approval_ids, lambda a: True)

    def due_approvals(self, now: datetime, *, limit: int = 100) -> list[Approval]:
        rows = self._t.approvals
        with translated():
            found = [
                row.approval_id
                for row in rows.expiring.query(gr.APPROVED_PARTITION, rows.expires_at <= gr.since_key(now), limit=limit)
            ]
        return self._current_grants(found, lambda a: gr.is_due(a, now))

    def _grant_ids(self, query: Callable[..., Iterable[ApprovalRow]], partition: str, condition: Any) -> list[str]:
        with translated():
            return [row.approval_id for row in query(partition, condition)]

    def _current_grants(self, approval_ids: Iterable[str], keep: _Keep) -> list[Approval]:
        """Re-read the grants an index named (consistently); keep those that still qualify."""
        ids = list(dict.fromkeys(approval_ids))
        if not ids:
            return []
        with translated():
            rows = list(self._t.approvals.batch_get([(i, gr.GRANT_ITEM) for i in ids], consistent_read=True))
        found = [_approval_of(row) for row in rows]
        return sorted((a for a in found if keep(a)), key=gr.approval_order)

    def _grant_row(self, a: Approval) -> ApprovalRow:
        return self._t.approvals(
            a.approval_id,
            gr.GRANT_ITEM,
            tenant=a.tenant,
            expires_at=gr.expiry_key(a),
            version=a.version,
            body=a.model_dump_json(),
            tenant_state=gr.scoped(a.tenant, a.state.value),
            tenant_grantee=gr.scoped(a.tenant, a.grantee),
            tenant_requester=gr.scoped(a.tenant, a.requested_by),
            approved=gr.APPROVED_PARTITION if a.state is ApprovalState.APPROVED else None,
        )


def _approval_of(row: ApprovalRow) -> Approval:
    assert row.body is not None  # grant rows always carry their body
    return Approval.model_validate_json(row.body).model_copy(update={"version": int(row.version or 0)})
