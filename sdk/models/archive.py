"""Checkpoints and model archives: two tar.gz layouts, packed deterministically, read safely.

A CHECKPOINT is what a trainer uploads (``Trainer.checkpoint(n, path, metrics)``)::

    model.json   {"format_version": 1, "kind": "intent"|"vision", "labels": [...], "config": {...}}
    weights.pt   torch.save(state_dict) of the model head

A MODEL ARCHIVE is what the platform publishes from a checkpoint and the predictor serves:
the same two members, with ``model.json`` extended by ``created_from`` (``{"job_id",
"epoch"}``) and ``weights_sha256``. Packing is byte-for-byte deterministic (sorted members,
zeroed times and owners, gzip mtime 0), so publishing the same checkpoint twice yields the
same sha256. Nothing here imports torch: the platform packs archives without it.

Reading never trusts the tar: only regular files named ``model.json`` / ``weights.pt`` are
accepted, and absolute paths, ``..``, links, devices, too many members and oversized
members are refused (`UnsafeArchive`) before a byte is written anywhere.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from sdk.contracts.errors import Problem, ValidationError

FORMAT_VERSION = 1
KINDS = ("intent", "vision")
MANIFEST = "model.json"
WEIGHTS = "weights.pt"
MEMBERS = (MANIFEST, WEIGHTS)
_CHUNK = 1 << 16
_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


class UnsafeArchive(ValidationError):
    """The tar is malformed, malicious or too large; nothing from it was written."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem(field="archive", message=message)])


@dataclass(frozen=True)
class Limits:
    """Bounds that make archive bombs and oversized uploads fail fast."""

    max_members: int = 8
    max_manifest_bytes: int = 1 << 20
    max_weights_bytes: int = 64 << 20


@dataclass(frozen=True)
class Manifest:
    """The parsed ``model.json``; `created_from`/`weights_sha256` are empty for a checkpoint."""

    kind: str
    labels: tuple[str, ...]
    config: Mapping[str, Any]
    format_version: int = FORMAT_VERSION
    created_from: Mapping[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format_version": self.format_version,
            "kind": self.kind,
            "labels": list(self.labels),
            "config": dict(self.config),
        }
        if self.created_from:
            body["created_from"] = dict(self.created_from)
        if self.weights_sha256:
            body["weights_sha256"] = self.weights_sha256
        return body

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnsafeArchive(f"{MANIFEST} is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise UnsafeArchive(f"{MANIFEST} must be an object")
        return validate_manifest(body)


def validate_manifest(body: Mapping[str, Any]) -> Manifest:
    """Check every field of a manifest; raise ValidationError listing all problems."""
    problems: list[Problem] = []
    if body.get("format_version") != FORMAT_VERSION:
        problems.append(Problem("format_version", f"must be {FORMAT_VERSION}, got {body.get('format_version')!r}"))
    if body.get("kind") not in KINDS:
        problems.append(Problem("kind", f"must be one of {KINDS}, got {body.get('kind')!r}"))
    labels = body.get("labels")
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x for x in labels)):
        problems.append(Problem("labels", "must be a list of at least two non-empty strings"))
    elif len(set(labels)) != len(labels):
        problems.append(Problem("labels", "must be distinct"))
    for key in ("config", "created_from"):
        if not isinstance(body.get(key, {}), dict):
            problems.append(Problem(key, "must be an object"))
    if "config" not in body:
        problems.append(Problem("config", "is required"))
    if problems:
        raise ValidationError(problems)
    return Manifest(
        kind=body["kind"],
        labels=tuple(body["labels"]),
        config=body["config"],
        created_from=body.get("created_from", {}),
        weights_sha256=str(body.get("weights_sha256", "")),
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- packing ---------------------------------------------------------------------------------


def _pack(manifest: Manifest, weights: bytes) -> bytes:
    manifest_bytes = json.dumps(manifest.to_json(), sort_keys=True, separators=(",", ":")).encode()
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything that varies between runs.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name, data in ((MANIFEST, manifest_bytes), (WEIGHTS, weights)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pack_checkpoint(*, weights: bytes, labels: list[str], kind: str, config: dict[str, Any]) -> bytes:
    """The bytes a trainer uploads as a checkpoint (`weights` = torch.save(state_dict)).

    Example::

        blob = pack_checkpoint(weights=buf.getvalue(), labels=["a", "b"], kind="intent", config=cfg)
    """
    manifest = validate_manifest({"format_version": FORMAT_VERSION, "kind": kind, "labels": labels, "config": config})
    return _pack(manifest, weights)


def pack_archive(
    *, weights: bytes, labels: list[str], kind: str, config: dict[str, Any], created_from: dict[str, Any]
) -> bytes:
    """A model archive (deterministic tar.gz) for `weights` = torch.save(state_dict) bytes.

    Example::

        blob = pack_archive(weights=w, labels=labels, kind="intent", config=cfg,
                            created_from={"job_id": "j-1", "epoch": 3})
    """
    body = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "labels": labels,
        "config": config,
        "created_from": created_from,
        "weights_sha256": sha256_hex(weights),
    }
    return _pack(validate_manifest(body), weights)


def archive_from_checkpoint(checkpoint_bytes: bytes, *, created_from: dict[str, Any]) -> tuple[bytes, str]:
    """Publish a checkpoint: the model archive bytes and their sha256 (hex).

    Raises ValidationError (UnsafeArchive included) when the checkpoint is not one.

    Example::

        archive, sha = archive_from_checkpoint(blob, created_from={"job_id": "j-1", "epoch": 3})
    """
    members = read_members(checkpoint_bytes)
    manifest = Manifest.parse(members[MANIFEST])
    archive = pack_archive(
        weights=members[WEIGHTS],
        labels=list(manifest.labels),
        kind=manifest.kind,
        config=dict(manifest.config),
        created_from=created_from,
    )
    return archive, sha256_hex(archive)


# -- reading ---------------------------------------------------------------------------------


def check_member(info: tarfile.TarInfo, limits: Limits) -> None:
    """Refuse anything but a plain, known, bounded file at the archive root."""
    name = info.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"absolute member path {name!r}")
    if ".." in path.parts or "\\" in name:
        raise UnsafeArchive(f"member path {name!r} escapes the archive root")
    if info.issym() or info.islnk():
        raise UnsafeArchive(f"member {name!r} is a link")
    if info.isdev() or info.isfifo():
        raise UnsafeArchive(f"member {name!r} is a device or fifo")
    if not info.isfile():
        raise UnsafeArchive(f"member {name!r} is not a regular file")
    if name not in MEMBERS:
        raise UnsafeArchive(f"unexpected member {name!r} (allowed: {', '.join(MEMBERS)})")
    limit = limits.max_manifest_bytes if name == MANIFEST else limits.max_weights_bytes
    if info.size > limit:
        raise UnsafeArchive(f"member {name!r} is {info.size} bytes, over the {limit}-byte limit")


def _iter_checked(tar: tarfile.TarFile, limits: Limits) -> Iterator[tarfile.TarInfo]:
    seen: set[str] = set()
    for count, info in enumerate(tar, start=1):
        if count > limits.max_members:
            raise UnsafeArchive(f"more than {limits.max_members} members")
        check_member(info, limits)
        if info.name in seen:
            raise UnsafeArchive(f"duplicate member {info.name!r}")
        seen.add(info.name)
        yield info
    missing = [m for m in MEMBERS if m not in seen]
    if missing:
        raise UnsafeArchive(f"missing member(s): {', '.join(missing)}")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded(io.RawIOBase):
    """Decompressed bytes, refused past `limit`: tar headers (long names, pax records) are
    read by tarfile before we see a member, so the stream itself must be bounded."""

    def __init__(self, inner: _Readable, limit: int) -> None:
        self._inner = inner
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(min(len(buffer), self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise UnsafeArchive("archive expands past its size limit")
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def _checked_stream(fileobj: IO[bytes], limits: Limits) -> Iterator[Iterator[tuple[tarfile.TarInfo, IO[bytes]]]]:
    """Checked (member, data) pairs, read sequentially; third-party errors become UnsafeArchive."""
    budget = limits.max_manifest_bytes + limits.max_weights_bytes + limits.max_members * 4 * tarfile.BLOCKSIZE
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as gz:
            stream: IO[bytes] = io.BufferedReader(_Bounded(gz, budget))
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                yield ((info, _data(tar, info)) for info in _iter_checked(tar, limits))
    except _TAR_ERRORS as exc:
        raise UnsafeArchive(f"cannot read archive: {exc}") from exc


def _data(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    src = tar.extractfile(info)
    if src is None:  # pragma: no cover - regular files always have data
        raise UnsafeArchive(f"member {info.name!r} has no data")
    return src


def read_members(data: bytes, *, limits: Limits | None = None) -> dict[str, bytes]:
    """The checked members of an in-memory archive or checkpoint."""
    with _checked_stream(io.BytesIO(data), limits or Limits()) as members:
        return {info.name: src.read(info.size) for info, src in members}


def read_archive_manifest(archive: bytes | Path, *, limits: Limits | None = None) -> Manifest:
    """The manifest of an archive (bytes or a path), after the same safety checks as extraction."""
    data = archive.read_bytes() if isinstance(archive, Path) else archive
    members = read_members(data, limits=limits)
    manifest = Manifest.parse(members[MANIFEST])
    if manifest.weights_sha256 and manifest.weights_sha256 != sha256_hex(members[WEIGHTS]):
        raise UnsafeArchive(f"{WEIGHTS} does not match weights_sha256 in {MANIFEST}")
    return manifest


def safe_extract(archive: Path, dest: Path, *, limits: Limits | None = None) -> Manifest:
    """Extract a model archive into the NEW directory `dest`; return its manifest.

    A first pass checks every member header before anything is written; the second
    creates files exclusively, without following links, copying no more than each
    header announced. On any error `dest` is removed, so nothing partial is left behind.
    """
    limits = limits or Limits()
    with archive.open("rb") as f, _checked_stream(f, limits) as members:
        for _ in members:
            pass
    dest.mkdir(parents=False, exist_ok=False)
    try:
        with archive.open("rb") as f, _checked_stream(f, limits) as members:
            for info, src in members:
                _write_member(info, src, dest)
        return read_extracted_manifest(dest)
    except BaseException:
        _remove_tree(dest)
        raise


def read_extracted_manifest(directory: Path) -> Manifest:
    manifest = Manifest.parse((directory / MANIFEST).read_bytes())
    if manifest.weights_sha256:
        with (directory / WEIGHTS).open("rb") as f:
            if hashlib.file_digest(f, "sha256").hexdigest() != manifest.weights_sha256:
                raise UnsafeArchive(f"{WEIGHTS} does not match weights_sha256 in {MANIFEST}")
    return manifest


def _write_member(info: tarfile.TarInfo, src: IO[bytes], dest: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(dest / info.name, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        remaining = info.size
        while remaining > 0:
            chunk = src.read(min(_CHUNK, remaining))
            if not chunk:
                raise UnsafeArchive(f"member {info.name!r} is truncated")
            out.write(chunk)
            remaining -= len(chunk)


def _remove_tree(path: Path) -> None:
    for child in path.iterdir() if path.exists() else ():
        child.unlink(missing_ok=True)
    path.rmdir()
