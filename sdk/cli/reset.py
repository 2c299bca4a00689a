"""`trainyard reset`: empty the local platform's state directory, to start clean.

    trainyard reset                     # shows what it would delete and asks
    trainyard reset --state-dir ~/ty --yes

It deletes everything the local platform keeps there: projects, tasks, jobs and their
epochs and checkpoints, grants, the audit trail (state/), datasets, checkpoints, models
and logs (blobs/), trainers' folders (runner/), the installation's secret, S3 keys and
tokens. It refuses while a platform runs on that directory (the platform holds a lock on
state/lock for as long as it lives) and refuses a directory that is not a state directory.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from sdk.contracts.errors import TrainyardError

# functions.store.journal.LOCK_FILE in the state subdirectory (the SDK imports nothing of functions).
LOCK = Path("state") / "lock"
# What `trainyard up` makes in a state directory; one of them must be there before we delete anything.
MARKERS = ("state", "blobs", "runner", "secret", "local.json")


def size_of(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and not p.is_symlink())


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_idle(state_dir: Path) -> None:
    """Raise if a platform holds the state directory's lock."""
    lock = state_dir / LOCK
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise TrainyardError(f"a trainyard platform is running on {state_dir}; stop it first") from None
    finally:
        os.close(fd)


def reset(
    state_dir: Annotated[Path, typer.Option(help="The local platform's state directory.")] = Path(".trainyard"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete everything the local platform keeps in STATE_DIR (asks first)."""
    state_dir = state_dir.resolve()
    if not state_dir.is_dir():
        typer.echo(f"nothing to reset: {state_dir} does not exist")
        return
    if not any((state_dir / m).exists() for m in MARKERS):
        raise TrainyardError(
            f"{state_dir} does not look like a trainyard state directory "
            f"(none of {', '.join(MARKERS)} is there); nothing deleted"
        )
    check_idle(state_dir)
    typer.echo(
        f"This deletes {state_dir} ({human(size_of(state_dir))}): every project, task, job, "
        "metric, checkpoint, dataset, model, log, grant and audit record of the local platform, "
        "and its secret and tokens."
    )
    if not yes and not typer.confirm("Delete it all?", default=False):
        raise typer.Exit(1)
    check_idle(state_dir)  # a platform may have started while we asked
    shutil.rmtree(state_dir)
    typer.echo(f"reset: {state_dir} removed; `trainyard up` starts clean")
