"""Data grants: request, decide (approve, deny, revoke), list and show with history.

Roles are checked by the route table (functions.api.policy); the core adds what holds for
any caller (tenant scoping, no self-approval, who sees which grants).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from functions.api.auth import Authorized, DepsDep
from functions.api.schemas import Items
from functions.core import approvals
from functions.domain.approvals import Approval, GrantAction, GrantFilter, project_grantee
from sdk.contracts.specs import DatasetName
from sdk.governance import ApprovalView

router = APIRouter(prefix="/v1", tags=["approvals"])
TenantParam = Annotated[
    str | None, Query(min_length=1, max_length=64, description="another tenant (admins of the platform-admin tenant)")
]


class GrantRequest(BaseModel):
    """A grant on datasets of `project`: to the project's tasks, or with `principal` to that
    person only, for `days` from now."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetName] = Field(min_length=1, max_length=16)
    versions: dict[DatasetName, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, max_length=16, description="limit the grant to one version of some of the datasets"
    )
    action: GrantAction
    project: str = Field(min_length=1, max_length=64)
    principal: str | None = Field(default=None, min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000)
    days: int = Field(ge=1, le=365)


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)
    tenant: str | None = Field(
        default=None, min_length=1, max_length=64, description="revoke another tenant's grant (platform admins)"
    )


def approval_view(a: Approval, now: datetime) -> dict[str, Any]:
    """`state` is the effective state now (an approved grant past its expiry is expired);
    `recorded_state` is what the last change wrote."""
    out = a.model_dump(mode="json", exclude={"version"})
    out["recorded_state"] = a.state.value
    out["state"] = a.effective_state(now).value
    return out


@router.post("/approvals", status_code=201, response_model=ApprovalView)
def request_grant(req: GrantRequest, actor: Authorized, deps: DepsDep) -> dict[str, Any]:
    grant = approvals.request(
        deps,
        actor,
        datasets=req.datasets,
        action=req.action,
        purpose=req.purpose,
        days=req.days,
        project_id=req.project,
        principal=req.principal,
        versions=req.versions,
    )
    return approval_view(grant, deps.clock.now())


def _decide(
    approval_id: str, verb: approvals.Verb, req: DecisionRequest | None, actor: Authorized, deps: DepsDep
) -> dict[str, Any]:
    body = req or DecisionRequest()
    grant = approvals.decide(deps, actor, approval_id, verb=verb, reason=body.reason, tenant=body.tenant)
    return approval_view(grant, deps.clock.now())


@router.post("/approvals/{approval_id}/approve", response_model=ApprovalView)
def approve(approval_id: str, actor: Authorized, deps: DepsDep, req: DecisionRequest | None = None) -> dict[str, Any]:
    """An approver or admin of the grant's tenant; never the person who asked."""
    return _decide(approval_id, "approve", req, actor, deps)


@router.post("/approvals/{approval_id}/deny", response_model=ApprovalView)
def deny(approval_id: str, actor: Authorized, deps: DepsDep, req: DecisionRequest | None = None) -> dict[str, Any]:
    return _decide(approval_id, "deny", req, actor, deps)


@router.post("/approvals/{approval_id}/revoke", response_model=ApprovalView)
def revoke(approval_id: str, actor: Authorized, deps: DepsDep, req: DecisionRequest | None = None) -> dict[str, Any]:
    """Running jobs that depend on the grant are cancelled at the next sweep; no new
    dataset URL is issued under it from now on."""
    return _decide(approval_id, "revoke", req, actor, deps)


@router.get("/approvals", response_model=Items[ApprovalView])
def list_grants(
    actor: Authorized,
    deps: DepsDep,
    state: GrantFilter | None = None,
    dataset: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    principal: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    project: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    tenant: TenantParam = None,
) -> dict[str, Any]:
    """Approvers and admins see the tenant's grants; others the grants they asked for or
    that name them. `principal` filters by grantee (`project=P` means `project:P`)."""
    grantee = principal if principal is not None else (project_grantee(project) if project else None)
    found = approvals.listing(deps, actor, which=state, dataset=dataset, grantee=grantee, tenant=tenant)
    now = deps.clock.now()
    return {"items": [approval_view(a, now) for a in found]}


@router.get("/approvals/{approval_id}", response_model=ApprovalView)
def show(approval_id: str, actor: Authorized, deps: DepsDep, tenant: TenantParam = None) -> dict[str, Any]:
    """One grant with its full history."""
    return approval_view(approvals.show(deps, actor, approval_id, tenant=tenant), deps.clock.now())
