"""Job runtimes: where one attempt of a task runs (a local subprocess, a Kubernetes Job).

Every runtime implements `functions.ports.JobRuntime` with the same semantics, so the
core never knows which one it talks to. What they share lives here: spec validation,
the "runner lost" reason and the cap on the logs a runtime hands back.
"""

from __future__ import annotations

import re

from functions.ports import LaunchSpec
from sdk.contracts.errors import Problem, ValidationError

RUNNER_LOST = "runner lost"  # reason of an EXITED job whose runner vanished without an exit code
LOG_CAP_BYTES = 1024 * 1024  # logs() returns at most the last MiB: callers store or show it whole

# A job id names a directory (local) or a Kubernetes object, so it must be a plain label.
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def valid_job_id(job_id: str) -> bool:
    """A job id safe to use as a path component and a label value."""
    return bool(_JOB_ID.match(job_id)) and job_id not in {".", ".."}


def validate_spec(spec: LaunchSpec) -> None:
    """Every problem with a launch spec, raised once as ValidationError."""
    problems: list[Problem] = []
    if not valid_job_id(spec.job_id):
        problems.append(Problem("job_id", "must be 1-128 letters, digits, '.', '_' or '-'"))
    if not spec.command or not spec.command[0]:
        problems.append(Problem("command", "must name a program to run"))
    if any("\0" in part for part in [*spec.command, *spec.args]):
        problems.append(Problem("command", "must not contain NUL characters"))
    for name, value in spec.env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            problems.append(Problem(f"env.{name}", "names need no '=' or NUL, values no NUL"))
    if spec.ttl_s <= 0 or spec.cpu <= 0 or spec.memory_mb <= 0 or spec.gpu < 0:
        problems.append(Problem("resources", "ttl_s, cpu and memory_mb must be positive, gpu >= 0"))
    if problems:
        raise ValidationError(problems)


def tail(data: bytes, limit: int = LOG_CAP_BYTES) -> bytes:
    """The last `limit` bytes of `data`."""
    return data[-limit:] if len(data) > limit else data
