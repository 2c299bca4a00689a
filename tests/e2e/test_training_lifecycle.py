"""A user's view: tasks run real trainer processes through the whole local platform."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.client import Client, JobView
from sdk.contracts.errors import Forbidden, NotFound
from sdk.contracts.specs import ProjectSpec, TaskSpec
from sdk.governance import GrantActionName
from tests.e2e.conftest import ROOT, LocalPlatform

pytestmark = pytest.mark.e2e
SCRIPTED = str(ROOT / "examples" / "scripted_trainer.py")


def scripted(*args: str) -> list[str]:
    return [sys.executable, SCRIPTED, *args]


def wait_for(c: Client, task_id: str, *, attempts: int = 1, timeout: float = 60) -> list[JobView]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = c.list_jobs(task_id)
        if len(jobs) >= attempts and jobs[-1].is_terminal and jobs[-1].cleaned_up:  # type: ignore[attr-defined]
            return jobs
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} did not settle: {[(j.job_id, j.state) for j in c.list_jobs(task_id)]}")


@pytest.fixture(scope="module")
def project(local_platform: LocalPlatform) -> str:
    with local_platform.client() as c:
        return c.create_project(ProjectSpec(name="e2e", purpose="end-to-end tests", datasets=["d"])).project_id


def task(c: Client, project: str, name: str, command: list[str], **spec: object) -> str:
    return c.create_task(project, TaskSpec.model_validate({"name": name, "command": command, **spec})).task.task_id


def approver(platform: LocalPlatform) -> Client:
    """An approver of the dev token's tenant (the dev token itself is a data scientist's)."""
    return platform.client(
        tokens.user_token(tenant="demo", sub="approver@demo", secret=platform.secret, roles=(Role.APPROVER,))
    )


def approve_training(
    platform: LocalPlatform, c: Client, project: str, *, dataset: str = "d", action: GrantActionName = "train"
) -> str:
    """The data scientist asks for an `action` grant on the project's `dataset`; an approver approves it."""
    asked = c.request_approval([dataset], action=action, project=project, purpose="end-to-end tests", days=1)
    with approver(platform) as boss:
        return boss.approve(asked.approval_id, reason="fits the project's purpose").approval_id


def upload(platform: LocalPlatform, c: Client, project: str) -> None:
    data = Path(platform.state) / "d.csv"
    data.write_text("text,label\nhello,greet\n")
    c.upload_dataset(project, "d", data)


def test_trainer_runs_reports_epochs_checkpoints_and_logs(local_platform: LocalPlatform, project: str) -> None:
    with local_platform.client() as c:
        upload(local_platform, c, project)
        with pytest.raises(Forbidden, match="no active train grant"):
            task(c, project, "unapproved", scripted(), datasets=["d"])
        approve_training(local_platform, c, project)
        tid = task(c, project, "ok", scripted("--epochs", "3", "--sleep", "0.1", "--dataset", "d"), datasets=["d"])
        [job] = wait_for(c, tid)
        assert job.state == "SUCCEEDED", job.reason
        assert [e.epoch for e in c.epochs(job.job_id)] == [1, 2, 3]
        assert len(c.checkpoints(job.job_id)) == 3
        assert job.metadata.get("total_epochs") == 3  # type: ignore[attr-defined]
        assert job.metadata.get("dataset_bytes_d") == len("text,label\nhello,greet\n")  # type: ignore[attr-defined]
        with pytest.raises(Forbidden, match="no active read grant"):  # train lets data in, not back out
            c.logs(job.job_id)
        approve_training(local_platform, c, project, action="read")
        assert "epoch" in c.logs(job.job_id).lower()
        assert [r.action for r in c.audit(resource=f"dataset/{project}/d")] == ["dataset.upload"]  # the user's own


def test_revoking_the_grant_stops_the_running_trainer(local_platform: LocalPlatform) -> None:
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="revoke", purpose="revocation", datasets=["d"])).project_id
        upload(local_platform, c, project)
        grant = approve_training(local_platform, c, project)
        tid = task(c, project, "uses-d", scripted("--forever", "--sleep", "0.2", "--dataset", "d"), datasets=["d"])
        deadline = time.monotonic() + 30
        while (job := c.list_jobs(tid)[0]).metadata.get("dataset_bytes_d") is None:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        with approver(local_platform) as boss:
            assert boss.revoke(grant, reason="consent withdrawn").state == "revoked"
            [done] = wait_for(c, tid)
            assert (done.state, done.failure_kind) == ("CANCELLED", "access_revoked")  # type: ignore[attr-defined]
            assert done.reason == f"access revoked: grant {grant} was revoked by approver@demo: consent withdrawn"
            history = [(h.actor, h.to_state) for h in boss.get_approval(grant).history]
            assert history == [("dev@demo", "requested"), ("approver@demo", "approved"), ("approver@demo", "revoked")]
        with pytest.raises(Forbidden):
            task(c, project, "after", scripted(), datasets=["d"])
    assert not (local_platform.state / "runner" / done.job_id).exists()


def test_time_limits(local_platform: LocalPlatform, project: str) -> None:
    with local_platform.client() as c:
        no_retry = {"max_retries": 0}
        never = task(c, project, "never", scripted("--never-run"), limits={"launch_s": 2}, retry=no_retry)
        stall = task(
            c, project, "stall", scripted("--stall-after", "1", "--sleep", "0.1"), limits={"epoch_s": 2}, retry=no_retry
        )
        forever = task(
            c,
            project,
            "forever",
            scripted("--forever", "--sleep", "0.3"),
            limits={"ttl_s": 3, "epoch_s": 60},
            retry=no_retry,
        )
        outcomes = {
            name: wait_for(c, tid)[-1] for name, tid in (("never", never), ("stall", stall), ("forever", forever))
        }
    assert {n: (j.state, j.failure_kind) for n, j in outcomes.items()} == {  # type: ignore[attr-defined]
        "never": ("TIMED_OUT", "launch_timeout"),
        "stall": ("TIMED_OUT", "epoch_timeout"),
        "forever": ("TIMED_OUT", "ttl_timeout"),
    }


def test_failed_first_attempt_is_retried(local_platform: LocalPlatform, project: str) -> None:
    with local_platform.client() as c:
        tid = task(
            c,
            project,
            "flaky",
            scripted("--epochs", "1", "--fail-first-attempt"),
            retry={"max_retries": 1, "backoff_s": 0.5},
        )
        jobs = wait_for(c, tid, attempts=2)
        assert [(j.attempt, j.state) for j in jobs] == [(1, "FAILED"), (2, "SUCCEEDED")]
        assert jobs[0].failure_kind == "trainer"  # type: ignore[attr-defined]


def test_crash_without_report_fails_as_trainer_failure(local_platform: LocalPlatform, project: str) -> None:
    with local_platform.client() as c:
        tid = task(c, project, "crash", scripted("--crash"), retry={"max_retries": 0})
        [job] = wait_for(c, tid)
        assert job.state == "FAILED" and "code 3" in job.reason


def test_cancel_stops_the_trainer(local_platform: LocalPlatform, project: str) -> None:
    with local_platform.client() as c:
        tid = task(c, project, "cancel-me", scripted("--forever", "--sleep", "0.2"))
        deadline = time.monotonic() + 30
        while c.list_jobs(tid)[0].state != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        job = c.cancel_job(c.list_jobs(tid)[0].job_id)
        assert job.state == "CANCELLED"
        [done] = wait_for(c, tid)
        assert done.state == "CANCELLED" and len(c.list_jobs(tid)) == 1
    assert not (local_platform.state / "runner" / done.job_id).exists()


def test_replayed_events_change_nothing_and_tokens_are_job_scoped(local_platform: LocalPlatform, project: str) -> None:
    with local_platform.client() as c:
        tid = task(c, project, "replay", scripted("--forever", "--sleep", "5"))
        deadline = time.monotonic() + 90  # a loaded 2-core machine: the trainer may queue behind others
        while (job := c.list_jobs(tid)[0]).state != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        token = tokens.job_token(
            tenant="demo", job_id=job.job_id, secret=local_platform.secret, expires_at=int(time.time()) + 60
        )
        event = {
            "specversion": "1.0",
            "id": f"replay-{uuid.uuid4().hex}",
            "type": "io.trainyard.job.epoch",
            "source": "test",
            "subject": job.job_id,
            "data": {"epoch": 99, "metrics": {"loss": 0.1}},
        }
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/cloudevents+json"}
        for _ in range(3):
            r = httpx.post(f"{local_platform.url}/v1/events", headers=headers, content=json.dumps(event))
            assert r.status_code == 202, r.text
        other = {**event, "subject": "t-someone-else.1", "id": uuid.uuid4().hex}
        assert (
            httpx.post(f"{local_platform.url}/v1/events", headers=headers, content=json.dumps(other)).status_code == 403
        )
        deadline = time.monotonic() + 30
        while not [e for e in c.epochs(job.job_id) if e.epoch == 99]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.0)  # give redeliveries time to (not) add more
        assert len([e for e in c.epochs(job.job_id) if e.epoch == 99]) == 1
        c.cancel_job(job.job_id)


def test_other_tenants_get_not_found(local_platform: LocalPlatform, project: str) -> None:
    evil = tokens.user_token(tenant="evil", sub="mallory", secret=local_platform.secret)
    with local_platform.client() as c, local_platform.client(evil) as e:
        tid = c.list_tasks(project)[0].task_id
        job_id = c.list_jobs(tid)[0].job_id
        for call in (
            lambda: e.get_project(project),
            lambda: e.list_tasks(project),
            lambda: e.get_task(tid),
            lambda: e.list_jobs(tid),
            lambda: e.get_job(job_id),
            lambda: e.epochs(job_id),
            lambda: e.logs(job_id),
            lambda: e.cancel_job(job_id),
            lambda: e.comparison(project),
        ):
            with pytest.raises(NotFound):
                call()
        assert project not in [p.project_id for p in e.list_projects()]
