"""Wire views of data grants and audit records, as the platform returns them.

Example::

    with Client(url, token) as c:
        grant = c.request_approval(["reviews"], action="train", project="p-1", purpose="intent model", days=30)
        # ... an approver of the tenant runs: c.approve(grant.approval_id, reason="fits the purpose")
        for change in c.get_approval(grant.approval_id).history:
            print(change.at, change.actor, change.from_state, "->", change.to_state, change.reason)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdk.contracts.errors import Problem, ValidationError

GrantActionName = Literal["train", "validate", "read"]
GrantStateFilter = Literal["current", "active", "requested", "expired", "revoked", "denied"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)


class ApprovalChange(_View):
    """One line of a grant's history: who moved it from which state to which, when, why."""

    at: datetime
    actor: str
    from_state: str | None = None
    to_state: str
    reason: str = ""


class ApprovalView(_View):
    """A grant. `state` is its effective state now (an approved grant past `expires_at` is
    `expired`); `recorded_state` is what its last change wrote."""

    approval_id: str
    tenant: str
    grantee: str
    project: str | None = None  # whose datasets (a project grant: that project)
    action: str
    datasets: list[str] = Field(default_factory=list)
    versions: dict[str, int] = Field(default_factory=dict, description="datasets limited to one version")
    purpose: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    state: str
    recorded_state: str = ""
    history: list[ApprovalChange] = Field(default_factory=list)


class AuditRecordView(_View):
    audit_id: str
    tenant: str
    actor: str
    action: str
    resource: str
    decision: Literal["allowed", "denied"]
    reason: str = ""
    request_id: str | None = None
    at: datetime


def grant_request_body(
    datasets: list[str],
    *,
    action: GrantActionName,
    purpose: str,
    days: int,
    project: str | None,
    principal: str | None,
    versions: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The POST /v1/approvals body: the project whose datasets are meant, and with `principal`
    the one person it is for; a grant without a project is refused before any request."""
    problems = []
    if project is None:
        problems.append(
            Problem(
                field="project",
                message="name the project whose datasets the grant is for "
                "(and a principal to grant it to one person only)",
            )
        )
    if not datasets:
        problems.append(Problem(field="datasets", message="name at least one dataset"))
    if problems:
        raise ValidationError(problems)
    body: dict[str, Any] = {"datasets": datasets, "action": action, "purpose": purpose, "days": days}
    if versions:
        body["versions"] = versions
    return {**body, "project": project, **({"principal": principal} if principal is not None else {})}


def query(**params: str | int | datetime | None) -> dict[str, str]:
    """Query parameters without the unset ones (datetimes as ISO-8601)."""
    return {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in params.items() if v is not None}
