"""Issue 9, point 6: a trainer's fork bomb and memory hog stay inside its own job's cgroups.

Real subprocesses under LocalRuntime with real cgroups; skipped (saying why) where this
machine does not let the platform create cgroups. The cgroup parsing is checked always.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.local.cgroups import GROUP, JobCgroups, _own_paths
from functions.local.runtime import LocalRuntime
from functions.local.supervisor import proc_stat
from functions.ports import LaunchSpec, RuntimeStatus

FORK_BOMB = r"""
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as exc:
    print(f"refused after {children} children: {exc.strerror}", flush=True)
"""
MEMORY_HOG = r"""
hog = []
for _ in range(64):
    hog.append(bytearray(16 << 20))  # 16 MiB, touched: resident
    print(len(hog) * 16, "MiB", flush=True)
print("survived", flush=True)
"""


@pytest.fixture(scope="module")
def cgroups() -> JobCgroups:
    found = JobCgroups.detect()
    if found is None:
        pytest.skip("this machine does not let the platform create cgroups (see the warning logged)")
    return found


@pytest.fixture
def runtime(tmp_path: Path, cgroups: JobCgroups) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(tmp_path / "state", kill_grace_s=0.2, cgroups=cgroups, pids_max=24)
    yield runtime
    for job in runtime.list():
        runtime.delete(job.job_id)


def spec(job_id: str, code: str, memory_mb: int = 256) -> LaunchSpec:
    return LaunchSpec(
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
        memory_mb=memory_mb,
        gpu=0,
        ttl_s=60.0,
    )


def test_a_fork_bomb_stops_at_the_jobs_pids_limit(runtime: LocalRuntime, cgroups: JobCgroups) -> None:
    runtime.launch(spec("j-bomb", FORK_BOMB))
    done = runtime.wait("j-bomb", timeout_s=30)

    assert done is not None and done.status is RuntimeStatus.EXITED, runtime.logs("j-bomb")
    log = runtime.logs("j-bomb").decode()
    assert "refused after" in log, log
    children = int(log.split("refused after ")[1].split()[0])
    assert children < 24  # the trainer itself counts too
    runtime.delete("j-bomb")  # kills what is left in the cgroup, then removes it
    assert all(not (base / "j-bomb").exists() for base in cgroups.bases)
    assert cgroups.processes("j-bomb") == []


ESCAPEE = r"""
import os, time
if os.fork() == 0:
    os.setsid()  # out of the trainer's process group: a group kill misses it
    print("escaped", flush=True)
    time.sleep(60)
    os._exit(0)
time.sleep(0.5)
"""


def test_a_process_that_left_the_trainers_group_dies_with_the_job(runtime: LocalRuntime, cgroups: JobCgroups) -> None:
    runtime.launch(spec("j-escape", ESCAPEE))
    runtime.wait("j-escape", timeout_s=30)
    assert b"escaped" in runtime.logs("j-escape")
    [escapee] = cgroups.processes("j-escape")  # the trainer exited; its escapee still runs

    runtime.delete("j-escape")

    stat = proc_stat(escapee)
    assert stat is None or stat[0] in ("Z", "X")


def test_a_memory_hog_is_killed_inside_its_job(runtime: LocalRuntime) -> None:
    runtime.launch(spec("j-hog", MEMORY_HOG, memory_mb=128))
    done = runtime.wait("j-hog", timeout_s=60)

    assert done is not None and done.status is RuntimeStatus.EXITED
    log = runtime.logs("j-hog").decode()
    assert "survived" not in log and done.exit_code != 0, log


def test_own_cgroup_paths_are_read_for_v1_and_v2() -> None:
    v1 = "8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n"
    assert _own_paths(v1) == {"pids": "/", "memory": "/process_api/abc", "cpu": "/x", "cpuacct": "/x", "": "/"}
    assert _own_paths("0::/user.slice/session-1.scope\n") == {"": "/user.slice/session-1.scope"}


def test_without_writable_cgroups_detect_says_none(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("8:pids:/\n4:memory:/\n")
    assert JobCgroups.detect(root=tmp_path / "missing", proc_cgroup=proc) is None
    (tmp_path / "fs" / "pids").mkdir(parents=True)
    (tmp_path / "fs" / "memory").mkdir()
    found = JobCgroups.detect(root=tmp_path / "fs", proc_cgroup=proc)
    assert found is not None and found.bases == (tmp_path / "fs" / "pids" / GROUP, tmp_path / "fs" / "memory" / GROUP)
