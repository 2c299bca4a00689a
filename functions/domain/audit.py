"""Audit records and the actor behind a decision, as pure values.

A record says who (actor `sub`), did or tried what (`action`), on which resource, whether
it was allowed or denied, why, when, and under which request id. Records are only ever
appended: nothing here (nor in any store) changes or deletes one.

Resources are named `<kind>/<id>`: `job/<job_id>`, `approval/<id>`, `model/<id>`,
`dataset/<project_id>/<name>`, `project/<id>`; a refusal at the HTTP edge names the
route (`route/<METHOD> <path>`) or the resource that was not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from functions.domain.model import Job
from sdk.auth.tokens import Role


class Decision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_id: str
    tenant: str
    actor: str
    action: str
    resource: str
    decision: Decision
    reason: str = ""
    request_id: str | None = None
    at: datetime


@dataclass(frozen=True)
class Actor:
    """Who asks: a person or service from a verified token, or the platform itself."""

    sub: str
    tenant: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    request_id: str | None = None

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_person(self) -> bool:
        """A principal whose own grants count (not the platform, not a trainer)."""
        return not self.sub.startswith(("trainyard:", "job:"))


def system(tenant: str, component: str, *, request_id: str | None = None) -> Actor:
    """The platform acting on its own (the sweep, the launcher, an event from another system)."""
    return Actor(sub=f"trainyard:{component}", tenant=tenant, roles=frozenset({Role.SERVICE}), request_id=request_id)


def record(
    actor: Actor,
    *,
    action: str,
    resource: str,
    decision: Decision,
    at: datetime,
    reason: str = "",
    tenant: str | None = None,
    audit_id: str | None = None,
) -> AuditRecord:
    return AuditRecord(
        audit_id=audit_id or uuid.uuid4().hex,
        tenant=tenant or actor.tenant,
        actor=actor.sub,
        action=action,
        resource=resource,
        decision=decision,
        reason=reason,
        request_id=actor.request_id,
        at=at,
    )


def job_change(before: Job | None, after: Job, *, actor: Actor, at: datetime) -> AuditRecord | None:
    """The record of a job state change (None when the state stays: epochs, metadata, cleanup).

    Its id is the job's next version, so the write that saves the job can add it under the
    same condition, and a lost race leaves no record behind.
    """
    if before is not None and before.state is after.state:
        return None
    start = before.state.value if before is not None else "new"
    version = before.version + 1 if before is not None else 0
    why = f": {after.reason}" if after.reason else ""
    return record(
        actor,
        action="job.state",
        resource=f"job/{after.job_id}",
        decision=Decision.ALLOWED,
        at=at,
        reason=f"{start} -> {after.state.value}{why}",
        tenant=after.tenant,
        audit_id=f"job/{after.job_id}/v{version}",
    )
