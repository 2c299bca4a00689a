"""Grant transitions and expiry as pure functions of (grant, actor, now)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.domain import approvals
from functions.domain.approvals import Approval, ApprovalState, GrantAction, GrantFilter
from sdk.contracts.errors import Conflict, Forbidden
from tests.support.builders import T0

DAY = timedelta(days=1)


def requested(**kw: object) -> Approval:
    base: dict[str, object] = dict(
        approval_id="a-1",
        tenant="acme",
        grantee="project:p-1",
        project="p-1",
        action=GrantAction.TRAIN,
        datasets=["reviews", "reviews", "faq"],
        purpose="intent model",
        requested_by="ana",
        now=T0,
        expires_at=T0 + 10 * DAY,
    )
    base.update(kw)
    return approvals.request(**base)  # type: ignore[arg-type]


def test_a_request_starts_its_history_and_keeps_datasets_once() -> None:
    a = requested()
    assert a.state is ApprovalState.REQUESTED and a.datasets == ("reviews", "faq")
    [first] = a.history
    assert (first.actor, first.from_state, first.to_state, first.at) == ("ana", None, ApprovalState.REQUESTED, T0)
    assert a.project_id == "p-1" and not a.is_active(T0)


def test_a_request_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(Conflict, match="not in the future"):
        requested(expires_at=T0)


def test_approved_grant_is_active_until_its_expiry_then_expired_without_any_write() -> None:
    a = approvals.approve(requested(), actor="boss", now=T0 + DAY, reason="ok")
    assert a.state is ApprovalState.APPROVED and a.history[-1].actor == "boss"
    assert a.is_active(T0 + 10 * DAY - timedelta(microseconds=1))
    assert a.effective_state(T0 + 10 * DAY) is ApprovalState.EXPIRED and not a.is_active(T0 + 10 * DAY)
    assert a.state is ApprovalState.APPROVED  # derived, not recorded


def test_nobody_approves_their_own_request() -> None:
    with pytest.raises(Forbidden, match="own request"):
        approvals.approve(requested(), actor="ana", now=T0)


def test_a_request_past_its_expiry_cannot_be_approved() -> None:
    with pytest.raises(Conflict, match="expired"):
        approvals.approve(requested(), actor="boss", now=T0 + 10 * DAY)


@pytest.mark.parametrize(
    "moves",
    [
        ("deny", "approve"),
        ("deny", "revoke"),
        ("approve", "approve"),
        ("approve", "deny"),
        ("approve", "revoke", "revoke"),
        ("revoke",),
    ],
)
def test_only_the_allowed_transitions_happen(moves: tuple[str, ...]) -> None:
    a = requested()
    *ok, refused = moves
    for verb in ok:
        a = getattr(approvals, verb)(a, actor="boss", now=T0)
    with pytest.raises(Conflict, match="cannot go from"):
        getattr(approvals, refused)(a, actor="boss", now=T0)


def test_revoke_records_who_when_and_why() -> None:
    a = approvals.approve(requested(), actor="boss", now=T0)
    r = approvals.revoke(a, actor="admin", now=T0 + DAY, reason="contract ended")
    assert [(c.from_state, c.to_state) for c in r.history] == [
        (None, ApprovalState.REQUESTED),
        (ApprovalState.REQUESTED, ApprovalState.APPROVED),
        (ApprovalState.APPROVED, ApprovalState.REVOKED),
    ]
    assert (r.history[-1].actor, r.history[-1].at, r.history[-1].reason) == ("admin", T0 + DAY, "contract ended")
    assert approvals.why_inactive(r, "a-1", T0 + DAY) == "grant a-1 was revoked by admin: contract ended"


def test_an_expired_grant_cannot_be_revoked_and_its_expiry_is_recorded_once() -> None:
    a = approvals.approve(requested(), actor="boss", now=T0)
    later = T0 + 11 * DAY
    with pytest.raises(Conflict):
        approvals.revoke(a, actor="boss", now=later)
    with pytest.raises(Conflict):
        approvals.expire(a, actor="sweep", now=T0 + DAY)  # not due yet
    e = approvals.expire(a, actor="sweep", now=later)
    assert e.state is ApprovalState.EXPIRED and e.history[-1].to_state is ApprovalState.EXPIRED
    with pytest.raises(Conflict):
        approvals.expire(e, actor="sweep", now=later)
    assert approvals.why_inactive(e, "a-1", later).startswith("grant a-1 expired at")


def test_coverage_needs_the_action_the_dataset_a_grantee_and_time() -> None:
    a = approvals.approve(requested(), actor="boss", now=T0)
    ok = dict(grantees=["project:p-1"], action=GrantAction.TRAIN, project_id="p-1", dataset="faq", now=T0)
    assert a.covers(**ok)  # type: ignore[arg-type]
    assert not a.covers(**{**ok, "project_id": "p-2"})  # type: ignore[arg-type]  # same name, other project
    assert not a.covers(**{**ok, "action": GrantAction.READ})  # type: ignore[arg-type]
    assert not a.covers(**{**ok, "dataset": "other"})  # type: ignore[arg-type]
    assert not a.covers(**{**ok, "grantees": ["project:p-2", "ana"]})  # type: ignore[arg-type]
    assert not a.covers(**{**ok, "now": T0 + 10 * DAY})  # type: ignore[arg-type]


def test_choose_prefers_a_project_grant_then_the_longest() -> None:
    person = approvals.approve(
        requested(approval_id="a-2", grantee="ana", expires_at=T0 + 20 * DAY), actor="boss", now=T0
    )
    project = approvals.approve(requested(approval_id="a-3"), actor="boss", now=T0)
    longer = approvals.approve(requested(approval_id="a-4", expires_at=T0 + 12 * DAY), actor="boss", now=T0)
    pick = approvals.choose(
        [person, project, longer],
        grantees=["project:p-1", "ana"],
        action=GrantAction.TRAIN,
        project_id="p-1",
        dataset="reviews",
        now=T0,
    )
    assert pick is longer
    assert (
        approvals.choose(
            [person], grantees=["project:p-1"], action=GrantAction.TRAIN, project_id="p-1", dataset="reviews", now=T0
        )
        is None
    )
    assert (
        approvals.choose(
            [person], grantees=["ana"], action=GrantAction.TRAIN, project_id="p-2", dataset="reviews", now=T0
        )
        is None
    )  # a person's grant is on one project's data


def test_an_approver_may_not_approve_a_grant_to_themselves() -> None:
    to_boss = requested(grantee="boss", requested_by="ana")
    with pytest.raises(Forbidden, match="to themselves"):
        approvals.approve(to_boss, actor="boss", now=T0)
    assert approvals.approve(to_boss, actor="carol", now=T0).state is ApprovalState.APPROVED


def test_filters_judge_the_effective_state() -> None:
    live = approvals.approve(requested(), actor="boss", now=T0)
    pending = requested(approval_id="a-2")
    later = T0 + 10 * DAY
    assert [f for f in GrantFilter if f.matches(live, T0)] == [GrantFilter.CURRENT, GrantFilter.ACTIVE]
    assert [f for f in GrantFilter if f.matches(live, later)] == [GrantFilter.EXPIRED]
    assert [f for f in GrantFilter if f.matches(pending, T0)] == [GrantFilter.CURRENT, GrantFilter.REQUESTED]
    assert ApprovalState.APPROVED in GrantFilter.EXPIRED.recorded_states  # not yet recorded by the sweep
