"""Per-job cgroups for local trainers: a bound on processes (pids) and on resident memory.

setrlimit cannot bound a job's process count (RLIMIT_NPROC counts every process of the
user, and not at all for root) nor its resident memory, so a fork bomb or a leak in one
trainer would take the machine. Where the platform may create cgroups below its own, each
job gets one per controller, `<own cgroup>/trainyard/<job_id>`, with `pids.max` and the
memory limit (cgroup v1 `memory.limit_in_bytes` (+ `memsw` where swap is accounted), or
v2 `memory.max` + `memory.swap.max`); the supervisor moves the trainer into them before
exec (local_supervisor `--cgroup`), so everything the trainer starts is counted and bounded. The kernel refuses a
fork past pids.max (EAGAIN) and OOM-kills inside the job past its memory.

`JobCgroups.detect()` returns None where cgroups are not writable (an unprivileged user
without delegation, a read-only /sys/fs/cgroup, cgroup v2 whose own group holds processes
so no controllers can be delegated below it); the runner then warns and keeps only the
setrlimit limits.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from sdk.contracts.errors import TemporaryError

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
GROUP = "trainyard"
_CONTROLLERS = ("pids", "memory")


@dataclass(frozen=True)
class CgroupLimits:
    pids_max: int
    memory_bytes: int  # 0: no memory limit


@dataclass(frozen=True)
class JobCgroups:
    """The `trainyard` parent group of each controller (one shared dir on cgroup v2)."""

    bases: tuple[Path, ...]
    version: int

    @classmethod
    def detect(cls, *, root: Path = ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> JobCgroups | None:
        """The job cgroups this process may create, or None (why is logged)."""
        try:
            own = _own_paths(proc_cgroup.read_text())
        except OSError as exc:
            log.warning("no per-job cgroups (cannot read %s: %s)", proc_cgroup, exc)
            return None
        if (root / "cgroup.controllers").exists() and "" in own:  # v2 only
            return _detect_v2(root, own[""])
        bases = []
        for controller in _CONTROLLERS:
            if controller not in own or not (root / controller).is_dir():
                log.warning("no per-job cgroups: no cgroup v1 %s hierarchy here", controller)
                return None
            bases.append(root / controller / own[controller].lstrip("/") / GROUP)
        return cls._made(tuple(bases), version=1)

    @classmethod
    def _made(cls, bases: tuple[Path, ...], *, version: int) -> JobCgroups | None:
        try:
            for base in bases:
                base.mkdir(exist_ok=True)
        except OSError as exc:
            log.warning("no per-job cgroups (cannot create %s: %s): trainers are bounded by setrlimit only", bases, exc)
            return None
        return cls(bases, version)

    def create(self, job_id: str, limits: CgroupLimits) -> list[Path]:
        """The job's cgroups, limits set; the dirs whose cgroup.procs the trainer joins."""
        dirs = [base / job_id for base in self.bases]
        for path in dirs:
            path.mkdir(exist_ok=True)
        for name, value in self._settings(limits).items():
            for path in dirs:
                if (path / name).exists():
                    (path / name).write_text(str(value))
        return dirs

    def _settings(self, limits: CgroupLimits) -> Mapping[str, int | str]:
        out: dict[str, int | str] = {"pids.max": limits.pids_max}
        if limits.memory_bytes:
            if self.version == 1:  # memsw after limit_in_bytes: it may never be below it
                out.update(
                    {"memory.limit_in_bytes": limits.memory_bytes, "memory.memsw.limit_in_bytes": limits.memory_bytes}
                )
            else:
                out.update({"memory.max": limits.memory_bytes, "memory.swap.max": 0})
        return out

    def create_for_job(self, job_id: str, limits: CgroupLimits) -> list[Path]:
        """`create`, a failure to do so being temporary (the launch is retried)."""
        try:
            return self.create(job_id, limits)
        except OSError as exc:
            raise TemporaryError(f"cannot create the cgroups of job {job_id}: {exc}") from exc

    def settle(self, job_id: str, *, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) until the job's cgroups hold no process (after `kill`)."""
        deadline = time.monotonic() + timeout_s
        while self.processes(job_id) and time.monotonic() < deadline:
            time.sleep(0.02)

    def processes(self, job_id: str) -> list[int]:
        """Every process in the job's cgroups (also those that left the trainer's group)."""
        found: set[int] = set()
        for base in self.bases:
            with suppress(OSError, ValueError):
                found.update(int(p) for p in (base / job_id / "cgroup.procs").read_text().split())
        return sorted(found)

    def kill(self, job_id: str) -> None:
        """SIGKILL whatever is still in the job's cgroups."""
        for pid in self.processes(job_id):
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, job_id: str) -> None:
        """Remove the job's cgroups (only empty ones can go: call after the job's processes ended)."""
        for base in self.bases:
            path = base / job_id
            with suppress(FileNotFoundError):
                try:
                    path.rmdir()
                except OSError as exc:
                    log.warning("cannot remove cgroup %s: %s", path, exc)


def _own_paths(text: str) -> dict[str, str]:
    """{controller: path} of this process, from /proc/self/cgroup ('' = the v2 hierarchy)."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _detect_v2(root: Path, own: str) -> JobCgroups | None:
    parent = root / own.lstrip("/")
    try:
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"pids", "memory"} <= enabled:
            (parent / "cgroup.subtree_control").write_text("+pids +memory")
        base = parent / GROUP
        base.mkdir(exist_ok=True)
        (base / "cgroup.subtree_control").write_text("+pids +memory")
    except OSError as exc:
        log.warning(
            "no per-job cgroups (cgroup v2 at %s does not delegate pids and memory: %s): trainers are "
            "bounded by setrlimit only",
            parent,
            exc,
        )
        return None
    return JobCgroups((base,), version=2)
