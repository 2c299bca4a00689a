"""Trainers in a real bubblewrap sandbox under LocalRuntime: what they can and cannot reach.

Skipped, with bwrap's own complaint, where bubblewrap cannot run (not installed, or no
user namespaces): see functions.local.sandbox.probe.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.local.runtime import LocalRuntime
from functions.local.sandbox import SANDBOX_SOCKET, bwrap_wrap, default_read_only, probe
from functions.ports import LaunchSpec, RuntimeJob, RuntimeStatus

ATTACKS = r"""
import json, os, socket, sys
cfg = json.loads(sys.argv[1])
seen = {}

def attempt(name, action):
    try:
        action()
        seen[name] = "allowed"
    except OSError as exc:
        seen[name] = type(exc).__name__

def connect(host, port):
    socket.create_connection((host, port), timeout=2).close()

def read(path):
    with open(path, "rb") as f:
        f.read(1)

def write(path):
    with open(path, "w") as f:
        f.write("x")

attempt("tcp to the host's 127.0.0.1", lambda: connect("127.0.0.1", cfg["port"]))
attempt("tcp to 8.8.8.8", lambda: connect("8.8.8.8", 53))
attempt("read the platform secret", lambda: read(cfg["secret"]))
attempt("read another job's file", lambda: read(cfg["other"]))
attempt("read its own pid file", lambda: read(cfg["pid"]))
attempt("read /etc/shadow", lambda: read("/etc/shadow"))
attempt("write /", lambda: write("/evil"))
attempt("write /usr", lambda: write("/usr/evil"))
attempt("write /etc/passwd", lambda: write("/etc/passwd"))
attempt("write the venv", lambda: write(sys.prefix + "/evil"))
attempt("write its work dir", lambda: write("ok.txt"))
attempt("write /tmp", lambda: write("/tmp/ok.txt"))
seen["listed"] = {p: sorted(os.listdir(p)) if os.path.isdir(p) else None for p in cfg["list"]}
print(json.dumps(seen))
"""


def spec(job_id: str, argv: list[str], **env: str) -> LaunchSpec:
    return LaunchSpec(
        job_id=job_id,
        tenant="acme",
        project_id="p-1",
        task_id="t-1",
        attempt=1,
        image="",
        command=[sys.executable, *argv],
        args=[],
        env=env,
        cpu=1.0,
        memory_mb=256,
        gpu=0,
        ttl_s=60.0,
    )


class RecordingEgress:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def open(self, job_id: str, directory: Path) -> None:
        self.calls.append(("open", job_id))

    def close(self, job_id: str) -> None:
        self.calls.append(("close", job_id))


@pytest.fixture(scope="module")
def sandbox_problem() -> str | None:
    return probe(bwrap_wrap(read_only=default_read_only()))


@pytest.fixture
def platform_dir(tmp_path: Path, sandbox_problem: str | None) -> Path:
    if sandbox_problem:
        pytest.skip(f"bubblewrap cannot sandbox here: {sandbox_problem}")
    state = tmp_path / "platform"  # laid out as `python -m functions.local` lays out its state dir
    (state / "runner" / "j-other" / "work").mkdir(parents=True)
    (state / "runner" / "j-other" / "work" / "data.txt").write_text("another tenant's data")
    (state / "secret").write_text("token-signing-secret")
    return state


@pytest.fixture
def egress() -> RecordingEgress:
    return RecordingEgress()


@pytest.fixture
def runtime(platform_dir: Path, egress: RecordingEgress) -> Iterator[LocalRuntime]:
    wrap = bwrap_wrap(read_only=default_read_only(), hidden=[platform_dir])
    runtime = LocalRuntime(platform_dir / "runner", wrap=wrap, egress=egress, kill_grace_s=0.5)
    yield runtime
    for job in runtime.list():
        runtime.delete(job.job_id)


def run(runtime: LocalRuntime, job_id: str, argv: list[str], **env: str) -> bytes:
    runtime.launch(spec(job_id, argv, **env))
    assert runtime.wait(job_id, timeout_s=30) == RuntimeJob(job_id, RuntimeStatus.EXITED, 0, ""), runtime.logs(job_id)
    return runtime.logs(job_id)


def test_every_way_out_fails_while_its_own_dirs_work(runtime: LocalRuntime, platform_dir: Path) -> None:
    home = Path.home()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        cfg = {
            "port": listener.getsockname()[1],
            "secret": str(platform_dir / "secret"),
            "other": str(platform_dir / "runner" / "j-other" / "work" / "data.txt"),
            "pid": str(platform_dir / "runner" / "j-evil" / "pid"),
            "list": [str(home), "/root", str(platform_dir), str(platform_dir / "runner")],
        }
        seen = json.loads(run(runtime, "j-evil", ["-c", ATTACKS, json.dumps(cfg)]))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's port

    listed = seen.pop("listed")
    allowed = {name for name, outcome in seen.items() if outcome == "allowed"}
    assert allowed == {"write its work dir", "write /tmp"}, seen
    assert seen["tcp to the host's 127.0.0.1"] == "ConnectionRefusedError"  # its own empty loopback
    assert (platform_dir / "runner" / "j-evil" / "work" / "ok.txt").exists()
    assert not Path("/tmp/ok.txt").exists() and not Path("/evil").exists()
    # Mount points only: the path down to its work dir, and the interpreter's prefix in $HOME.
    assert listed[str(platform_dir)] == ["runner"] and listed[str(platform_dir / "runner")] == ["j-evil"]
    under_home = {p.relative_to(home).parts[0] for p in default_read_only() if p.is_relative_to(home)}
    for path in (str(home), "/root"):
        assert set(listed[path] or []) <= under_home, listed


def test_the_channel_and_the_runners_env_are_all_it_gets(
    runtime: LocalRuntime, platform_dir: Path, egress: RecordingEgress, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    code = "import json, os; print(json.dumps([dict(os.environ), os.listdir('/run/trainyard')]))"
    (platform_dir / "runner" / "j-env" / "egress").mkdir(parents=True)
    (platform_dir / "runner" / "j-env" / "egress" / "platform.sock").write_text("")  # the proxy's, normally

    env, channel = json.loads(run(runtime, "j-env", ["-c", code], TRAINYARD_JOB_ID="j-env"))
    runtime.delete("j-env")

    work = str(platform_dir / "runner" / "j-env" / "work")
    assert env == {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": work,
        "TRAINYARD_WORKDIR": work,
        "CUDA_VISIBLE_DEVICES": "",
        "TRAINYARD_JOB_ID": "j-env",
        "TRAINYARD_PLATFORM_UDS": SANDBOX_SOCKET,
        "PWD": work,
    }  # bwrap's --chdir sets PWD
    assert channel == ["platform.sock"]
    assert egress.calls == [("open", "j-env"), ("close", "j-env")]


def test_limits_still_apply_inside_the_sandbox(runtime: LocalRuntime) -> None:
    code = "import json, resource as r; print(json.dumps([r.getrlimit(x)[0] for x in (r.RLIMIT_CPU, r.RLIMIT_DATA)]))"

    limits = json.loads(run(runtime, "j-limits", ["-c", code]))

    assert limits == [math.ceil(60 * max(1.0, len(os.sched_getaffinity(0)))), (2 * 256 + 512) << 20]


def test_stop_leaves_nothing_of_the_sandbox_running(runtime: LocalRuntime) -> None:
    token = uuid.uuid4().hex  # the grandchild's argv alone holds "sandboxed-<token>" as a whole word
    code = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', "
        "'sandboxed-' + sys.argv[1]]); print('ready', flush=True); time.sleep(60)"
    )
    runtime.launch(spec("j-stop", ["-c", code, token]))
    _wait_for_log(runtime, "j-stop", b"ready")
    assert len(_processes_with(f"sandboxed-{token}")) == 1

    runtime.stop("j-stop")

    job = runtime.status("j-stop")
    assert job is not None and job.status is RuntimeStatus.EXITED
    assert _processes_with(f"sandboxed-{token}") == []


def _wait_for_log(runtime: LocalRuntime, job_id: str, text: bytes, timeout_s: float = 15.0) -> None:
    """For readiness a trainer announces in its log; exits are awaited with runtime.wait()."""
    deadline = time.monotonic() + timeout_s
    while text not in runtime.logs(job_id):
        assert time.monotonic() < deadline, runtime.logs(job_id)
        time.sleep(0.02)


def _processes_with(word: str) -> list[int]:
    """Live processes with `word` as one of their arguments."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if word.encode() in argv and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def test_a_restarted_runner_reopens_the_channels_of_running_jobs_only(
    runtime: LocalRuntime, platform_dir: Path
) -> None:
    run(runtime, "j-done", ["-c", "pass"])
    runtime.launch(spec("j-busy", ["-c", "import time; print('ready', flush=True); time.sleep(60)"]))
    _wait_for_log(runtime, "j-busy", b"ready")
    egress = RecordingEgress()

    restarted = LocalRuntime(platform_dir / "runner", wrap=bwrap_wrap(read_only=default_read_only()), egress=egress)

    assert restarted.reopen_egress() == ["j-busy"]
    assert egress.calls == [("open", "j-busy")]
    assert LocalRuntime(platform_dir / "runner").reopen_egress() == []  # no egress, nothing to reopen
