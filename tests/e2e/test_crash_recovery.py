"""kill -9 of the whole local platform in the middle of a burst of writes and a running job,
then a restart on the same state dir: every acknowledged write is still there.

Each write the API acknowledged (2xx) before the kill (projects, tasks with their first job,
grant requests and decisions, audit records, the uploaded dataset, the running job's epochs
and checkpoints) must be readable after the restart, and the running job, whose trainer
outlives the kill and is re-adopted, finishes SUCCEEDED with every epoch.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sdk import http
from sdk.client import Client
from sdk.contracts.errors import TemporaryError
from sdk.contracts.specs import ProjectSpec, TaskSpec
from tests.conftest import free_port
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e
SCRIPTED = str(ROOT / "examples" / "scripted_trainer.py")
POOLS = {"default": {"budget": {"slots": 2, "cpu_milli": 2000, "memory_mb": 4096, "gpu": 0}, "tenant_cap": 2}}
DATA = b"text,label\nhello,greet\nmy password stopped working,Password Help\n"


class Platform:
    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port, self.url = state, port, f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.clients: list[Client] = []

    def start(self) -> float:
        """Start `python -m functions.local` as a user does; seconds until /healthz answers."""
        env = {
            **os.environ,
            "TRAINYARD_POOLS": json.dumps(POOLS),
            "TRAINYARD_RECONCILE_GRACE_S": "5",
            "TRAINYARD_EXIT_GRACE_S": "1",
        }
        began = time.monotonic()
        with (self.state.parent / "platform.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "functions.local",
                    "--port",
                    str(self.port),
                    "--state-dir",
                    str(self.state),
                    "--sweep-interval",
                    "0.5",
                    "--no-predictor",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
        while True:
            assert self.proc.poll() is None, self.log()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - began
            assert time.monotonic() - began < 90, "platform did not start"
            time.sleep(0.1)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # the platform, its S3 server, its egress proxies
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return (self.state.parent / "platform.log").read_text(errors="replace")[-5000:]

    def people(self) -> dict[str, str]:
        return json.loads((self.state / "local.json").read_text())  # type: ignore[no-any-return]

    def client(self, who: str = "token", *, retries: bool = True) -> Client:
        backoff = None if retries else http.Backoff(attempts=1)  # a refused call is simply not acknowledged
        self.clients.append(Client(self.url, self.people()[who], backoff=backoff))
        return self.clients[-1]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path / "state", free_port())
    yield p
    p.kill()
    for client in p.clients:
        client.close()


class Burst(threading.Thread):
    """Creates projects and tasks and asks for grants as fast as the API answers; records only
    what was acknowledged."""

    def __init__(self, client: Client, project: str) -> None:
        super().__init__(daemon=True)
        self.client, self.project = client, project
        self.projects: list[str] = []
        self.tasks: list[str] = []
        self.grants: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None  # anything but "the platform is gone" fails the test

    def run(self) -> None:
        try:
            self._burst()
        except BaseException as exc:
            self.error = exc

    def _burst(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            with contextlib.suppress(TemporaryError, httpx.HTTPError):  # refused: not acknowledged
                self.projects.append(
                    self.client.create_project(
                        ProjectSpec(name=f"burst-{n}", purpose="crash test", datasets=["d"])
                    ).project_id
                )
                spec = TaskSpec(name=f"burst-{n}", command=[sys.executable, SCRIPTED, "--epochs", "1", "--sleep", "0"])
                self.tasks.append(self.client.create_task(self.project, spec).task.task_id)
                self.grants.append(
                    self.client.request_approval(
                        ["d"], action="read", purpose="crash test", days=1, project=self.project, principal="dev@demo"
                    ).approval_id
                )

    @property
    def acknowledged(self) -> int:
        return len(self.projects) + len(self.tasks) + len(self.grants)


def test_kill_9_mid_burst_and_mid_job_then_restart_keeps_every_acknowledged_write(
    platform: Platform, tmp_path: Path
) -> None:
    platform.start()
    c, boss = platform.client(), platform.client("approver_token")
    project = c.create_project(ProjectSpec(name="crash", purpose="crash test", datasets=["d"])).project_id
    dataset = tmp_path / "d.csv"
    dataset.write_bytes(DATA)
    c.upload_dataset(project, "d", dataset)
    asked = c.request_approval(["d"], action="train", project=project, purpose="crash test", days=1)
    granted = boss.approve(asked.approval_id, reason="fits").approval_id
    spec = TaskSpec(
        name="long",
        datasets=["d"],
        command=[sys.executable, SCRIPTED, "--epochs", "8", "--sleep", "1.5", "--dataset", "d"],
    )
    long_task = c.create_task(project, spec).task.task_id
    job_id = f"{long_task}.1"
    deadline = time.monotonic() + 60
    while len(c.epochs(job_id)) < 2:
        assert time.monotonic() < deadline, (c.get_job(job_id), platform.log())
        time.sleep(0.2)

    burst = Burst(platform.client(retries=False), project)
    burst.start()
    while burst.acknowledged < 12:
        assert burst.is_alive() and time.monotonic() < deadline + 30, (burst.error, platform.log())
        time.sleep(0.01)
    epochs_before = [e.epoch for e in c.epochs(job_id)]
    checkpoints_before = [(k.epoch, k.sha256) for k in c.checkpoints(job_id)]
    platform.kill()  # SIGKILL to the whole group, mid-burst and mid-job
    burst.stop.set()
    burst.join(timeout=10)
    assert burst.error is None, burst.error
    assert burst.acknowledged >= 12 and burst.grants

    platform.start()
    c, boss = platform.client(), platform.client("approver_token")
    mine = {p.project_id for p in c.list_projects()}
    assert {project, *burst.projects} <= mine
    tasks = {t.task_id for t in c.list_tasks(project)}
    assert {long_task, *burst.tasks} <= tasks
    for tid in burst.tasks:  # a task and its first job were written together
        assert [j.attempt for j in c.list_jobs(tid)][:1] == [1]
    for grant in [*burst.grants, granted]:
        assert boss.get_approval(grant).approval_id == grant
    assert boss.get_approval(granted).state == "approved"
    assert [e.epoch for e in c.epochs(job_id)][: len(epochs_before)] == epochs_before
    assert [(k.epoch, k.sha256) for k in c.checkpoints(job_id)][: len(checkpoints_before)] == checkpoints_before
    trail = {(r.action, r.resource) for r in platform.client("admin_token").audit(limit=1000)}
    assert {("approval.request", f"approval/{g}") for g in [*burst.grants, granted]} <= trail

    read = c.request_approval(
        ["d"], action="read", purpose="check the upload", days=1, project=project, principal="dev@demo"
    )
    boss.approve(read.approval_id, reason="ok")
    back = tmp_path / "back.csv"
    c.download_dataset(project, "d", back)
    assert back.read_bytes() == DATA  # the object survived too

    deadline = time.monotonic() + 60
    while not (job := c.get_job(job_id)).is_terminal:
        assert time.monotonic() < deadline, (job, platform.log())
        time.sleep(0.3)
    # The trainer outlived the kill (its supervisor is not in the platform's group), waited for the
    # platform, and was re-adopted: it finishes as it would have, with all its epochs.
    assert job.state == "SUCCEEDED", job
    assert [e.epoch for e in c.epochs(job_id)] == list(range(1, 9))
