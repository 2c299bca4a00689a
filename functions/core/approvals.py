"""The approval workflow: request a grant, approve, deny or revoke it, list and show grants.

Who may do what (the HTTP route table checks roles first; these checks hold for any caller):
- a data scientist requests grants, and sees the grants they asked for or that name them;
- an approver of the tenant decides on its requests and revokes its grants, and sees them all;
- an admin sees every grant of the tenant and may decide and revoke; an admin of the
  platform-admin tenant sees and revokes grants of every tenant (naming the tenant).
Nobody approves their own request. Every change is recorded in the grant's history and,
in the same write, in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Literal

from functions.core import audit, grants, projects
from functions.core.deps import Deps
from functions.domain import approvals
from functions.domain.approvals import Approval, GrantAction, GrantFilter
from functions.domain.audit import Actor, Decision, record
from sdk.auth.tokens import Role
from sdk.contracts.errors import Forbidden, NotFound, Problem, ValidationError

Verb = Literal["approve", "deny", "revoke"]
_TRANSITIONS: dict[Verb, Callable[..., Approval]] = {
    "approve": approvals.approve,
    "deny": approvals.deny,
    "revoke": approvals.revoke,
}
_DECIDERS = (Role.APPROVER, Role.ADMIN)


def request(
    deps: Deps,
    actor: Actor,
    *,
    datasets: Iterable[str],
    action: GrantAction,
    purpose: str,
    days: int,
    project_id: str | None = None,
    principal: str | None = None,
    versions: dict[str, int] | None = None,
) -> Approval:
    """Ask for a grant on datasets of project `project_id`, to that project or to a principal
    (a person's grant on that project's data only), for `days` from now; `versions` limits it
    to one version of some of the datasets."""
    names = list(dict.fromkeys(datasets))
    grantee = _grantee(deps, actor, names, project_id=project_id, principal=principal)
    assert project_id is not None  # _grantee insists on it
    now = deps.clock.now()
    grant = approvals.request(
        approval_id=projects.new_id("a"),
        tenant=actor.tenant,
        grantee=grantee,
        project=project_id,
        action=action,
        datasets=names,
        purpose=purpose,
        requested_by=actor.sub,
        now=now,
        expires_at=now + timedelta(days=days),
        versions=versions,
    )
    scope = f" (versions {grant.versions})" if grant.versions else ""
    why = f"{action.value} on {names}{scope} for {grantee} until {grant.expires_at.isoformat()}: {purpose}"
    change = record(
        actor,
        action="approval.request",
        resource=f"approval/{grant.approval_id}",
        decision=Decision.ALLOWED,
        at=now,
        reason=why,
    )
    deps.approvals.create_approval(grant, audit=change)
    return grant


def _grantee(deps: Deps, actor: Actor, names: list[str], *, project_id: str | None, principal: str | None) -> str:
    if project_id is None:
        raise ValidationError(
            [
                Problem(
                    "project",
                    "name the project whose datasets the grant is for (and a principal to grant it to one person only)",
                )
            ]
        )
    if not names:
        raise ValidationError([Problem("datasets", "name at least one dataset")])
    project = deps.projects.get_project(actor.tenant, project_id)
    unknown = [n for n in names if n not in project.datasets]
    if unknown:
        raise ValidationError([Problem("datasets", f"not datasets of project {project_id}: {unknown}")])
    return principal if principal is not None else approvals.project_grantee(project_id)


def decide(
    deps: Deps, actor: Actor, approval_id: str, *, verb: Verb, reason: str = "", tenant: str | None = None
) -> Approval:
    """Approve, deny or revoke. Only platform admins act on another tenant's grant, and
    only to revoke it."""
    scope = audit.scope_tenant(deps, actor, tenant) if verb == "revoke" else actor.tenant
    resource = f"approval/{approval_id}"
    grant = deps.approvals.get_approval(scope, approval_id)
    now = deps.clock.now()
    try:
        if not actor.has(*_DECIDERS):
            raise Forbidden(f"only an approver or an admin may {verb} grants")
        changed = _TRANSITIONS[verb](grant, actor=actor.sub, now=now, reason=reason)
    except Forbidden as exc:
        raise audit.denied(
            deps, actor, action=f"approval.{verb}", resource=resource, reason=str(exc), tenant=scope
        ) from exc
    last = changed.history[-1]
    because = f": {reason}" if reason else ""
    change = record(
        actor,
        action=f"approval.{verb}",
        resource=resource,
        decision=Decision.ALLOWED,
        at=now,
        reason=f"{last.from_state} -> {last.to_state}{because}",
        tenant=scope,
    )
    saved = deps.approvals.save_approval(changed, expected_version=grant.version, audit=change)
    if verb == "revoke":  # at once, not at some later sweep (only jobs running under this grant)
        grants.stop_jobs_of(deps, [saved.approval_id], now)
    return saved


def show(deps: Deps, actor: Actor, approval_id: str, *, tenant: str | None = None) -> Approval:
    """One grant with its history; a grant the caller may not see is "not found"."""
    grant = deps.approvals.get_approval(audit.scope_tenant(deps, actor, tenant), approval_id)
    if not _may_see(actor, grant):
        raise NotFound("approval", approval_id)
    return grant


def listing(
    deps: Deps,
    actor: Actor,
    *,
    which: GrantFilter | None = None,
    dataset: str | None = None,
    grantee: str | None = None,
    tenant: str | None = None,
) -> list[Approval]:
    """Grants by state, dataset and grantee (a principal or `project:<id>`), newest first.
    Each answer comes from one index (the most selective the filters allow), never a scan."""
    scope = audit.scope_tenant(deps, actor, tenant)
    now = deps.clock.now()
    store = deps.approvals
    if not actor.has(*_DECIDERS):
        found = [*store.approvals_requested_by(scope, actor.sub), *store.approvals_for_grantee(scope, actor.sub)]
    elif dataset is not None:
        found = store.approvals_for_dataset(scope, dataset)
    elif grantee is not None:
        found = store.approvals_for_grantee(scope, grantee)
    else:
        after = now if which is GrantFilter.ACTIVE else None
        states = which.recorded_states if which is not None else tuple(approvals.ApprovalState)
        found = [a for s in states for a in store.approvals_in_state(scope, s, expiring_after=after)]
    unique = {a.approval_id: a for a in found}.values()
    kept = [
        a
        for a in unique
        if (which is None or which.matches(a, now))
        and (dataset is None or dataset in a.datasets)
        and (grantee is None or a.grantee == grantee)
    ]
    return sorted(kept, key=lambda a: (a.requested_at, a.approval_id), reverse=True)


def _may_see(actor: Actor, grant: Approval) -> bool:
    return actor.has(*_DECIDERS) or actor.sub in (grant.requested_by, grant.grantee)
