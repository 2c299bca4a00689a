"""The audit trail in DynamoDB: rows are only ever put, on the condition that no row has
their key; there is no update or delete here, and IAM grants the functions PutItem only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.domain.audit import AuditRecord
from functions.store import governance_rules as gr
from functions.store.dynamo_base import DynamoBase
from functions.store.errors import translated
from functions.store.tx import Write


class AuditMixin(DynamoBase):
    def append(self, record: AuditRecord) -> None:
        write = Write()
        self._add_audit(write, record)
        self._commit(write)

    def audit_records(
        self,
        tenant: str,
        *,
        actor: str | None = None,
        resource: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        rows = self._t.audit
        condition = None if since is None else rows.at_id >= gr.since_key(since)
        options: dict[str, Any] = {"scan_index_forward": False, "limit": gr.audit_limit(limit)}
        with translated():
            if resource is not None:
                if actor is not None:
                    options["filter_condition"] = rows.tenant_actor == gr.scoped(tenant, actor)
                found = list(rows.by_resource.query(gr.scoped(tenant, resource), condition, **options))
            elif actor is not None:
                found = list(rows.by_actor.query(gr.scoped(tenant, actor), condition, **options))
            else:
                found = list(rows.query(tenant, condition, **options))
        return [AuditRecord.model_validate_json(row.body) for row in found]
