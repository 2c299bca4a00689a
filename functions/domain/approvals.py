"""Data approvals (grants) as pure values and transitions of (grant, actor, now) -> grant.

A grant lets a grantee (a principal `sub`, or a project `project:<id>`) do one action
(train, validate, read) on named datasets of ONE project of a tenant (a dataset is a
(project, name) pair: the same name in another project is other data), for a purpose,
until `expires_at`:

    requested -> approved | denied;   approved -> revoked | expired

`expired` is derived (an approved grant whose `expires_at` has passed is expired, even
before the sweep records it), so nothing here needs a store or a clock. Every change is
appended to the grant's history: who, when, from which state, to which, and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sdk.contracts.errors import Conflict, Forbidden, Problem, ValidationError

PROJECT_PREFIX = "project:"


class GrantAction(StrEnum):
    TRAIN = "train"  # a trainer of the grantee's tasks may fetch the datasets
    VALIDATE = "validate"  # a validation task of the grantee may fetch the datasets (never a training one)
    READ = "read"  # the grantee may download the datasets


class ApprovalState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"
    EXPIRED = "expired"


class GrantFilter(StrEnum):
    """What `list` asks for, judged by the effective state at the time of asking."""

    CURRENT = "current"  # requested or in force: what still matters
    ACTIVE = "active"  # approved and not expired: gives access now
    REQUESTED = "requested"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DENIED = "denied"

    @property
    def recorded_states(self) -> tuple[ApprovalState, ...]:
        """The recorded states a grant of this kind can be in (expired may not be recorded yet)."""
        return {
            GrantFilter.CURRENT: (ApprovalState.REQUESTED, ApprovalState.APPROVED),
            GrantFilter.ACTIVE: (ApprovalState.APPROVED,),
            GrantFilter.REQUESTED: (ApprovalState.REQUESTED,),
            GrantFilter.EXPIRED: (ApprovalState.APPROVED, ApprovalState.EXPIRED),
            GrantFilter.REVOKED: (ApprovalState.REVOKED,),
            GrantFilter.DENIED: (ApprovalState.DENIED,),
        }[self]

    def matches(self, a: Approval, now: datetime) -> bool:
        state = a.effective_state(now)
        if self is GrantFilter.CURRENT:
            return state in (ApprovalState.REQUESTED, ApprovalState.APPROVED)
        if self is GrantFilter.ACTIVE:
            return state is ApprovalState.APPROVED
        return state.value == self.value


_ALLOWED: dict[ApprovalState, frozenset[ApprovalState]] = {
    ApprovalState.REQUESTED: frozenset({ApprovalState.APPROVED, ApprovalState.DENIED}),
    ApprovalState.APPROVED: frozenset({ApprovalState.REVOKED, ApprovalState.EXPIRED}),
}


class Change(BaseModel):
    """One line of a grant's history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    actor: str
    from_state: ApprovalState | None
    to_state: ApprovalState
    reason: str = ""


class Approval(BaseModel):
    """A grant; `state` is the recorded one (see `effective_state`), `version` the store's lock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_id: str
    tenant: str
    grantee: str = Field(min_length=1)
    project: str | None = None  # the project whose datasets these are (a project grant: that project)
    action: GrantAction
    datasets: tuple[str, ...] = Field(min_length=1)
    # Optional: dataset -> the one version this grant covers (a dataset not named here: every version)
    versions: dict[str, int] = Field(default_factory=dict)
    purpose: str = Field(min_length=1)
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    state: ApprovalState = ApprovalState.REQUESTED
    history: tuple[Change, ...] = ()
    version: int = 0

    def effective_state(self, now: datetime) -> ApprovalState:
        if self.state is ApprovalState.APPROVED and now >= self.expires_at:
            return ApprovalState.EXPIRED
        return self.state

    def is_active(self, now: datetime) -> bool:
        return self.effective_state(now) is ApprovalState.APPROVED

    def covers(
        self,
        *,
        grantees: Iterable[str],
        action: GrantAction,
        project_id: str,
        dataset: str,
        now: datetime,
        version: int | None = None,
    ) -> bool:
        """`version`: the dataset version to be read (None: not known yet, e.g. nothing is
        uploaded); a grant limited to one version covers only that version, never an unknown one."""
        return (
            self.is_active(now)
            and self.action is action
            and self.data_project == project_id
            and dataset in self.datasets
            and self.grantee in set(grantees)
            and (dataset not in self.versions or self.versions[dataset] == version)
        )

    @property
    def project_id(self) -> str | None:
        """The project a project grant is given to; None for a person's grant."""
        return self.grantee.removeprefix(PROJECT_PREFIX) if self.grantee.startswith(PROJECT_PREFIX) else None

    @property
    def data_project(self) -> str | None:
        """The project whose datasets the grant names (a person's grant without one covers nothing)."""
        return self.project or self.project_id


def project_grantee(project_id: str) -> str:
    return PROJECT_PREFIX + project_id


def request(
    *,
    approval_id: str,
    tenant: str,
    grantee: str,
    project: str,
    action: GrantAction,
    datasets: Iterable[str],
    purpose: str,
    requested_by: str,
    now: datetime,
    expires_at: datetime,
    versions: dict[str, int] | None = None,
) -> Approval:
    if expires_at <= now:
        raise Conflict(f"approval {approval_id}: expires_at {expires_at.isoformat()} is not in the future")
    names = tuple(dict.fromkeys(datasets))
    stray = sorted(set(versions or {}) - set(names))
    if stray:
        raise ValidationError([Problem("versions", f"versions names datasets the grant does not: {stray}")])
    first = Change(at=now, actor=requested_by, from_state=None, to_state=ApprovalState.REQUESTED, reason=purpose)
    return Approval(
        approval_id=approval_id,
        tenant=tenant,
        grantee=grantee,
        project=project,
        action=action,
        datasets=names,
        versions=dict(versions or {}),
        purpose=purpose,
        requested_by=requested_by,
        requested_at=now,
        expires_at=expires_at,
        history=(first,),
    )


def _move(a: Approval, to: ApprovalState, *, actor: str, now: datetime, reason: str) -> Approval:
    current = a.effective_state(now)
    if to not in _ALLOWED.get(current, frozenset()):
        raise Conflict(f"approval {a.approval_id}: cannot go from {current.value} to {to.value}")
    change = Change(at=now, actor=actor, from_state=a.state, to_state=to, reason=reason)
    return a.model_copy(update={"state": to, "history": (*a.history, change)})


def approve(a: Approval, *, actor: str, now: datetime, reason: str = "") -> Approval:
    """Nobody approves their own request, nor a grant to themselves (four eyes); a request
    past its expiry cannot be approved."""
    if actor == a.requested_by:
        raise Forbidden(f"approval {a.approval_id}: a requester may not approve their own request")
    if actor == a.grantee:
        raise Forbidden(f"approval {a.approval_id}: an approver may not approve a grant to themselves")
    if now >= a.expires_at:
        raise Conflict(f"approval {a.approval_id}: it would have expired at {a.expires_at.isoformat()}")
    return _move(a, ApprovalState.APPROVED, actor=actor, now=now, reason=reason)


def deny(a: Approval, *, actor: str, now: datetime, reason: str = "") -> Approval:
    return _move(a, ApprovalState.DENIED, actor=actor, now=now, reason=reason)


def revoke(a: Approval, *, actor: str, now: datetime, reason: str = "") -> Approval:
    """Only a grant still in force can be revoked (an expired one already gives nothing)."""
    return _move(a, ApprovalState.REVOKED, actor=actor, now=now, reason=reason)


def expire(a: Approval, *, actor: str, now: datetime) -> Approval:
    """Record what `effective_state` already says: the approved grant's time is up."""
    if a.state is not ApprovalState.APPROVED or now < a.expires_at:
        raise Conflict(f"approval {a.approval_id}: not an approved grant past its expiry")
    change = Change(
        at=now,
        actor=actor,
        from_state=a.state,
        to_state=ApprovalState.EXPIRED,
        reason=f"expired at {a.expires_at.isoformat()}",
    )
    return a.model_copy(update={"state": ApprovalState.EXPIRED, "history": (*a.history, change)})


def choose(
    candidates: Iterable[Approval],
    *,
    grantees: Iterable[str],
    action: GrantAction,
    project_id: str,
    dataset: str,
    now: datetime,
    version: int | None = None,
) -> Approval | None:
    """The grant that covers `dataset` (its `version`) of `project_id` for one of `grantees`: a
    project's grant before a person's (it outlives staff changes), then the one that lasts longest."""
    wanted = tuple(grantees)
    usable = [
        a
        for a in candidates
        if a.covers(grantees=wanted, action=action, project_id=project_id, dataset=dataset, now=now, version=version)
    ]
    if not usable:
        return None
    return max(usable, key=lambda a: (a.project_id is not None, a.expires_at, a.approval_id))


def why_inactive(a: Approval | None, approval_id: str, now: datetime) -> str:
    """A sentence naming the grant and why it no longer gives access."""
    if a is None:
        return f"grant {approval_id} no longer exists"
    state = a.effective_state(now)
    if state is ApprovalState.EXPIRED:
        return f"grant {approval_id} expired at {a.expires_at.isoformat()}"
    last = a.history[-1] if a.history else None
    if state is ApprovalState.REVOKED and last is not None:
        because = f": {last.reason}" if last.reason else ""
        return f"grant {approval_id} was revoked by {last.actor}{because}"
    return f"grant {approval_id} is {state.value}"
