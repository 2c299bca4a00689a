"""A code directory's content hash, for the record of what a local command ran.

sha256 over a deterministic walk: directories and files in byte order of their names,
each file as (kind, relative POSIX path, size, bytes), each symbolic link as its target
text (never followed: a link out of the folder is named, not read). Version-control,
cache and environment folders are left out (`IGNORED`), so `git status` or a fresh
`__pycache__` do not change the hash. The walk stops at `max_bytes`/`max_files`: a code
directory holding data sets is refused a hash, with the reason, rather than read whole.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from functions.domain.runs import CodeDigest, RunRecord
from functions.ports import CannotStart, LaunchSpec

IGNORED = frozenset({".git", "__pycache__", ".venv", ".trainyard", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
MAX_BYTES = 256 * 1024 * 1024  # a code folder, not a data set: hashing 256 MiB takes about a second
MAX_FILES = 20_000
_CHUNK = 1024 * 1024


class _TooBig(Exception):
    pass


def code_digest(root: Path, *, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> CodeDigest:
    """The content hash of the folder `root` (see the module's docstring)."""
    h = hashlib.sha256()
    counts = [0, 0]  # files, bytes
    try:
        _walk(root, "", h, counts, max_bytes=max_bytes, max_files=max_files)
    except _TooBig as exc:
        reason = (
            f"the code dir {root} holds more than {max_files} files or {max_bytes // (1024 * 1024)} MiB "
            f"(reached at {exc}): not hashed; keep data sets out of it (upload them as datasets)"
        )
        return CodeDigest(files=counts[0], size_bytes=counts[1], unhashed=reason)
    except OSError as exc:
        return CodeDigest(files=counts[0], size_bytes=counts[1], unhashed=f"cannot read the code dir {root}: {exc}")
    return CodeDigest(sha256=h.hexdigest(), files=counts[0], size_bytes=counts[1])


def _walk(folder: Path, rel: str, h: hashlib._Hash, counts: list[int], *, max_bytes: int, max_files: int) -> None:
    with os.scandir(folder) as entries:
        ordered = sorted(entries, key=lambda e: os.fsencode(e.name))
    for entry in ordered:
        if entry.name in IGNORED:
            continue
        path = f"{rel}{entry.name}"
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            h.update(b"L\0" + os.fsencode(path) + b"\0" + os.fsencode(os.readlink(entry.path)) + b"\0")
        elif stat.S_ISDIR(info.st_mode):
            h.update(b"D\0" + os.fsencode(path) + b"\0")
            _walk(Path(entry.path), path + "/", h, counts, max_bytes=max_bytes, max_files=max_files)
        elif stat.S_ISREG(info.st_mode):
            counts[0] += 1
            counts[1] += info.st_size
            if counts[0] > max_files or counts[1] > max_bytes:
                raise _TooBig(path)
            h.update(b"F\0" + os.fsencode(path) + b"\0" + info.st_size.to_bytes(8, "big"))
            _file(entry.path, h)


def _file(path: str, h: hashlib._Hash) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)


def launch_record(spec: LaunchSpec, code_dir: Path | None) -> RunRecord:
    """What a local runtime starts for `spec` (run in `code_dir`, resolved): the argv and the code
    directory's digest. CannotStart if the spec pins a code digest the folder no longer has."""
    record = RunRecord(command=[*spec.command, *spec.args], image=spec.image or None)
    if code_dir is None:
        return record
    digest = code_digest(code_dir)
    if spec.code_sha256 is not None and digest.sha256 != spec.code_sha256:
        now = digest.sha256 or f"not hashed ({digest.unhashed})"
        raise CannotStart(
            f"code_dir {code_dir} changed since the run this task re-runs: its content sha256 is now "
            f"{now}, it was {spec.code_sha256} (re-run with allow_code_change to run it anyway)"
        )
    return record.model_copy(update={"code_dir": str(code_dir), "code": digest})
