"""The local platform's process life: a clean SIGTERM leaves none of its processes behind
(trainers, re-adopted later, excepted), a busy port fails at once, and a running job
survives a restart (SIGKILL or SIGTERM) with its real outcome.

The restart test keeps its state in a moto server outside the platform (`--aws-endpoint`);
tests/e2e/test_restart_history.py and the kill -9 test cover the embedded durable store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from functions.local.supervisor import ProcessRef, is_alive, read_ref, ref_of
from sdk.client import Client
from sdk.contracts.specs import ProjectSpec, TaskSpec
from tests.conftest import free_port
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e
SCRIPTED = str(ROOT / "examples" / "scripted_trainer.py")
EPOCH_S = 20  # the restart test's epoch limit: reports lag seconds behind on a loaded 2-core machine


class Platform:
    """`python -m functions.local` in its own session, as a user (or systemd) starts it."""

    def __init__(self, state: Path, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.state, self.port, self.args = state, port, args
        self.env = {**os.environ, "TRAINYARD_RECONCILE_GRACE_S": "5", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 300) -> Platform:  # the object store and predictor start slowly under load
        (self.state / "local.json").unlink(missing_ok=True)
        with (self.state / "platform.log").open("ab") as log:
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
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self._up():
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, "the platform did not start"
            time.sleep(0.2)
        return self

    def _up(self) -> bool:
        try:
            return (self.state / "local.json").exists() and httpx.get(self.url + "/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def client(self) -> Client:
        return Client(self.url, json.loads((self.state / "local.json").read_text())["token"])

    def log(self) -> str:
        return (self.state / "platform.log").read_text(errors="replace")[-5000:]

    def stop(self, signum: signal.Signals) -> None:
        """SIGTERM to the platform's process alone (as `kill PID` or systemd), or SIGKILL to its
        whole process group (the platform and the predictor; trainers run in their own sessions)."""
        assert self.proc is not None
        if signum is signal.SIGKILL:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(signum)
        self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def descendants(pid: int) -> list[ProcessRef]:
    """Every live process below `pid`, by parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        ref = ref_of(child)
        if ref is not None:
            found.append(ref)
        todo += children.get(child, [])
    return found


def wait_gone(refs: list[ProcessRef], timeout_s: float = 15) -> list[ProcessRef]:
    deadline = time.monotonic() + timeout_s
    while any(is_alive(r) for r in refs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [r for r in refs if is_alive(r)]


def start_job(c: Client, name: str, *args: str, **spec: object) -> str:
    project = c.create_project(ProjectSpec(name=name, purpose="restart tests")).project_id
    body = {"name": name, "command": [sys.executable, SCRIPTED, *args], "retry": {"max_retries": 0}, **spec}
    return c.create_task(project, TaskSpec.model_validate(body)).job.job_id


def wait_job(c: Client, job_id: str, check: str, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = c.get_job(job_id)
        if (check == "epoch>=2" and (job.last_epoch or 0) >= 2) or (check == "ended" and job.is_terminal):
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {check}: {c.get_job(job_id)}")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def test_sigterm_leaves_no_platform_process_behind_and_a_busy_port_fails_at_once(state: Path, tmp_path: Path) -> None:
    platform = Platform(state, free_port())
    try:
        platform.start()
        with platform.client() as c:
            job_id = start_job(c, "forever", "--forever", "--sleep", "0.2")
            wait_job(c, job_id, "epoch>=2")
        written = (state / "local.json").read_bytes()

        started = time.monotonic()
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "functions.local",
                "--port",
                str(platform.port),
                "--state-dir",
                str(state),
                "--no-predictor",
            ],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        )
        # It fails before starting anything (only its imports take time: seconds on a loaded machine).
        assert second.returncode != 0 and time.monotonic() - started < 90
        assert b"cannot listen on 127.0.0.1:%d" % platform.port in second.stderr
        assert b"another `trainyard up`" in second.stderr and b"trainyard is up" not in second.stdout
        assert (state / "local.json").read_bytes() == written  # the running platform's file is untouched

        assert platform.proc is not None
        left = descendants(platform.proc.pid)
        assert len(left) >= 2, "the predictor's processes should run under the platform"
        supervisor = read_ref(state / "runner" / job_id / "pid")
        assert supervisor is not None and is_alive(supervisor)
        platform.stop(signal.SIGTERM)

        assert wait_gone(left) == [], platform.log()  # the predictor, the object store: all of the platform
        # The trainer is not the platform's: its state is durable, so it runs on for the next start.
        assert is_alive(supervisor)
    finally:
        platform.kill()


@pytest.fixture
def durable(moto_endpoint: str) -> dict[str, str]:
    """Tables and buckets of their own on the session's moto server, which outlives the platform."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "TRAINYARD_TABLE_PREFIX": f"restart-{suffix}-",
        "TRAINYARD_DATASETS_BUCKET": f"ds-{suffix}",
        "TRAINYARD_ARTIFACTS_BUCKET": f"art-{suffix}",
        "TRAINYARD_LOGS_BUCKET": f"logs-{suffix}",
    }


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_a_running_job_survives_a_restart_and_ends_with_its_real_outcome(
    state: Path, moto_endpoint: str, durable: dict[str, str], signum: signal.Signals
) -> None:
    # A generous exit grace: on a loaded machine the dispatcher delivers the final report seconds
    # after the trainer, already gone, wrote its exit code.
    platform = Platform(
        state,
        free_port(),
        "--aws-endpoint",
        moto_endpoint,
        "--no-predictor",
        env={**durable, "TRAINYARD_EXIT_GRACE_S": "30"},
    )
    try:
        platform.start()
        with platform.client() as c:
            # EPOCH_S between epochs at most: the outage below is longer, so only re-adoption saves it.
            job_id = start_job(
                c,
                "survivor",
                "--epochs",
                "12",
                "--sleep",
                "0.3",
                limits={"epoch_s": EPOCH_S, "launch_s": 60, "ttl_s": 600},
            )
            wait_job(c, job_id, "epoch>=2")
        supervisor = read_ref(state / "runner" / job_id / "pid")
        assert supervisor is not None

        platform.stop(signum)
        assert is_alive(supervisor), "the trainer must run on while the platform is down"
        time.sleep(EPOCH_S + 1)  # longer than the epoch limit; the trainer's reports wait (SDK retries)
        platform.start()

        with platform.client() as c:
            wait_job(c, job_id, "ended", timeout_s=90)
            job = c.get_job(job_id)
            assert (job.state, job.reason) == ("SUCCEEDED", "succeeded"), platform.log()
            epochs = {e.epoch for e in c.epochs(job_id)}
            # The reports the trainer sent after the outage all arrived. Not asserted: the ones the
            # ingress acknowledged (202) but the local dispatcher had not delivered when the platform
            # stopped are lost, as its queue lives in memory (milliseconds idle, seconds under load).
            assert max(epochs) == 12, sorted(epochs)
            assert [j.job_id for j in c.list_jobs(job.task_id)] == [job_id]  # the same attempt, not a retry
    finally:
        platform.kill()


@pytest.fixture(autouse=True)
def _no_leftover_trainers(state: Path) -> Iterator[None]:
    yield
    from functions.local.runtime import LocalRuntime

    runtime = LocalRuntime(state / "runner", kill_grace_s=0.5)
    for job in runtime.list():
        runtime.delete(job.job_id)
