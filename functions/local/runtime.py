"""LocalRuntime: the embedded default's stand-in for Kubernetes Jobs.

One job = one directory `<state_dir>/<job_id>/` holding everything about it:

    work/      the trainer's writable directory and HOME; its cwd unless the task names a code_dir
    egress/    with an `egress`: the socket of the trainer's only way out (a sandbox binds it)
    log        its stdout and stderr (and the supervisor's own complaints)
    pid        the supervisor: "<pid> <start time>"
    trainer    the trainer, leader of its own process group: "<pid> <start time>"
    exit_code  written atomically by the supervisor once the trainer has exited
    reason     optional, next to exit_code: what the exit code does not say

Because the state is on disk and the supervisor runs in its own session, a restarted
platform (a new LocalRuntime on the same state_dir) finds every job again: RUNNING
while its supervisor lives, EXITED with the recorded code once it wrote one, and EXITED
with no code and reason "runner lost" if the supervisor vanished without writing one.
Pids are only trusted together with the start time the kernel reports in
/proc/<pid>/stat, so a pid reused by an unrelated process is never taken for ours.

Limits, applied best effort to the trainer with setrlimit (no cgroups here):
- RLIMIT_CPU = ttl_s * max(cpu, usable cores) seconds: a backstop that cannot fire
  before the TTL, since nothing stops a trainer from using every core (torch does by
  default); the TTL itself is enforced by the platform's sweep.
- RLIMIT_DATA = 2 * memory_mb + 512 MiB, skipped when gpu > 0: it counts writable
  virtual memory, not resident memory, so it needs headroom; torch runs fine under it,
  but CUDA maps large writable regions, so GPU jobs get no memory limit.
- RLIMIT_CORE = 0. RLIMIT_NPROC is not used: it counts every process of the user.

With `cgroups` (functions.local.cgroups, where the machine lets the platform create
them) each job also gets its own pids and memory cgroups: at most `pids_max` processes
and threads (a fork bomb stops there) and `memory_mb` of resident memory (OOM-killed past
it; not for GPU jobs, as above). Stopping a job then also kills what escaped its process
group (setsid), found through the cgroup.

Sandboxing is a seam: `wrap(argv, work_dir)` returns the argv to execute instead
(functions.local.sandbox.bwrap_wrap: bubblewrap); it wraps the trainer only, never the
supervisor. A sandboxed trainer has no network: give the runtime an `egress` (the local
platform's EgressProxy) and it opens a per-job channel in `egress/` before the trainer
starts, and closes it when the job is deleted.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from functions.domain.runs import RunRecord
from functions.local.cgroups import CgroupLimits, JobCgroups
from functions.local.sandbox import EGRESS_DIR, Egress, Wrap, no_sandbox
from functions.local.supervisor import (
    EXIT_CODE_FILE,
    PID_FILE,
    REASON_FILE,
    TRAINER_FILE,
    ProcessRef,
    is_alive,
    live,
    read_ref,
    signal_ref,
    wait_gone,
)
from functions.ports import CannotStart, LaunchSpec, RuntimeJob, RuntimeStatus
from functions.runtimes import LOG_CAP_BYTES, RUNNER_LOST, valid_job_id, validate_spec
from functions.runtimes.codehash import launch_record
from sdk.contracts.errors import PermanentError, TemporaryError, TrainyardError
from sdk.contracts.trainer_env import TrainerVar

_SUPERVISOR = Path(__file__).with_name("supervisor.py")
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_SETTLE_S = 2.0  # how long a SIGKILLed process may take to be gone
_MIB = 1024 * 1024
_RECORD_FILE = "run.json"  # in the job's root, out of the trainer's reach: what launch() recorded


__all__ = ["Egress", "LocalRuntime", "Wrap", "no_sandbox"]


@dataclass(frozen=True)
class _JobDir:
    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def egress(self) -> Path:
        return self.root / EGRESS_DIR

    @property
    def log(self) -> Path:
        return self.root / "log"

    def ref(self, name: str) -> ProcessRef | None:
        return read_ref(self.root / name)

    def exit_code(self) -> int | None:
        try:
            return int((self.root / EXIT_CODE_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def reason(self) -> str:
        try:
            return (self.root / REASON_FILE).read_text().strip()
        except FileNotFoundError:
            return ""

    def record(self) -> RunRecord | None:
        """What launch() recorded (a repeated launch answers the same)."""
        try:
            return RunRecord.model_validate_json((self.root / _RECORD_FILE).read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def keep_record(self, record: RunRecord) -> None:
        (self.root / _RECORD_FILE).write_text(record.model_dump_json())


class LocalRuntime:
    """JobRuntime running each attempt as a supervised, detached local subprocess."""

    def __init__(
        self,
        state_dir: Path,
        *,
        python: str = sys.executable,
        kill_grace_s: float = 5.0,
        wrap: Wrap = no_sandbox,
        path: str | None = None,
        launch_timeout_s: float = 10.0,
        egress: Egress | None = None,
        extra_env: Mapping[str, str] | None = None,
        cgroups: JobCgroups | None = None,
        pids_max: int = 512,
    ) -> None:
        self._state_dir = Path(state_dir).absolute()  # the supervisor runs elsewhere: no relative paths
        self._python = python
        self._kill_grace_s = kill_grace_s
        self._wrap = wrap
        # The platform's interpreter first, so a trainer command "python" finds the SDK.
        self._path = path if path is not None else f"{Path(python).parent}:{_SYSTEM_PATH}"
        self._launch_timeout_s = launch_timeout_s
        self._egress = egress
        self._extra_env = dict(extra_env or {})  # e.g. TRAINYARD_TLS_* for unsandboxed trainers
        self._cgroups = cgroups
        self._pids_max = pids_max  # processes and threads per job: torch's pools fit, a fork bomb does not

    def launch(self, spec: LaunchSpec) -> RunRecord:
        validate_spec(spec)
        job = self._job(spec.job_id)
        try:
            with self._locked(job, create=True):
                if job.ref(PID_FILE) is not None or job.exit_code() is not None:
                    return job.record() or RunRecord(command=[*spec.command, *spec.args])  # idempotent
                job.work.mkdir(exist_ok=True)
                record = self._start(spec, job)
                job.keep_record(record)
                return record
        except OSError as exc:
            raise PermanentError(f"cannot prepare the job directory {job.root}: {exc}") from exc

    def stop(self, job_id: str) -> None:
        job = self._existing(job_id)
        if job is not None:
            with self._locked(job, create=False):
                self._stop(job)

    def delete(self, job_id: str) -> None:
        job = self._existing(job_id)
        if job is None:
            return
        with self._locked(job, create=False):
            self._stop(job)
            self._close_egress(job_id)
            if self._cgroups is not None:
                self._cgroups.remove(job_id)
            try:
                shutil.rmtree(job.root)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise TemporaryError(f"cannot remove {job.root}: {exc}") from exc

    def logs(self, job_id: str, *, full: bool = False) -> bytes:
        job = self._existing(job_id)
        if job is None:
            return b""
        try:
            with job.log.open("rb") as f:
                if full:
                    return f.read()
                f.seek(max(0, os.fstat(f.fileno()).st_size - LOG_CAP_BYTES))
                return f.read(LOG_CAP_BYTES)
        except FileNotFoundError:
            return b""

    def reopen_egress(self) -> list[str]:
        """Serve the channel of every job still running again (a restarted platform); their ids.

        The sandbox binds the egress directory, not the socket, so a trainer sees the new one.
        """
        if self._egress is None:
            return []
        reopened = []
        for job in self.list():
            if job.status is not RuntimeStatus.EXITED and self._job(job.job_id).egress.is_dir():
                self._egress.open(job.job_id, self._job(job.job_id).egress)
                reopened.append(job.job_id)
        return reopened

    def list(self) -> list[RuntimeJob]:
        try:
            names = sorted(entry.name for entry in os.scandir(self._state_dir) if entry.is_dir())
        except FileNotFoundError:
            return []
        found = (self.status(name) for name in names if valid_job_id(name))
        return [job for job in found if job is not None]

    def note_image(self, job_id: str, image_id: str) -> None:
        """Local commands run no image: nothing to remember."""

    def status(self, job_id: str) -> RuntimeJob | None:
        """One job as list() reports it; None if the runtime holds nothing for it."""
        job = self._existing(job_id)
        if job is None:
            return None
        code = job.exit_code()
        if code is not None:
            return RuntimeJob(job_id, RuntimeStatus.EXITED, code, job.reason())
        supervisor = job.ref(PID_FILE)
        if supervisor is None:
            if self._launching(job):
                return RuntimeJob(job_id, RuntimeStatus.PENDING)
            return RuntimeJob(job_id, RuntimeStatus.EXITED, None, RUNNER_LOST)  # launch interrupted
        if is_alive(supervisor):
            return RuntimeJob(job_id, RuntimeStatus.RUNNING)
        code = job.exit_code()  # it may have finished since the first look
        if code is not None:
            return RuntimeJob(job_id, RuntimeStatus.EXITED, code, job.reason())
        return RuntimeJob(job_id, RuntimeStatus.EXITED, None, RUNNER_LOST)

    def wait(self, job_id: str, *, timeout_s: float) -> RuntimeJob | None:
        """Block until the job has exited or timeout_s passed; its status then."""
        supervisor = None if self._existing(job_id) is None else self._job(job_id).ref(PID_FILE)
        if supervisor is not None:
            wait_gone(supervisor, timeout_s)
        return self.status(job_id)

    # -- internals ---------------------------------------------------------------------

    def _job(self, job_id: str) -> _JobDir:
        return _JobDir(self._state_dir / job_id)

    def _existing(self, job_id: str) -> _JobDir | None:
        if not valid_job_id(job_id):
            return None  # cannot name a directory of ours: nothing to find
        job = self._job(job_id)
        return job if job.root.is_dir() else None

    @contextmanager
    def _locked(self, job: _JobDir, *, create: bool) -> Iterator[None]:
        """An exclusive flock on the job directory, across threads and processes.

        Without `create`, a directory that is gone is simply not locked: callers then find
        nothing to act on. A directory removed and recreated while we waited is locked anew.
        """
        for _ in range(3):
            if create:
                job.root.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(job.root, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                if create:
                    continue
                yield
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # held only for a launch or a stop: bounded
                if _same_inode(fd, job.root):
                    yield
                    return
            finally:
                os.close(fd)
        raise TemporaryError(f"job directory {job.root} keeps changing")

    def _launching(self, job: _JobDir) -> bool:
        """A launch holds the directory's lock while it starts the supervisor."""
        try:
            fd = os.open(job.root, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def _start(self, spec: LaunchSpec, job: _JobDir) -> RunRecord:
        try:
            record = launch_record(spec, _code_dir(spec))  # before it starts: what it will see
            self._spawn(spec, job)
            return record
        except TrainyardError:
            self._stop(job)  # whatever got started before the failure
            self._close_egress(spec.job_id)
            shutil.rmtree(job.root, ignore_errors=True)  # so a retried launch starts afresh
            raise

    def _spawn(self, spec: LaunchSpec, job: _JobDir) -> None:
        if self._egress is not None:  # before the wrap: a sandbox binds what exists
            job.egress.mkdir(exist_ok=True)
            self._egress.open(spec.job_id, job.egress)
        code_dir = _code_dir(spec)
        argv = self._wrap([*spec.command, *spec.args], job.work, code_dir=code_dir)
        cmd = [
            self._python,
            "-I",
            str(_SUPERVISOR),
            "--job-dir",
            str(job.root),
            "--cpu-seconds",
            str(self._cpu_seconds(spec)),
            "--data-bytes",
            str(_data_bytes(spec)),
            *(arg for group in self._job_cgroups(spec) for arg in ("--cgroup", str(group))),
            "--",
            *argv,
        ]
        try:
            with job.log.open("ab") as log:
                proc = subprocess.Popen(
                    cmd,
                    cwd=code_dir or job.work,
                    env=self._env(spec, job.work),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise PermanentError(f"cannot start the local supervisor {self._python!r}: {exc}") from exc
        try:
            code = proc.wait(timeout=self._launch_timeout_s)  # it forks and exits at once
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise TemporaryError(f"local supervisor did not start within {self._launch_timeout_s}s") from exc
        if code != 0 or job.ref(PID_FILE) is None:
            detail = job.log.read_bytes()[-500:].decode(errors="replace").strip()
            raise PermanentError(f"local supervisor failed (exit {code}): {detail}")

    def _env(self, spec: LaunchSpec, work: Path) -> dict[str, str]:
        env = {
            "PATH": self._path,
            "LANG": "C.UTF-8",
            "HOME": str(work),
            TrainerVar.WORKDIR.value: str(work),
            **self._extra_env,
        }
        if spec.gpu == 0:
            env["CUDA_VISIBLE_DEVICES"] = ""  # like a pod without nvidia.com/gpu: sees no GPU
        env.update(spec.env)
        return env

    def _job_cgroups(self, spec: LaunchSpec) -> Sequence[Path]:
        if self._cgroups is None:
            return []
        memory = 0 if spec.gpu > 0 else spec.memory_mb * _MIB
        return self._cgroups.create_for_job(spec.job_id, CgroupLimits(pids_max=self._pids_max, memory_bytes=memory))

    def _close_egress(self, job_id: str) -> None:
        if self._egress is not None:
            self._egress.close(job_id)

    def _cpu_seconds(self, spec: LaunchSpec) -> int:
        cores = len(os.sched_getaffinity(0))
        return math.ceil(spec.ttl_s * max(spec.cpu, cores))

    def _stop(self, job: _JobDir) -> None:
        self._stop_group(job)
        if self._cgroups is not None:
            self._cgroups.kill(job.root.name)  # what left the trainer's group (setsid) is still in its cgroup
            self._cgroups.settle(job.root.name, timeout_s=_SETTLE_S)

    def _stop_group(self, job: _JobDir) -> None:
        """SIGTERM the trainer's group, SIGKILL it after the grace; wait until it is gone."""
        supervisor = live(job.ref(PID_FILE))
        trainer = live(job.ref(TRAINER_FILE))
        watched = supervisor or trainer
        if watched is None:
            return
        if trainer is not None:
            signal_ref(trainer, signal.SIGTERM, group=True)
        else:  # not started yet: the supervisor then never starts it
            signal_ref(watched, signal.SIGTERM)
        if not wait_gone(watched, self._kill_grace_s):
            _kill_trainer(job)
            if not wait_gone(watched, _SETTLE_S) and supervisor is not None:
                signal_ref(supervisor, signal.SIGKILL)  # stuck: the job ends as "runner lost"
        if supervisor is None:
            _kill_trainer(job)  # no supervisor to clear what the trainer left in its group


def _code_dir(spec: LaunchSpec) -> Path | None:
    """The trainer's code directory (resolved), or None to start it in its work dir."""
    if spec.code_dir is None:
        return None
    path = Path(spec.code_dir)
    if not path.is_absolute() or not path.is_dir():
        raise CannotStart(f"code_dir {spec.code_dir} is not a directory on the machine the trainer runs on")
    return path.resolve()


def _data_bytes(spec: LaunchSpec) -> int:
    return 0 if spec.gpu > 0 else (2 * spec.memory_mb + 512) * _MIB


def _same_inode(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _kill_trainer(job: _JobDir) -> None:
    trainer = job.ref(TRAINER_FILE)
    if trainer is not None:
        signal_ref(trainer, signal.SIGKILL, group=True)
