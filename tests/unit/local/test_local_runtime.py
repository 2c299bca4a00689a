"""LocalRuntime against real subprocesses (short `python -c` trainers)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from functions.local.runtime import LocalRuntime
from functions.local.supervisor import Limits, ProcessRef, Supervisor, proc_stat, read_ref, ref_of
from functions.ports import CannotStart, LaunchSpec, RuntimeJob, RuntimeStatus
from functions.runtimes import LOG_CAP_BYTES, RUNNER_LOST
from sdk.contracts.errors import PermanentError, ValidationError

GRACE_S = 0.2
SLEEPER = "import time; print('ready', flush=True); time.sleep(30)"
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
)


def spec(job_id: str, code: str, **overrides: object) -> LaunchSpec:
    fields: dict[str, object] = dict(
        job_id=job_id,
        tenant="acme",
        project_id="p-1",
        task_id="t-1",
        attempt=1,
        image="",
        command=[sys.executable, "-c", code],
        args=[],
        env={},
        cpu=1.0,
        memory_mb=256,
        gpu=0,
        ttl_s=60.0,
    )
    fields.update(overrides)
    return LaunchSpec(**fields)  # type: ignore[arg-type]


def gone(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is None or stat[0] in ("Z", "X")


def wait_until(check: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """For readiness a process announces in its log; exits are awaited with runtime.wait()."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def wait_ready(runtime: LocalRuntime, job_id: str) -> None:
    wait_until(lambda: b"ready" in runtime.logs(job_id))


def leaked(root: Path) -> list[int]:
    """Live processes whose working directory is under `root` (every job's is)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue  # gone, or a zombie
            if cwd.startswith(str(root)) and not gone(int(entry)):
                found.append(int(entry))
    return found


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    cleaner = LocalRuntime(state, kill_grace_s=GRACE_S)
    for job in cleaner.list():
        cleaner.delete(job.job_id)
    assert leaked(tmp_path) == []


@pytest.fixture
def runtime(state_dir: Path) -> LocalRuntime:
    return LocalRuntime(state_dir, kill_grace_s=GRACE_S)


def test_runs_the_command_with_its_env_and_work_dir(
    runtime: LocalRuntime, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_SECRET", "must-not-leak")
    code = (
        "import json, os, sys; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ), 'argv': sys.argv[1:]}))"
    )
    runtime.launch(spec("j-env", code, args=["--lr", "0.1"], env={"TRAINYARD_JOB_ID": "j-env", "PATH": "/opt/x:/bin"}))

    assert runtime.wait("j-env", timeout_s=5) == RuntimeJob("j-env", RuntimeStatus.EXITED, 0, "")
    seen = json.loads(runtime.logs("j-env"))
    work = str(state_dir / "j-env" / "work")
    assert seen["cwd"] == work
    assert seen["argv"] == ["--lr", "0.1"]
    assert seen["env"] == {
        "PATH": "/opt/x:/bin",
        "LANG": "C.UTF-8",
        "HOME": work,  # spec.env wins
        "TRAINYARD_WORKDIR": work,
        "CUDA_VISIBLE_DEVICES": "",
        "TRAINYARD_JOB_ID": "j-env",
    }


def test_the_default_path_finds_the_platforms_interpreter_first(runtime: LocalRuntime) -> None:
    runtime.launch(spec("j-path", "import os; print(os.environ['PATH'])"))

    runtime.wait("j-path", timeout_s=5)
    assert runtime.logs("j-path") == f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin\n".encode()


def test_records_a_failing_exit_and_captures_stderr(runtime: LocalRuntime) -> None:
    runtime.launch(spec("j-fail", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"))

    assert runtime.wait("j-fail", timeout_s=5) == RuntimeJob("j-fail", RuntimeStatus.EXITED, 3, "")
    assert runtime.logs("j-fail") == b"boom\n"


def test_a_missing_program_exits_127_with_a_reason(runtime: LocalRuntime) -> None:
    runtime.launch(spec("j-missing", "", command=["/nonexistent/trainer"]))

    job = runtime.wait("j-missing", timeout_s=5)
    assert job is not None and (job.status, job.exit_code) == (RuntimeStatus.EXITED, 127)
    assert job.reason.startswith("cannot start:")
    assert b"/nonexistent/trainer" in runtime.logs("j-missing")


def test_an_invalid_spec_is_rejected_whole_and_leaves_nothing(runtime: LocalRuntime, state_dir: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        runtime.launch(spec("../escape", "", command=[], env={"A=B": "x"}))

    assert [p.field for p in caught.value.problems] == ["job_id", "command", "env.A=B"]
    assert not state_dir.exists()


def test_launch_is_idempotent_while_running_and_after_exit(runtime: LocalRuntime, state_dir: Path) -> None:
    runtime.launch(spec("j-idem", SLEEPER))
    supervisor = read_ref(state_dir / "j-idem" / "pid")
    runtime.launch(spec("j-idem", SLEEPER))
    assert read_ref(state_dir / "j-idem" / "pid") == supervisor
    runtime.launch(spec("j-once", "print('started')"))
    runtime.wait("j-once", timeout_s=5)

    runtime.launch(spec("j-once", "print('started')"))

    assert runtime.logs("j-once") == b"started\n"
    assert runtime.status("j-idem") == RuntimeJob("j-idem", RuntimeStatus.RUNNING)


def test_concurrent_launches_start_one_supervisor(runtime: LocalRuntime) -> None:
    threads = [threading.Thread(target=runtime.launch, args=(spec("j-race", "print('started')"),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    runtime.wait("j-race", timeout_s=5)
    assert runtime.logs("j-race") == b"started\n"


def test_stop_forwards_sigterm_and_keeps_logs(state_dir: Path) -> None:
    runtime = LocalRuntime(state_dir, kill_grace_s=10)
    runtime.launch(spec("j-term", SLEEPER))
    wait_ready(runtime, "j-term")

    started = time.monotonic()
    runtime.stop("j-term")

    assert time.monotonic() - started < 2  # it died of SIGTERM, well before the grace
    assert runtime.status("j-term") == RuntimeJob("j-term", RuntimeStatus.EXITED, 128 + signal.SIGTERM, "")
    assert runtime.logs("j-term") == b"ready\n"


def test_stop_kills_a_trainer_ignoring_sigterm_after_the_grace(runtime: LocalRuntime, state_dir: Path) -> None:
    runtime.launch(spec("j-stubborn", STUBBORN))
    wait_ready(runtime, "j-stubborn")
    trainer = read_ref(state_dir / "j-stubborn" / "trainer")
    assert trainer is not None

    started = time.monotonic()
    runtime.stop("j-stubborn")

    assert time.monotonic() - started >= GRACE_S
    assert gone(trainer.pid)
    assert runtime.status("j-stubborn") == RuntimeJob("j-stubborn", RuntimeStatus.EXITED, 128 + signal.SIGKILL, "")


def test_the_trainers_whole_process_group_dies(runtime: LocalRuntime) -> None:
    spawn = (
        "import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
        "time.sleep(30)']); print('child', p.pid, flush=True); print('ready', flush=True); "
    )
    runtime.launch(spec("j-tree", spawn + "time.sleep(30)"))
    runtime.launch(spec("j-orphan", spawn))  # exits at once, leaving its child behind
    wait_ready(runtime, "j-tree")
    runtime.wait("j-orphan", timeout_s=5)

    runtime.stop("j-tree")

    for job_id in ("j-tree", "j-orphan"):
        child = int(runtime.logs(job_id).split()[1])
        wait_until(lambda child=child: gone(child), timeout_s=1)  # type: ignore[misc]


def test_a_restarted_runtime_sees_running_and_exited_jobs(runtime: LocalRuntime, state_dir: Path) -> None:
    runtime.launch(spec("j-long", SLEEPER))
    runtime.launch(spec("j-done", "raise SystemExit(4)"))
    runtime.wait("j-done", timeout_s=5)

    restarted = LocalRuntime(state_dir, kill_grace_s=GRACE_S)

    assert restarted.list() == [
        RuntimeJob("j-done", RuntimeStatus.EXITED, 4, ""),
        RuntimeJob("j-long", RuntimeStatus.RUNNING),
    ]
    restarted.stop("j-long")
    job = restarted.status("j-long")
    assert job is not None and job.status is RuntimeStatus.EXITED and job.exit_code is not None


def test_a_trainer_outlives_the_platform_and_its_exit_is_recorded_for_the_next_one(
    state_dir: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    code = (
        f"import os, time; print('ready', flush=True)\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "raise SystemExit(5)"
    )
    first = LocalRuntime(state_dir, kill_grace_s=GRACE_S)
    first.launch(spec("j-outage", code))
    wait_ready(first, "j-outage")
    supervisor = read_ref(state_dir / "j-outage" / "pid")
    del first  # the platform is gone (killed or stopped); nothing of it watches the trainer now

    go.write_text("")  # the trainer finishes while no platform runs
    assert supervisor is not None
    wait_until(lambda: gone(supervisor.pid), timeout_s=5)

    restarted = LocalRuntime(state_dir, kill_grace_s=GRACE_S)
    assert restarted.status("j-outage") == RuntimeJob("j-outage", RuntimeStatus.EXITED, 5, "")
    assert b"ready" in restarted.logs("j-outage")


def test_a_vanished_supervisor_is_runner_lost_and_delete_kills_its_orphan(
    runtime: LocalRuntime, state_dir: Path
) -> None:
    runtime.launch(spec("j-lost", SLEEPER))
    wait_ready(runtime, "j-lost")
    supervisor = read_ref(state_dir / "j-lost" / "pid")
    trainer = read_ref(state_dir / "j-lost" / "trainer")
    assert supervisor is not None and trainer is not None

    os.kill(supervisor.pid, signal.SIGKILL)

    restarted = LocalRuntime(state_dir, kill_grace_s=GRACE_S)
    assert restarted.wait("j-lost", timeout_s=5) == RuntimeJob("j-lost", RuntimeStatus.EXITED, None, RUNNER_LOST)
    assert not gone(trainer.pid)  # orphaned, still running: delete must find it
    restarted.delete("j-lost")
    assert gone(trainer.pid)


def test_a_reused_pid_is_never_taken_for_ours(runtime: LocalRuntime, state_dir: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        real = ref_of(other.pid)
        assert real is not None
        forged = ProcessRef(other.pid, real.start_time + 1)
        job_dir = state_dir / "j-forged"
        (job_dir / "work").mkdir(parents=True)
        for name in ("pid", "trainer"):
            (job_dir / name).write_text(f"{forged.pid} {forged.start_time}\n")

        assert runtime.status("j-forged") == RuntimeJob("j-forged", RuntimeStatus.EXITED, None, RUNNER_LOST)
        runtime.delete("j-forged")
        assert other.poll() is None  # not signalled
        assert not job_dir.exists()

        (job_dir / "work").mkdir(parents=True)  # the guard is not vacuous: the true start time is ours
        (job_dir / "pid").write_text(f"{real.pid} {real.start_time}\n")
        assert runtime.status("j-forged") == RuntimeJob("j-forged", RuntimeStatus.RUNNING)
    finally:
        other.kill()
        other.wait()


def test_delete_stops_and_removes_everything(runtime: LocalRuntime, state_dir: Path) -> None:
    runtime.launch(spec("j-del", SLEEPER))
    wait_ready(runtime, "j-del")
    trainer = read_ref(state_dir / "j-del" / "trainer")
    assert trainer is not None

    runtime.delete("j-del")

    assert gone(trainer.pid)
    assert not (state_dir / "j-del").exists()
    assert (runtime.list(), runtime.status("j-del"), runtime.logs("j-del")) == ([], None, b"")
    runtime.delete("j-del")  # missing is fine, and so are ids that cannot exist
    runtime.stop("../../etc")
    assert runtime.logs("../../etc") == b""


def test_logs_return_only_the_last_mebibyte(runtime: LocalRuntime) -> None:
    code = "import sys; sys.stdout.write('x' * (3 * 1024 * 1024 // 2) + 'END')"
    runtime.launch(spec("j-big", code))
    runtime.wait("j-big", timeout_s=5)

    data = runtime.logs("j-big")

    assert len(data) == LOG_CAP_BYTES and data.endswith(b"xEND")


def test_resource_limits_are_applied_to_the_trainer(runtime: LocalRuntime) -> None:
    code = (
        "import json, resource as r; print(json.dumps([r.getrlimit(x)[0] for x in "
        "(r.RLIMIT_CPU, r.RLIMIT_DATA, r.RLIMIT_CORE)]))"
    )
    runtime.launch(spec("j-cpu", code, cpu=0.5, memory_mb=300, ttl_s=100.0))
    runtime.launch(spec("j-gpu", code, gpu=1, ttl_s=10.0))
    runtime.wait("j-cpu", timeout_s=5)
    runtime.wait("j-gpu", timeout_s=5)

    cores = len(os.sched_getaffinity(0))
    assert json.loads(runtime.logs("j-cpu")) == [math.ceil(100 * max(0.5, cores)), (2 * 300 + 512) << 20, 0]
    cpu, data, _ = json.loads(runtime.logs("j-gpu"))
    assert (cpu, data) == (10 * max(1, cores), resource.getrlimit(resource.RLIMIT_DATA)[0])


def test_the_sandbox_seam_wraps_the_trainer(state_dir: Path) -> None:
    seen: list[tuple[list[str], Path]] = []

    def wrap(argv: list[str], work_dir: Path, *, code_dir: Path | None = None) -> list[str]:
        assert code_dir is None
        seen.append((argv, work_dir))
        return [sys.executable, "-c", "import sys; print('wrapped', sys.argv[1:])", *argv]

    runtime = LocalRuntime(state_dir, wrap=wrap)
    runtime.launch(spec("j-wrap", "pass", args=["a1"]))
    runtime.wait("j-wrap", timeout_s=5)

    assert seen == [([sys.executable, "-c", "pass", "a1"], state_dir / "j-wrap" / "work")]
    assert runtime.logs("j-wrap") == f"wrapped {[sys.executable, '-c', 'pass', 'a1']}\n".encode()


def test_a_code_dir_is_the_trainers_cwd_and_the_work_dir_stays_its_writable_home(
    runtime: LocalRuntime, state_dir: Path, tmp_path: Path
) -> None:
    code = tmp_path / "my project"
    code.mkdir()
    (code / "train.py").write_text(
        "import json, os; print(json.dumps([os.getcwd(), os.environ['HOME'], os.environ['TRAINYARD_WORKDIR']]))\n"
    )
    runtime.launch(spec("j-code", "", command=[sys.executable, "train.py"], code_dir=str(code)))

    assert runtime.wait("j-code", timeout_s=5) == RuntimeJob("j-code", RuntimeStatus.EXITED, 0, "")
    work = str(state_dir / "j-code" / "work")
    assert json.loads(runtime.logs("j-code")) == [str(code), work, work]


def test_a_missing_code_dir_cannot_start_and_leaves_nothing(
    runtime: LocalRuntime, state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    for job_id, missing in (("j-nodir", tmp_path / "nowhere"), ("j-file", tmp_path / "a-file")):
        with pytest.raises(CannotStart, match="is not a directory"):
            runtime.launch(spec(job_id, "pass", code_dir=str(missing)))
        assert not (state_dir / job_id).exists()


def test_a_launch_in_progress_is_pending_and_an_interrupted_one_is_retried(
    runtime: LocalRuntime, state_dir: Path
) -> None:
    job_dir = state_dir / "j-pending"
    job_dir.mkdir(parents=True)
    fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a launch in another process holds it
    try:
        assert runtime.status("j-pending") == RuntimeJob("j-pending", RuntimeStatus.PENDING)
    finally:
        os.close(fd)
    assert runtime.status("j-pending") == RuntimeJob("j-pending", RuntimeStatus.EXITED, None, RUNNER_LOST)

    runtime.launch(spec("j-pending", "print('started')"))

    assert runtime.wait("j-pending", timeout_s=5) == RuntimeJob("j-pending", RuntimeStatus.EXITED, 0, "")


def test_a_broken_supervisor_fails_the_launch_and_leaves_nothing(state_dir: Path) -> None:
    runtime = LocalRuntime(state_dir, python="/nonexistent/python")

    with pytest.raises(PermanentError):
        runtime.launch(spec("j-broken", "pass"))

    assert runtime.list() == [] and not (state_dir / "j-broken").exists()


def test_a_supervisor_stopped_before_the_start_never_starts_the_trainer(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    supervisor = Supervisor(tmp_path, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], Limits(0, 0))
    supervisor.on_sigterm(signal.SIGTERM, None)

    supervisor.run()

    assert (tmp_path / "exit_code").read_text() == f"{128 + signal.SIGTERM}\n"
    assert (tmp_path / "reason").read_text() == "stopped before start\n"
    assert not marker.exists()
