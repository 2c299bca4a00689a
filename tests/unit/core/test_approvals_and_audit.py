"""The approval workflow (who decides, who sees what) and the audit trail, on fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.core import approvals, audit, launching, models, reporting
from functions.core.audit import Denied
from functions.domain.approvals import ApprovalState, GrantAction, GrantFilter, project_grantee
from functions.domain.audit import Decision
from functions.domain.model import JobState
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict, NotFound, ValidationError
from tests.support.builders import T0
from tests.support.harness import Harness, harness, person

ANA = person("ana@acme")
BOSS = person("boss@acme", Role.APPROVER)
ADMIN = person("root@acme", Role.ADMIN)
PLATFORM = person("ops", Role.ADMIN, tenant="platform")


@pytest.fixture
def h() -> Harness:
    return harness()


def test_a_request_names_a_project_of_the_tenant_and_its_datasets(h: Harness) -> None:
    p = h.project(datasets=("intents", "faq"))
    grant = approvals.request(
        h.deps, ANA, datasets=["faq"], action=GrantAction.TRAIN, purpose="intents v2", days=7, project_id=p.project_id
    )
    assert (grant.grantee, grant.requested_by, grant.expires_at) == (
        project_grantee(p.project_id),
        "ana@acme",
        T0 + timedelta(days=7),
    )
    with pytest.raises(ValidationError, match="not datasets of project"):
        approvals.request(
            h.deps, ANA, datasets=["secret"], action=GrantAction.TRAIN, purpose="x", days=1, project_id=p.project_id
        )
    with pytest.raises(NotFound):
        approvals.request(
            h.deps,
            person("eve", tenant="evil"),
            datasets=["faq"],
            action=GrantAction.TRAIN,
            purpose="x",
            days=1,
            project_id=p.project_id,
        )
    with pytest.raises(ValidationError, match="name the project"):
        approvals.request(h.deps, ANA, datasets=["faq"], action=GrantAction.TRAIN, purpose="x", days=1)


def test_only_another_approver_or_admin_of_the_tenant_decides(h: Harness) -> None:
    p = h.project()
    asked = approvals.request(
        h.deps,
        BOSS,
        datasets=["intents"],
        action=GrantAction.READ,
        purpose="look",
        days=1,
        principal="boss@acme",
        project_id=p.project_id,
    )
    with pytest.raises(Denied, match="own request"):
        approvals.decide(h.deps, BOSS, asked.approval_id, verb="approve")
    with pytest.raises(Denied, match="only an approver or an admin"):
        approvals.decide(h.deps, ANA, asked.approval_id, verb="approve")
    with pytest.raises(NotFound):
        approvals.decide(h.deps, person("judge@evil", Role.APPROVER, tenant="evil"), asked.approval_id, verb="approve")
    approved = approvals.decide(h.deps, ADMIN, asked.approval_id, verb="approve", reason="fine")
    assert approved.state is ApprovalState.APPROVED and approved.version == 1
    with pytest.raises(Conflict):
        approvals.decide(h.deps, ADMIN, asked.approval_id, verb="deny")
    trail = [(r.action, r.decision) for r in h.store.audit_records("acme", resource=f"approval/{asked.approval_id}")]
    assert sorted(trail) == sorted(
        [
            ("approval.request", Decision.ALLOWED),
            ("approval.approve", Decision.DENIED),
            ("approval.approve", Decision.DENIED),
            ("approval.approve", Decision.ALLOWED),
        ]
    )
    assert p.tenant == "acme"


def test_platform_admins_revoke_any_tenants_grant_tenant_admins_only_their_own(h: Harness) -> None:
    other = h.project(tenant="globex")
    grant = h.grant(other)
    with pytest.raises(NotFound):
        approvals.decide(h.deps, ADMIN, grant.approval_id, verb="revoke", tenant="globex")
    with pytest.raises(NotFound):  # even a platform admin acts on its own tenant unless it names another
        approvals.decide(h.deps, PLATFORM, grant.approval_id, verb="revoke")
    with pytest.raises(NotFound):  # and only revokes across tenants
        approvals.decide(h.deps, PLATFORM, grant.approval_id, verb="deny", tenant="globex")
    done = approvals.decide(h.deps, PLATFORM, grant.approval_id, verb="revoke", tenant="globex", reason="breach")
    assert done.state is ApprovalState.REVOKED and done.history[-1].actor == "ops"
    [record] = h.store.audit_records("globex", actor="ops")
    assert (record.action, record.reason) == ("approval.revoke", "approved -> revoked: breach")


def test_listing_by_state_dataset_and_principal_and_who_sees_what(h: Harness) -> None:
    p = h.project(datasets=("intents", "faq"))
    active = h.grant(p, ("intents",))
    mine = h.request(p, ("faq",), principal="ana@acme", by=ANA)
    gone = h.decide(h.grant(p, ("faq",)), "revoke")
    short = h.grant(p, ("faq",), days=1)
    h.clock.advance(86_400)

    def ids(actor: object = BOSS, **kw: object) -> set[str]:
        return {a.approval_id for a in approvals.listing(h.deps, actor, **kw)}  # type: ignore[arg-type]

    assert ids(which=GrantFilter.ACTIVE) == {active.approval_id}
    assert ids(which=GrantFilter.CURRENT) == {active.approval_id, mine.approval_id}
    assert ids(which=GrantFilter.EXPIRED) == {short.approval_id}
    assert ids(which=GrantFilter.REVOKED) == {gone.approval_id}
    assert ids(dataset="intents") == {active.approval_id}
    assert ids(grantee="ana@acme") == {mine.approval_id}
    assert ids(dataset="faq", which=GrantFilter.CURRENT) == {mine.approval_id}
    assert ids() == {active.approval_id, mine.approval_id, gone.approval_id, short.approval_id}
    assert ids(ANA) == {mine.approval_id}  # a data scientist sees what they asked for or what names them
    assert ids(person("bob@acme")) == set()
    assert ids(PLATFORM, tenant="acme") == ids(ADMIN)
    with pytest.raises(NotFound):
        approvals.listing(h.deps, ADMIN, tenant="globex")
    assert approvals.show(h.deps, ANA, mine.approval_id).history[0].actor == "ana@acme"
    with pytest.raises(NotFound):
        approvals.show(h.deps, person("bob@acme"), mine.approval_id)


def test_every_job_state_change_is_audited_with_the_change_itself(h: Harness) -> None:
    _, job = h.task(h.project(), ANA)
    launching.admit_pool(h.deps, "default")
    for event_id, payload in (("r", ev.JobRunning()), ("e1", ev.EpochReport(epoch=1)), ("s", ev.JobSucceeded())):
        h.clock.advance(1)
        reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="x", event_id=event_id, payload=payload)
    h.finish_events()  # cleanup saves the job again, without a state change
    trail = h.store.audit_records("acme", resource=f"job/{job.job_id}")
    assert [(r.actor, r.reason) for r in reversed(trail)] == [
        ("ana@acme", "new -> QUEUED"),
        ("trainyard:launch", "QUEUED -> LAUNCHING"),
        (f"job:{job.job_id}", "LAUNCHING -> RUNNING"),
        (f"job:{job.job_id}", "RUNNING -> SUCCEEDED: succeeded"),
    ]
    assert trail[0].request_id == "s"  # the event that made the change


def test_a_change_that_loses_its_race_leaves_no_record(h: Harness) -> None:
    _, job = h.task(h.project())
    stale = h.job(job)
    launching.admit_pool(h.deps, "default")
    cancelled = stale.model_copy(update={"state": JobState.CANCELLED})
    record = audit.job_change(h.deps, stale, cancelled, actor=ANA)
    assert record is not None
    with pytest.raises(Conflict):
        h.store.save_job(cancelled, expected_version=stale.version, audit=record)
    assert [r.reason for r in h.store.audit_records("acme")] == ["QUEUED -> LAUNCHING", "new -> QUEUED"]


def test_model_publication_is_audited(h: Harness) -> None:
    from tests.unit.core.test_models import trained_job

    job_id = trained_job(h)
    model, _ = models.publish(h.deps, tenant="acme", job_id=job_id, metric="val_accuracy", actor=ANA)
    [record] = h.store.audit_records("acme", resource=f"model/{model.model_id}")
    assert (record.action, record.actor, record.decision) == ("model.publish", "ana@acme", Decision.ALLOWED)
    models.publish(h.deps, tenant="acme", job_id=job_id, metric="val_accuracy", actor=ANA)  # same model again
    assert len(h.store.audit_records("acme", resource=f"model/{model.model_id}")) == 1


def test_admins_read_the_tenants_trail_others_only_their_own_actions(h: Harness) -> None:
    p = h.project()
    h.request(p, by=ANA)
    h.request(p, by=person("bob@acme"))
    assert {r.actor for r in audit.query(h.deps, ADMIN)} == {"ana@acme", "bob@acme"}
    assert {r.actor for r in audit.query(h.deps, ANA)} == {"ana@acme"}
    with pytest.raises(Denied):
        audit.query(h.deps, ANA, of_actor="bob@acme")
    with pytest.raises(NotFound):
        audit.query(h.deps, ADMIN, tenant="globex")
    assert audit.query(h.deps, PLATFORM, tenant="acme", of_actor="bob@acme")[0].actor == "bob@acme"
    assert audit.query(h.deps, ADMIN, since=T0 + timedelta(days=1)) == []
