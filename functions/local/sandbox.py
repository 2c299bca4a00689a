"""Bubblewrap sandboxes for local trainers: no network, a read-only system, one writable dir.

`bwrap_wrap(...)` builds the `Wrap` LocalRuntime applies to each trainer's argv. Inside:

- namespaces: network (only a loopback of its own), pid, ipc, uts, cgroup, and a user
  namespace with every capability dropped (and, bwrap >= 0.8, no nested user namespace),
  so the trainer can neither mount nor remount what it was given;
- read-only: the root (an empty tmpfs), /usr (plus the /bin, /lib* links or dirs), a few
  /etc files Python and libc need, the platform's Python (venv and base interpreter), the
  SDK and the examples;
- private: /tmp (a size-capped tmpfs), /proc of its own pid namespace, a minimal /dev
  (plus the `devices` given: the GPUs' nodes);
- the trainer's code: the task's code directory (the user's project folder; the CLI sends
  its working directory) read-only at the same path, and the trainer starts there; a
  hidden path inside it stays hidden, and a directory holding $HOME, a system directory or
  one inside the state dir is refused (the job fails as start_failed);
- writable: the job's work dir only, at the same path as on the host (HOME and
  TRAINYARD_WORKDIR point there);
- the way out: the job's `egress/` dir (when the runner made one) read-only at
  /run/trainyard, holding the socket of the egress proxy (functions.local.egress);
  TRAINYARD_PLATFORM_UDS names it, so the SDK sends platform calls and pre-signed S3
  requests through it;
- hidden: `hidden` paths (the platform's state dir: token secret, other jobs' dirs, pid
  files) are covered by an empty tmpfs, in case a read-only path contains them; $HOME is
  never bound (only the interpreter's own prefix, if it lives there).

The environment is the one the runner built from scratch (PATH, LANG, HOME, the spec's
env); bwrap passes it through and adds TRAINYARD_PLATFORM_UDS.

Not given, on purpose or by bwrap's nature:
- RLIMIT_NPROC: the kernel never applies it to uid 0, so a root runner (CI containers)
  gets no limit at all; for other uids, set before bwrap it also counts every process the
  platform's user runs on the host, and set inside the sandbox it is per job only on
  kernels >= 5.14 (per user namespace counting). No number is safe everywhere, so none is
  set; memory and CPU time stay the runner's setrlimit limits, inherited through bwrap.
- SIGTERM grace: bwrap does not forward signals; a stop's SIGTERM ends bwrap and
  --die-with-parent then SIGKILLs the sandbox. The platform already recorded the outcome.
- A missing trainer program exits 1 with bwrap's "execvp" message, not 127.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import sdk
from functions.ports import CannotStart
from sdk.contracts.errors import PermanentError
from sdk.contracts.trainer_env import TrainerVar

log = logging.getLogger(__name__)


class Wrap(Protocol):
    """Turns a trainer's argv into the argv to execute (e.g. inside a sandbox)."""

    def __call__(self, argv: list[str], work_dir: Path, *, code_dir: Path | None = None) -> list[str]:
        """`work_dir`: the job's writable directory; `code_dir`: the trainer's code, shown read-only."""
        ...


SandboxMode = Literal["bwrap", "none", "auto"]
Probe = Callable[[Wrap], str | None]

EGRESS_DIR = "egress"  # next to the job's work dir: the runner's side of the channel
SANDBOX_CHANNEL = "/run/trainyard"  # where a sandboxed trainer finds that directory
SOCKET_NAME = "platform.sock"
SANDBOX_SOCKET = f"{SANDBOX_CHANNEL}/{SOCKET_NAME}"

_NAMESPACES = (
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--unshare-user",
    "--hostname",
    "trainer",
)
_HARDENING = ("--cap-drop", "ALL", "--die-with-parent", "--new-session")
_LINKED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # symlinks into /usr on merged-/usr systems
_ETC = (
    "alternatives",
    "group",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
)  # no shadow, no ssl keys, no machine-id
_MASK_BYTES = 1 << 20  # a hiding tmpfs holds nothing but mount points
_PROBE_TIMEOUT_S = 20.0
# Never a trainer's code directory: the host's configuration, kernel and device files, secrets.
_SYSTEM_DIRS = tuple(Path(p) for p in ("/etc", "/proc", "/sys", "/dev", "/boot", "/run"))


class Egress(Protocol):
    """The host side of sandboxed trainers' channel out (functions.local.egress.EgressProxy)."""

    def open(self, job_id: str, directory: Path) -> None:
        """Serve `job_id`'s trainer on a socket in `directory` (replacing a stale one)."""

    def close(self, job_id: str) -> None:
        """Stop serving `job_id`; nothing happens if it was not served."""


def no_sandbox(argv: list[str], work_dir: Path, *, code_dir: Path | None = None) -> list[str]:
    """The default `wrap`: run the trainer as it is."""
    return argv


def default_read_only(*extra: Path) -> list[Path]:
    """What a trainer needs to run the platform's Python and the SDK, plus `extra`.

    The venv and its base interpreter, the SDK package (an editable install points there)
    and the project's examples when present. Never the project root: the default state
    dir (.trainyard) lives in it.
    """
    sdk_dir = Path(sdk.__file__).resolve().parent
    found = [Path(sys.prefix), Path(sys.base_prefix), sdk_dir, sdk_dir.parent / "examples", *extra]
    unique: list[Path] = []
    for path in found:
        if path.exists() and path not in unique:
            unique.append(path)
    return unique


def default_devices() -> list[Path]:
    """The NVIDIA device nodes of this machine, for GPU trainers (none on most machines)."""
    return sorted(Path("/dev").glob("nvidia*"))


def bwrap_wrap(
    *,
    read_only: Sequence[Path],
    hidden: Sequence[Path] = (),
    devices: Sequence[Path] = (),
    bwrap: str = "bwrap",
    tmp_size_mb: int = 512,
    root: Path = Path("/"),
    features: frozenset[str] | None = None,
) -> Wrap:
    """A Wrap running each trainer in a bubblewrap sandbox (see the module docstring).

    `read_only` paths must exist and must not lie inside a `hidden` one; `devices` are
    device nodes passed through (GPUs). `root` is where the system directories are looked
    up (tests point it elsewhere). `features`: the options this bwrap knows (default: read
    from `bwrap --help`); --disable-userns (0.8) and --size (0.7) are used only where
    present, so an older bwrap still sandboxes.
    """
    _check_paths(read_only, hidden)
    known = _features(bwrap) if features is None else features
    optional = ["--disable-userns"] if "--disable-userns" in known else []

    def tmpfs(path: str, size: int) -> list[str]:
        return ["--size", str(size), "--tmpfs", path] if "--size" in known else ["--tmpfs", path]

    fixed = [
        *_NAMESPACES,
        *optional,
        *_HARDENING,
        *_system_args(root),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *_binds("--dev-bind", devices),
        *tmpfs("/tmp", tmp_size_mb << 20),
        *_binds("--ro-bind", read_only),
        *(arg for path in hidden for arg in tmpfs(str(path), _MASK_BYTES)),
    ]

    def wrap(argv: list[str], work_dir: Path, *, code_dir: Path | None = None) -> list[str]:
        code = [] if code_dir is None else _code_args(code_dir, hidden, tmpfs)
        return [bwrap, *fixed, *code, *_job_args(work_dir, chdir=code_dir), "--", *argv]

    return wrap


def probe(wrap: Wrap, *, python: str = sys.executable) -> str | None:
    """None if `wrap` can run the platform's Python here; otherwise why it cannot."""
    with tempfile.TemporaryDirectory(prefix="trainyard-sandbox-probe-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        argv = wrap([python, "-c", "pass"], work)
        try:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_PROBE_TIMEOUT_S, check=False
            )
        except FileNotFoundError:
            return f"{argv[0]!r} is not installed (apt-get install bubblewrap)"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{argv[0]!r} could not run: {exc}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()[-300:]
        return f"a trial sandbox failed (exit {done.returncode}): {detail or 'no message'}"
    return None


def select_wrap(
    mode: SandboxMode,
    *,
    read_only: Sequence[Path],
    hidden: Sequence[Path] = (),
    devices: Sequence[Path] = (),
    check: Probe = probe,
    bwrap: str = "bwrap",
) -> Wrap | None:
    """The sandbox TRAINYARD_SANDBOX asks for: a Wrap, or None to run trainers unsandboxed.

    "bwrap": bubblewrap or refuse to start (PermanentError); "auto": bubblewrap when a
    trial sandbox works, else a loud warning and no sandbox; "none": no sandbox, warned.
    """
    if mode == "none":
        log.warning(
            "trainer sandbox disabled (TRAINYARD_SANDBOX=none): trainers run with the platform's "
            "network and can read what its user can read"
        )
        return None
    wrap = bwrap_wrap(read_only=read_only, hidden=hidden, devices=devices, bwrap=bwrap)
    problem = check(wrap)
    if problem is None:
        log.info("trainers run in a bubblewrap sandbox (no network, read-only system)")
        return wrap
    if mode == "bwrap":
        raise PermanentError(f"TRAINYARD_SANDBOX=bwrap, but bubblewrap cannot sandbox trainers here: {problem}")
    log.warning(
        "bubblewrap cannot sandbox trainers here (%s): trainers run UNSANDBOXED, with the platform's "
        "network and files. Install bubblewrap, or set TRAINYARD_SANDBOX=none to accept this "
        "(TRAINYARD_SANDBOX=bwrap refuses to start instead)",
        problem,
    )
    return None


def _features(bwrap: str) -> frozenset[str]:
    """The long options `bwrap --help` lists; empty if it cannot run (the probe says why)."""
    try:
        done = subprocess.run([bwrap, "--help"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    text = (done.stdout + done.stderr).decode(errors="replace")
    return frozenset(word for word in text.split() if word.startswith("--"))


def _check_paths(read_only: Sequence[Path], hidden: Sequence[Path]) -> None:
    missing = [str(p) for p in read_only if not p.exists()]
    if missing:
        raise ValueError(f"sandbox read-only paths do not exist: {missing}")
    masked = [str(p) for p in read_only for h in hidden if p.resolve().is_relative_to(h.resolve())]
    if masked:
        raise ValueError(f"sandbox read-only paths lie inside a hidden one: {masked}")


def _system_args(root: Path) -> list[str]:
    args = ["--ro-bind", str(root / "usr"), "/usr"]
    for name in _LINKED:
        path = root / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    for name in _ETC:
        if (root / "etc" / name).exists():
            args += ["--ro-bind", str(root / "etc" / name), f"/etc/{name}"]
    return args


def _binds(flag: str, paths: Sequence[Path]) -> list[str]:
    return [arg for path in paths for arg in (flag, str(path), str(path))]


def _code_args(code_dir: Path, hidden: Sequence[Path], tmpfs: Callable[[str, int], list[str]]) -> list[str]:
    """Bind the trainer's code directory read-only at its own path; what it holds of a hidden
    path (the platform's state dir usually lives in the user's project) stays hidden."""
    code = code_dir.resolve()
    problem = exposure_problem(code, hidden)
    if problem:
        raise CannotStart(problem)
    masks = [arg for h in hidden if h.resolve().is_relative_to(code) for arg in tmpfs(str(h.resolve()), _MASK_BYTES)]
    return ["--ro-bind", str(code), str(code), *masks]


def exposure_problem(code: Path, hidden: Sequence[Path], *, home: Path | None = None) -> str | None:
    """Why a sandbox must not show `code` (resolved) to a trainer, or None if it may."""
    if any(code.is_relative_to(h.resolve()) for h in hidden):
        return f"code_dir {code} lies inside the platform's state directory, which trainers never see"
    home_dir = (home or Path.home()).resolve()
    if home_dir.is_relative_to(code):
        return f"code_dir {code} is too broad: it holds the home directory {home_dir} (keys, credentials)"
    for system_dir in _SYSTEM_DIRS:
        if code.is_relative_to(system_dir):
            return f"code_dir {code} is a system directory ({system_dir}), not a trainer's code"
    return None


def _job_args(work_dir: Path, *, chdir: Path | None = None) -> list[str]:
    work = str(work_dir.absolute())
    args = ["--bind", work, work]
    channel = work_dir.parent / EGRESS_DIR
    if channel.is_dir():  # no channel, no way out at all: the safe default
        args += [
            "--ro-bind",
            str(channel.absolute()),
            SANDBOX_CHANNEL,
            "--setenv",
            TrainerVar.PLATFORM_UDS.value,
            SANDBOX_SOCKET,
        ]
    # Last: bwrap's root is a writable tmpfs until now; the mounts on it keep their own modes.
    return [*args, "--remount-ro", "/", "--chdir", str(chdir.resolve()) if chdir is not None else work]
