"""The ApprovalStore and AuditStore contract (functions.ports), run against InMemoryStore
(tests/unit/store) and DynamoStore on a real moto server (tests/integration/store)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

import pytest

from functions.domain import approvals
from functions.domain.approvals import Approval, ApprovalState, GrantAction
from functions.domain.audit import Actor, AuditRecord, Decision, record
from functions.ports import ApprovalStore, AuditStore, JobStore
from sdk.contracts.errors import Conflict, NotFound
from tests.support.builders import T0, job

DAY = timedelta(days=1)


class Store(ApprovalStore, AuditStore, JobStore, Protocol):
    pass


def grant(
    approval_id: str,
    *,
    tenant: str = "acme",
    datasets: tuple[str, ...] = ("reviews",),
    days: float = 10,
    grantee: str = "project:p-1",
    by: str = "ana",
    versions: dict[str, int] | None = None,
) -> Approval:
    return approvals.request(
        approval_id=approval_id,
        tenant=tenant,
        grantee=grantee,
        project="p-1",
        action=GrantAction.TRAIN,
        datasets=datasets,
        purpose="tests",
        requested_by=by,
        now=T0,
        expires_at=T0 + days * DAY,
        versions=versions,
    )


def approved(store: Store, a: Approval) -> Approval:
    store.create_approval(a)
    return store.save_approval(approvals.approve(a, actor="boss", now=T0), expected_version=0)


def note(n: int, *, tenant: str = "acme", actor: str = "ana", resource: str = "job/j-1", **kw: Any) -> AuditRecord:
    who = Actor(sub=actor, tenant=tenant, request_id=f"r{n}")
    return record(
        who,
        action="test",
        resource=resource,
        decision=Decision.ALLOWED,
        at=T0 + n * timedelta(minutes=1),
        audit_id=f"a{n}",
        **kw,
    )


def ids(found: list[Approval]) -> list[str]:
    return [a.approval_id for a in found]


class GovernanceStoreContract:
    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("a subclass provides the store under test")

    def test_create_get_is_tenant_scoped_and_once(self, store: Store) -> None:
        store.create_approval(grant("a-1"))
        assert store.get_approval("acme", "a-1") == grant("a-1")
        with pytest.raises(NotFound):
            store.get_approval("evil", "a-1")
        with pytest.raises(Conflict):
            store.create_approval(grant("a-1"))
        store.create_approval(grant("a-2", versions={"reviews": 3}))  # a grant on one version of its dataset
        assert store.get_approval("acme", "a-2").versions == {"reviews": 3}
        assert [a.approval_id for a in store.approvals_for_dataset("acme", "reviews")] == ["a-1", "a-2"]

    def test_saves_are_versioned_and_carry_their_audit_record(self, store: Store) -> None:
        a = grant("a-1")
        request_note = note(1, resource="approval/a-1")
        store.create_approval(a, audit=request_note)
        saved = store.save_approval(
            approvals.approve(a, actor="boss", now=T0), expected_version=0, audit=note(2, resource="approval/a-1")
        )
        assert saved.version == 1 and store.get_approval("acme", "a-1") == saved
        stale = approvals.deny(a, actor="boss", now=T0)
        with pytest.raises(Conflict):
            store.save_approval(stale, expected_version=0, audit=note(3, resource="approval/a-1"))
        with pytest.raises(Conflict):
            store.save_approval(saved.model_copy(update={"tenant": "evil"}), expected_version=1)
        assert [r.audit_id for r in store.audit_records("acme", resource="approval/a-1")] == ["a2", "a1"]

    def test_lookups_by_state_dataset_grantee_and_requester(self, store: Store) -> None:
        live = approved(store, grant("a-1", datasets=("reviews", "faq"), days=5))
        store.create_approval(grant("a-2", datasets=("faq",), days=3, grantee="bob", by="bob"))
        short = approved(store, grant("a-3", datasets=("faq",), days=1))
        store.create_approval(grant("a-4", tenant="evil", datasets=("faq",), grantee="project:p-1"))
        assert ids(store.approvals_in_state("acme", ApprovalState.APPROVED)) == ["a-3", "a-1"]  # by expiry
        assert ids(store.approvals_in_state("acme", ApprovalState.APPROVED, expiring_after=T0 + 2 * DAY)) == ["a-1"]
        assert ids(store.approvals_in_state("acme", ApprovalState.REQUESTED)) == ["a-2"]
        assert ids(store.approvals_for_dataset("acme", "faq")) == ["a-3", "a-2", "a-1"]
        assert ids(store.approvals_for_dataset("acme", "faq", expiring_after=T0 + 4 * DAY)) == ["a-1"]
        assert ids(store.approvals_for_dataset("acme", "reviews")) == ["a-1"]
        assert ids(store.approvals_for_grantee("acme", "bob")) == ["a-2"]
        assert ids(store.approvals_for_grantee("acme", "project:p-1")) == ["a-3", "a-1"]
        assert ids(store.approvals_requested_by("acme", "ana")) == ["a-3", "a-1"]
        assert ids(store.approvals_by_id(["a-1", "a-4", "missing", "a-1"])) == ["a-1", "a-4"]
        assert live.version == short.version == 1

    def test_lookups_see_the_current_state_not_a_stale_index(self, store: Store) -> None:
        a = approved(store, grant("a-1"))
        store.save_approval(approvals.revoke(a, actor="boss", now=T0), expected_version=1)
        assert store.approvals_in_state("acme", ApprovalState.APPROVED) == []
        assert ids(store.approvals_in_state("acme", ApprovalState.REVOKED)) == ["a-1"]
        [found] = store.approvals_for_dataset("acme", "reviews")
        assert found.state is ApprovalState.REVOKED and found.version == 2

    def test_due_approvals_are_the_approved_ones_past_expiry_of_every_tenant(self, store: Store) -> None:
        approved(store, grant("a-1", days=1))
        approved(store, grant("a-2", tenant="globex", days=2))
        approved(store, grant("a-3", days=30))
        store.create_approval(grant("a-4", days=1))  # requested: never due
        gone = approved(store, grant("a-5", days=1))
        store.save_approval(approvals.revoke(gone, actor="boss", now=T0), expected_version=1)
        assert ids(store.due_approvals(T0 + 3 * DAY)) == ["a-1", "a-2"]
        assert ids(store.due_approvals(T0 + 3 * DAY, limit=1)) == ["a-1"]
        assert store.due_approvals(T0) == []

    def test_audit_records_are_appended_once_and_read_newest_first(self, store: Store) -> None:
        store.append(note(1))
        store.append(note(2, actor="bob", resource="job/j-2"))
        store.append(note(3, resource="job/j-2", reason="why"))
        store.append(note(4, tenant="evil"))
        with pytest.raises(Conflict):
            store.append(note(1, reason="rewritten"))
        assert [r.audit_id for r in store.audit_records("acme")] == ["a3", "a2", "a1"]
        assert [r.audit_id for r in store.audit_records("acme", actor="ana")] == ["a3", "a1"]
        assert [r.audit_id for r in store.audit_records("acme", resource="job/j-2")] == ["a3", "a2"]
        assert [r.audit_id for r in store.audit_records("acme", resource="job/j-2", actor="bob")] == ["a2"]
        assert [r.audit_id for r in store.audit_records("acme", since=T0 + 2 * timedelta(minutes=1))] == ["a3", "a2"]
        assert [r.audit_id for r in store.audit_records("acme", limit=1)] == ["a3"]
        assert store.audit_records("acme")[0] == note(3, resource="job/j-2", reason="why")
        assert not any(hasattr(store, name) for name in ("update_audit", "delete_audit", "remove"))

    def test_a_job_change_and_its_record_are_one_write(self, store: Store) -> None:
        j = job()
        store.create_job(j, audit=note(1, resource=f"job/{j.job_id}"))
        store.save_job(j.model_copy(update={"reason": "x"}), expected_version=0, audit=note(2))
        with pytest.raises(Conflict):
            store.save_job(j, expected_version=0, audit=note(3))
        with pytest.raises(Conflict):  # a record that exists refuses the whole write, job included
            store.save_job(j, expected_version=1, audit=note(2))
        assert store.get_job("acme", j.job_id).version == 1
        assert [r.audit_id for r in store.audit_records("acme")] == ["a2", "a1"]
