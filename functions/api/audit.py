"""The audit trail, read-only: there is no route that changes or deletes a record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from functions.api.auth import Authorized, DepsDep
from functions.api.schemas import Items
from functions.core import audit
from sdk.governance import AuditRecordView

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", response_model=Items[AuditRecordView])
def records(
    actor: Authorized,
    deps: DepsDep,
    resource: Annotated[
        str | None,
        Query(min_length=1, max_length=300, description="e.g. job/<id>, approval/<id>, dataset/<project>/<name>"),
    ] = None,
    of: Annotated[str | None, Query(alias="actor", min_length=1, max_length=200)] = None,
    since: datetime | None = None,
    tenant: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Newest first. Admins read their tenant's trail (admins of the platform-admin tenant
    any tenant's, naming it); everyone else only the records of their own actions."""
    found = audit.query(deps, actor, tenant=tenant, of_actor=of, resource=resource, since=since, limit=limit)
    return {"items": [r.model_dump(mode="json") for r in found]}
