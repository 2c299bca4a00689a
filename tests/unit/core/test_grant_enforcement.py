"""Data grants enforced wherever data is touched (task creation, launch, each dataset URL,
the sweep), on fakes with a hand-moved clock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from functions.core import access, launching, reporting, sweeping
from functions.core.access import dataset_key
from functions.core.audit import Denied
from functions.domain import lifecycle
from functions.domain.approvals import ApprovalState, GrantAction
from functions.domain.audit import Decision
from functions.domain.model import Job, JobState, Project, Task
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict
from sdk.contracts.specs import FailureKind, TaskSpec
from tests.support.harness import Harness, harness, person

DAY = 86_400.0
Scenario = Callable[[Harness, Project, GrantAction], None]


def nothing(h: Harness, p: Project, action: GrantAction) -> None:
    pass


def unapproved(h: Harness, p: Project, action: GrantAction) -> None:
    h.request(p, action=action)


def denied(h: Harness, p: Project, action: GrantAction) -> None:
    h.decide(h.request(p, action=action), "deny", "not for this purpose")


def expired(h: Harness, p: Project, action: GrantAction) -> None:
    h.grant(p, action=action, days=1)
    h.clock.advance(DAY)


def revoked(h: Harness, p: Project, action: GrantAction) -> None:
    h.decide(h.grant(p, action=action), "revoke", "customer withdrew consent")


def other_action(h: Harness, p: Project, action: GrantAction) -> None:
    h.grant(p, action=GrantAction.VALIDATE)


SCENARIOS = pytest.mark.parametrize(
    "scenario", [nothing, unapproved, denied, expired, revoked, other_action], ids=lambda f: f.__name__
)


def stored_task(h: Harness, p: Project, *, state: JobState = JobState.QUEUED) -> Job:
    """A task whose creation predates the grant's end: put straight into the store."""
    h.clock.advance(0.001)
    spec = TaskSpec(name="t", command=["python", "train.py"], datasets=["intents"])
    task = Task(task_id="t-direct", project_id=p.project_id, tenant=p.tenant, spec=spec, created_at=h.clock.now())
    job = Job(
        job_id="t-direct.1",
        task_id=task.task_id,
        project_id=p.project_id,
        tenant=p.tenant,
        attempt=1,
        pool="default",
        resources=spec.resources,
        limits=spec.limits,
        retry=spec.retry,
        created_at=h.clock.now(),
    )
    h.store.create_task(task, job)
    if state is JobState.RUNNING:
        launched = h.store.launch_job(
            lifecycle.launch(job, h.clock.now()), expected_version=0, policy=h.deps.pool("default")
        )
        h.store.save_job(lifecycle.mark_running(launched, h.clock.now()), expected_version=launched.version)
    return h.job(job)


def refusals(h: Harness, action: str) -> list[str]:
    return [r.reason for r in h.store.audit_records("acme") if r.action == action and r.decision is Decision.DENIED]


@pytest.fixture
def h() -> Harness:
    return harness()


@SCENARIOS
def test_each_missing_grant_blocks_task_creation(h: Harness, scenario: Scenario) -> None:
    p = h.project()
    scenario(h, p, GrantAction.TRAIN)
    with pytest.raises(Denied, match=r"no active train grant .* \['intents'\]"):
        h.task(p, datasets=["intents"])
    assert h.store.list_tasks("acme", p.project_id) == []
    assert len(refusals(h, "task.create")) == 1


@SCENARIOS
def test_each_missing_grant_blocks_launch(h: Harness, scenario: Scenario) -> None:
    p = h.project()
    scenario(h, p, GrantAction.TRAIN)
    job = stored_task(h, p)
    assert launching.admit_pool(h.deps, "default") == []
    final = h.job(job)
    assert (final.state, final.failure_kind) == (JobState.CANCELLED, FailureKind.ACCESS_REVOKED)
    assert "no active train grant for dataset(s) ['intents']" in final.reason
    assert job.job_id not in h.runtime.launched and h.store.usage("default")[0].slots == 0
    [change] = [r for r in h.store.audit_records("acme", resource=f"job/{job.job_id}")]
    assert change.reason.startswith("QUEUED -> CANCELLED: access revoked")


@SCENARIOS
def test_each_missing_grant_blocks_the_trainers_dataset_url(h: Harness, scenario: Scenario) -> None:
    p = h.project()
    h.deps.datasets.put(dataset_key("acme", p.project_id, "intents"), b"rows")
    scenario(h, p, GrantAction.TRAIN)
    job = stored_task(h, p, state=JobState.RUNNING)
    with pytest.raises(Denied, match="no active train grant"):
        access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")
    [reason] = refusals(h, "dataset.train")
    assert "intents" in reason


@SCENARIOS
def test_each_missing_read_grant_blocks_a_download(h: Harness, scenario: Scenario) -> None:
    p = h.project()
    h.deps.datasets.put(dataset_key("acme", p.project_id, "intents"), b"rows")
    scenario(h, p, GrantAction.READ)
    with pytest.raises(Denied, match="no active read grant"):
        access.user_dataset_url(
            h.deps, tenant="acme", project_id=p.project_id, name="intents", op="download", actor=person("ana@acme")
        )
    assert len(refusals(h, "dataset.download")) == 1


ROWS_SHA = hashlib.sha256(b"rows").hexdigest()


def test_active_grants_let_data_flow_and_every_access_is_audited(h: Harness) -> None:
    p = h.project()
    h.deps.datasets.put(dataset_key("acme", p.project_id, "intents"), b"rows")
    train = h.grant(p)
    read = h.grant(p, action=GrantAction.READ)
    _, job = h.task(p, person("ana@acme"), datasets=["intents"])
    [launched] = launching.admit_pool(h.deps, "default")
    assert launched.grants == (train.approval_id,)
    url = access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")
    assert url["method"] == "GET"
    down = access.user_dataset_url(
        h.deps, tenant="acme", project_id=p.project_id, name="intents", op="download", actor=person("ana@acme")
    )
    assert down["method"] == "GET"
    allowed = {
        (r.action, r.actor, r.reason) for r in h.store.audit_records("acme", resource=f"dataset/{p.project_id}/intents")
    }
    assert allowed == {
        ("dataset.train", f"job:{job.job_id}", f"version 1, grant {train.approval_id}; sha256 {ROWS_SHA}"),
        ("dataset.download", "ana@acme", f"version 1, grant {read.approval_id}"),
    }


def test_a_persons_grant_counts_for_that_persons_tasks_only(h: Harness) -> None:
    p = h.project()
    h.grant(p, principal="ana@acme")
    task, _ = h.task(p, person("ana@acme"), datasets=["intents"])
    assert task.requested_by == "ana@acme"
    with pytest.raises(Denied):
        h.task(p, person("bob@acme"), datasets=["intents"])
    with pytest.raises(Denied):
        h.task(p, datasets=["intents"])  # by event from another system: only project grants count
    assert [j.state for j in launching.admit_pool(h.deps, "default")] == [JobState.LAUNCHING]


def test_uploads_are_for_the_tenants_data_scientists_and_approvers(h: Harness) -> None:
    p = h.project()
    for who in (person("ana@acme"), person("boss@acme", Role.APPROVER)):
        grant = access.user_dataset_url(
            h.deps, tenant="acme", project_id=p.project_id, name="intents", op="upload", actor=who
        )
        assert grant["method"] == "PUT"
    with pytest.raises(Denied):
        access.user_dataset_url(
            h.deps,
            tenant="acme",
            project_id=p.project_id,
            name="intents",
            op="upload",
            actor=person("svc", Role.SERVICE),
        )
    uploads = [(r.actor, r.decision) for r in h.store.audit_records("acme") if r.action == "dataset.upload"]
    assert sorted(uploads) == [
        ("ana@acme", Decision.ALLOWED),
        ("boss@acme", Decision.ALLOWED),
        ("svc", Decision.DENIED),
    ]


def running(h: Harness, p: Project) -> Job:
    _, job = h.task(p, datasets=["intents"], limits={"epoch_s": 3 * DAY, "ttl_s": 3 * DAY})
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="run", payload=ev.JobRunning())
    assert h.job(job).state is JobState.RUNNING
    return job


def test_revocation_stops_url_issue_and_the_running_job_at_once(h: Harness) -> None:
    p = h.project()
    h.deps.datasets.put(dataset_key("acme", p.project_id, "intents"), b"rows")
    grant = h.grant(p)
    job = running(h, p)
    h.decide(grant, "revoke", "consent withdrawn")
    with pytest.raises((Denied, Conflict)):
        access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")
    stopped = h.job(job)  # stopped by the revocation itself, not by some later sweep
    assert (stopped.state, stopped.failure_kind) == (JobState.CANCELLED, FailureKind.ACCESS_REVOKED)
    assert stopped.reason == f"access revoked: grant {grant.approval_id} was revoked by boss@acme: consent withdrawn"
    assert job.job_id in h.runtime.stopped
    h.finish_events()  # the normal finished -> cleanup path deletes the runtime and frees the pool
    final = h.job(job)
    assert job.job_id in h.runtime.deleted
    assert final.cleaned_up and h.store.usage("default")[0].slots == 0
    assert len(h.store.list_jobs("acme", job.task_id)) == 1  # never retried
    assert sweeping.sweep(h.deps).access_revoked == []


def test_expiry_is_recorded_by_the_sweep_and_stops_the_job(h: Harness) -> None:
    p = h.project()
    grant = h.grant(p, days=1)
    job = running(h, p)
    h.clock.advance(DAY)
    report = sweeping.sweep(h.deps)
    assert report.grants_expired == [grant.approval_id] and report.access_revoked == [job.job_id]
    recorded = h.store.get_approval("acme", grant.approval_id)
    assert recorded.state is ApprovalState.EXPIRED and recorded.history[-1].actor == "trainyard:sweep"
    assert "expired at" in h.job(job).reason
    assert [r.action for r in h.store.audit_records("acme", resource=f"approval/{grant.approval_id}")] == [
        "approval.expire",
        "approval.approve",
        "approval.request",
    ]


def test_a_job_keeps_running_while_another_grant_covers_its_data(h: Harness) -> None:
    p = h.project()
    first = h.grant(p, days=5)
    job = running(h, p)
    second = h.grant(p, days=10)
    h.decide(first, "revoke")
    assert sweeping.sweep(h.deps).access_revoked == []
    kept = h.job(job)
    assert kept.state is JobState.RUNNING and kept.grants == (second.approval_id,)


def test_a_requested_task_without_grants_is_acknowledged_audited_and_not_created(h: Harness) -> None:
    from cloudevents.http import CloudEvent

    from functions import handlers
    from sdk.contracts.events import EventType

    p = h.project()
    data = {
        "tenant": "acme",
        "project_id": p.project_id,
        "task": {"name": "ext", "command": ["true"], "datasets": ["intents"]},
    }
    event = CloudEvent({"type": EventType.TASK_REQUESTED, "source": "crm", "id": "req-1"}, data)
    handlers.create(h.deps, event)  # no exception: the broker must not redeliver it forever
    assert h.store.list_tasks("acme", p.project_id) == []
    [record] = [r for r in h.store.audit_records("acme") if r.action == "task.create"]
    assert (record.actor, record.request_id, record.decision) == ("trainyard:create", "crm/req-1", Decision.DENIED)
    h.grant(p)
    handlers.create(h.deps, event)  # a redelivery after approval goes through (project grants count)
    assert len(h.store.list_tasks("acme", p.project_id)) == 1
