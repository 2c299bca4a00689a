"""Writing the audit trail, and reading it tenant by tenant.

When a record is written, relative to what it records:
- a job state change or a grant change: in the same atomic write as the change (ports:
  `audit=`), so no change goes unrecorded and a lost race leaves no record;
- an allowed data access (a dataset URL) or a model publication: BEFORE it happens, and a
  failure to record stops it: no record, no access;
- a refusal: best effort, just before it is raised; a trail that cannot be written is
  logged, and never turns a refusal into something else.
"""

from __future__ import annotations

import logging
from datetime import datetime

from functions.core.deps import Deps
from functions.domain import audit
from functions.domain.audit import Actor, AuditRecord, Decision
from functions.domain.model import Job
from sdk.auth.tokens import Role
from sdk.contracts.errors import Forbidden, NotFound, TrainyardError

log = logging.getLogger(__name__)


class Denied(Forbidden):
    """A refusal already in the audit trail (the HTTP edge does not record it twice)."""

    audited = True


def allowed(
    deps: Deps, actor: Actor, *, action: str, resource: str, reason: str = "", tenant: str | None = None
) -> AuditRecord:
    """Record an allowed access before it happens; raises if the trail cannot take it."""
    record = audit.record(
        actor,
        action=action,
        resource=resource,
        decision=Decision.ALLOWED,
        at=deps.clock.now(),
        reason=reason,
        tenant=tenant,
    )
    deps.audit.append(record)
    return record


def denied(deps: Deps, actor: Actor, *, action: str, resource: str, reason: str, tenant: str | None = None) -> Denied:
    """Record a refusal and return the error to raise: `raise audit.denied(...)`."""
    record_refusal(deps, actor, action=action, resource=resource, reason=reason, tenant=tenant)
    return Denied(reason)


def record_refusal(
    deps: Deps, actor: Actor, *, action: str, resource: str, reason: str, tenant: str | None = None
) -> None:
    record = audit.record(
        actor,
        action=action,
        resource=resource,
        decision=Decision.DENIED,
        at=deps.clock.now(),
        reason=reason,
        tenant=tenant,
    )
    try:
        deps.audit.append(record)
    except TrainyardError:
        log.exception(
            "could not record a refusal in the audit trail",
            extra={"tenant": record.tenant, "actor": actor.sub, "action": action, "resource": resource},
        )


def job_change(deps: Deps, before: Job | None, after: Job, *, actor: Actor) -> AuditRecord | None:
    """The record a job save carries when it changes the job's state (None otherwise)."""
    return audit.job_change(before, after, actor=actor, at=deps.clock.now())


def is_platform_admin(deps: Deps, actor: Actor) -> bool:
    return actor.has(Role.ADMIN) and actor.tenant == deps.config.admin_tenant


def scope_tenant(deps: Deps, actor: Actor, tenant: str | None) -> str:
    """The tenant a request reads or acts on: the caller's own, or, for admins of the
    platform-admin tenant only, the one they name. Another tenant is "not found"."""
    if tenant is None or tenant == actor.tenant:
        return actor.tenant
    if is_platform_admin(deps, actor):
        return tenant
    raise NotFound("tenant", tenant)


def query(
    deps: Deps,
    actor: Actor,
    *,
    tenant: str | None = None,
    of_actor: str | None = None,
    resource: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Admins read their tenant's trail (platform admins any tenant's); everyone else only
    the records of their own actions."""
    scope = scope_tenant(deps, actor, tenant)
    if not actor.has(Role.ADMIN):
        if of_actor not in (None, actor.sub):
            raise denied(
                deps,
                actor,
                action="audit.read",
                resource=f"actor/{of_actor}",
                reason="only admins read the records of other principals",
            )
        of_actor = actor.sub
    return deps.audit.audit_records(scope, actor=of_actor, resource=resource, since=since, limit=limit)
