"""The tiny process that runs one local trainer and records how it ended.

LocalRuntime starts it as `python -I supervisor.py --job-dir D ... -- ARGV...` in a
new session, with the trainer's environment and working directory. It forks once: the
parent records the child's pid and start time in `D/pid` and exits, so the platform
never holds a child process (it can restart and find the job again from disk); the
child starts the trainer in its own process group, waits for it, kills what is left
of that group and writes `D/exit_code` atomically. SIGTERM is forwarded to the
trainer's group.

Standard library only, and nothing outside this file: it runs under `-I` (isolated
mode) so the trainer's PYTHONPATH and the job directory cannot change what it imports.
LocalRuntime imports the helpers at the top (pid files, /proc start times, and signalling
and waiting for a process named by a ProcessRef).
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

PID_FILE = "pid"  # the supervisor: "<pid> <start time>"
TRAINER_FILE = "trainer"  # the trainer (leader of its process group): "<pid> <start time>"
EXIT_CODE_FILE = "exit_code"  # the trainer's exit code; 128 + n when killed by signal n
REASON_FILE = "reason"  # optional: what the supervisor knows that an exit code does not say
CPU_HARD_SLACK_S = 10  # after the soft CPU limit's SIGXCPU, SIGKILL this much later


@dataclass(frozen=True)
class ProcessRef:
    """A pid plus the kernel's start time, so a reused pid is never mistaken for ours."""

    pid: int
    start_time: int


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of a process, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def ref_of(pid: int) -> ProcessRef | None:
    stat = proc_stat(pid)
    return None if stat is None else ProcessRef(pid, stat[1])


def is_alive(ref: ProcessRef) -> bool:
    """The very process `ref` names still runs (a zombie has finished running)."""
    stat = proc_stat(ref.pid)
    return stat is not None and stat[1] == ref.start_time and stat[0] not in ("Z", "X")


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_ref(path: Path, ref: ProcessRef) -> None:
    write_atomic(path, f"{ref.pid} {ref.start_time}\n")


def read_ref(path: Path) -> ProcessRef | None:
    try:
        pid, start = path.read_text().split()
        return ProcessRef(int(pid), int(start))
    except (FileNotFoundError, ValueError):
        return None


# Used by LocalRuntime (the platform side) to stop a job: signal, wait.


def live(ref: ProcessRef | None) -> ProcessRef | None:
    return ref if ref is not None and is_alive(ref) else None


def signal_ref(ref: ProcessRef, signum: int, *, group: bool = False) -> None:
    """Signal a process (or the group it leads) unless its pid now names another process.

    A group outlives its leader; while any member lives the kernel does not hand its id
    out again, so a dead leader whose pid is not reused still names our leftovers.
    """
    stat = proc_stat(ref.pid)
    if stat is not None and stat[1] != ref.start_time:
        return  # reused by an unrelated process: ours, and its group, are gone
    with suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(ref.pid, signum)
        else:
            os.kill(ref.pid, signum)


def wait_gone(ref: ProcessRef, timeout_s: float) -> bool:
    """Wait, without polling, until the process has finished; False on timeout."""
    try:
        fd = os.pidfd_open(ref.pid)
    except ProcessLookupError:
        return True
    except OSError:  # no pidfd (old kernel): fall back to polling
        return poll_gone(ref, timeout_s)
    try:
        if not is_alive(ref):  # also proves the pidfd is for our process, not a reused pid
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)  # readable once the process has exited
        return bool(poller.poll(max(0, int(timeout_s * 1000)))) or not is_alive(ref)
    finally:
        os.close(fd)


def poll_gone(ref: ProcessRef, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_alive(ref):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int  # 0 = none
    data_bytes: int  # 0 = none
    cgroups: tuple[Path, ...] = ()  # the job's cgroups (pids, memory): the trainer joins them

    def apply(self) -> None:
        """In the trainer, before exec. Best effort for rlimits: a limit we may not set is
        skipped; a cgroup the runner made must be joined (else the exec fails loudly)."""
        for group in self.cgroups:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        _set_limit(resource.RLIMIT_CORE, 0, 0)  # no core dumps filling the disk
        if self.cpu_seconds:
            _set_limit(resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + CPU_HARD_SLACK_S)
        if self.data_bytes:
            _set_limit(resource.RLIMIT_DATA, self.data_bytes, self.data_bytes)


def _set_limit(which: int, soft: int, hard: int) -> None:
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:  # an unprivileged process cannot raise it
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    with suppress(ValueError, OSError):
        resource.setrlimit(which, (soft, hard))


class Supervisor:
    def __init__(self, job_dir: Path, argv: list[str], limits: Limits) -> None:
        self.job_dir = job_dir
        self.argv = argv
        self.limits = limits
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def on_sigterm(self, signum: int, frame: object) -> None:
        self.stopping = True
        if self.proc is not None:
            _kill_group(self.proc.pid, signal.SIGTERM)
        # else: run() sees `stopping` before or right after it starts the trainer

    def run(self) -> int:
        if self.stopping:
            return self.finish(128 + signal.SIGTERM, "stopped before start")
        try:
            self.proc = subprocess.Popen(self.argv, process_group=0, preexec_fn=self.limits.apply)
        except subprocess.SubprocessError as exc:  # preexec_fn failed: e.g. its cgroup is gone
            print(f"trainyard: cannot confine {self.argv[0]!r}: {exc}", file=sys.stderr, flush=True)
            return self.finish(126, f"cannot confine: {exc}")
        except OSError as exc:
            print(f"trainyard: cannot start {self.argv[0]!r}: {exc}", file=sys.stderr, flush=True)
            return self.finish(127 if isinstance(exc, FileNotFoundError) else 126, f"cannot start: {exc}")
        trainer = ref_of(self.proc.pid)  # not None: unreaped until wait(), even if it exited
        if trainer is not None:
            write_ref(self.job_dir / TRAINER_FILE, trainer)
        if self.stopping:
            _kill_group(self.proc.pid, signal.SIGTERM)
        # Wait without reaping: while the trainer is an unreaped zombie its pid, and so its
        # group id, cannot be reused, so the SIGKILL below reaches only what it left behind.
        os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT)
        _kill_group(self.proc.pid, signal.SIGKILL)
        return self.finish(*_exit_status(self.proc.wait()))

    def finish(self, code: int, reason: str) -> int:
        if reason:
            write_atomic(self.job_dir / REASON_FILE, reason + "\n")
        write_atomic(self.job_dir / EXIT_CODE_FILE, f"{code}\n")
        return 0


def _exit_status(returncode: int) -> tuple[int, str]:
    if returncode >= 0:
        return returncode, ""
    signum = -returncode
    reason = "cpu time limit exceeded" if signum == signal.SIGXCPU else ""
    return 128 + signum, reason


def _kill_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="supervisor")
    parser.add_argument("--job-dir", type=Path, required=True)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--data-bytes", type=int, default=0)
    parser.add_argument("--cgroup", type=Path, action="append", default=[])
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.argv[:1] == ["--"]:
        args.argv = args.argv[1:]
    if not args.argv:
        parser.error("no trainer command after --")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    supervisor = Supervisor(args.job_dir, args.argv, Limits(args.cpu_seconds, args.data_bytes, tuple(args.cgroup)))
    # Before the fork: a stop() may signal the child as soon as the pid file exists.
    signal.signal(signal.SIGTERM, supervisor.on_sigterm)
    child = os.fork()
    if child:  # the parent: record who supervises, then leave so nobody must reap us
        ref = ref_of(child)  # the child cannot be reaped before we exit, so this is it
        assert ref is not None
        write_ref(args.job_dir / PID_FILE, ref)
        return 0
    code = supervisor.run()
    os._exit(code)  # never run the parent's atexit/cleanup twice


if __name__ == "__main__":
    sys.exit(main())
