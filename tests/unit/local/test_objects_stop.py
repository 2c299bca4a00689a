"""Stopping the embedded S3 server is bounded, and it never outlives the platform: SIGTERM,
then SIGKILL to its own process group after a grace; it dies with its parent (kill -9
included); and one directory has one server at a time (the lock it holds).

The server here is a stand-in with SeaweedFS's bad habit (it ignores SIGTERM) and a child
in its process group, started through the same `spawn` the platform uses."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from functions.local.objects import LOCK, SeaweedS3, _hold, spawn

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[1] == "ignore" else signal.SIG_DFL)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _server(tmp_path: Path, mode: str) -> tuple[SeaweedS3, int]:
    lock = _hold(tmp_path / LOCK)
    out_path = tmp_path / "out"
    with out_path.open("wb") as out:
        proc = spawn([sys.executable, "-c", STUBBORN, mode], out, lock)
    os.close(lock)
    deadline = time.monotonic() + 30
    while not out_path.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return SeaweedS3(endpoint="http://unused", process=proc, log=out_path), int(out_path.read_text())


def test_a_server_that_ignores_sigterm_is_killed_with_its_group_after_the_grace(tmp_path: Path) -> None:
    server, child = _server(tmp_path, "ignore")
    began = time.monotonic()
    assert server.stop(grace_s=0.3, kill_wait_s=5) is True
    assert time.monotonic() - began < 5
    assert server.process.returncode == -signal.SIGKILL
    assert _gone(child)  # its child, in its group, went too
    assert os.getpgid(os.getpid()) != server.process.pid  # its own group: ours was never signalled


def test_a_server_that_honours_sigterm_stops_without_a_kill(tmp_path: Path) -> None:
    server, child = _server(tmp_path, "default")
    assert server.stop(grace_s=10) is True
    assert server.process.returncode == -signal.SIGTERM
    os.kill(child, signal.SIGKILL)  # SIGTERM reached the server only, as SeaweedFS gets it
    assert server.stop() is True  # stopping a stopped server is a no-op


def test_one_server_per_directory_until_it_is_gone(tmp_path: Path) -> None:
    server, _ = _server(tmp_path, "ignore")
    with pytest.raises(RuntimeError, match="another trainyard platform's S3 server"):
        _hold(tmp_path / LOCK)  # the platform closed its fd: the server alone holds the lock now
    server.stop(grace_s=0.1)
    os.close(_hold(tmp_path / LOCK))


PARENT = """
import sys
from pathlib import Path
from functions.local.objects import LOCK, _hold, spawn
with open(sys.argv[1], "wb") as out:
    proc = spawn([sys.executable, "-c", "import time; time.sleep(600)"], out, _hold(Path(sys.argv[2]) / LOCK))
print(proc.pid, flush=True)
import time; time.sleep(600)
"""


def test_the_server_dies_with_the_platform_even_by_kill_9(tmp_path: Path) -> None:
    platform = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "out"), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert platform.stdout is not None
    server = int(platform.stdout.readline())
    try:
        assert _alive(server)
        platform.kill()
        platform.wait(timeout=30)
        platform.stdout.close()
        assert _gone(server)
    finally:
        with contextlib.suppress(ProcessLookupError):  # never leave it behind, even when this fails
            os.kill(server, signal.SIGKILL)
    os.close(_hold(tmp_path / LOCK))  # and the directory is free again
