"""What one attempt ran, as the platform recorded it (never as the trainer said).

A `RunRecord` lives on each Job and is filled by the platform's own components only:
- at launch, by the runtime: the command as launched and, in local mode, a content hash of
  the code directory (`CodeDigest`), or the image reference the Kubernetes Job names;
- by the sweep, from the cluster: the image digest of the pod's container (`imageID`);
- at each dataset URL issued to the trainer: the object's key, size and content sha256.

The trainer's own word (its seed, in the job's metadata) is kept apart, labelled as reported.
A `Pin` on a task says which earlier run it re-runs, and what must not have changed since.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CodeDigest(_Value):
    """A code directory's content hash: sha256 over its files' relative paths and bytes, in a
    deterministic order (`.git`, `__pycache__`, `.venv` and `.trainyard` left out). `sha256` is
    None when it was not hashed, and `unhashed` says why (too big, unreadable)."""

    sha256: str | None = None
    files: int = 0
    size_bytes: int = 0
    unhashed: str = ""


class DatasetRecord(_Value):
    """A dataset object the job was granted, at the moment its URL was issued."""

    key: str
    sha256: str
    size_bytes: int
    version: int | None = None  # the dataset version it read (each upload of a name is a new version)
    granted_at: datetime


class RunRecord(_Value):
    image: str | None = None  # as the task named it (Kubernetes)
    image_id: str | None = None  # the pod container's imageID, as the cluster reported it
    command: list[str] = Field(default_factory=list)  # the argv launched (command + args)
    code_dir: str | None = None  # local mode: where the command ran
    code: CodeDigest | None = None  # local mode: the code directory at launch
    datasets: dict[str, DatasetRecord] = Field(default_factory=dict)

    @property
    def image_digest(self) -> str | None:
        """`sha256:<hex>` of the image that ran, once the cluster reported it."""
        return image_digest(self.image_id or "")

    def with_dataset(self, name: str, record: DatasetRecord) -> RunRecord:
        return self.model_copy(update={"datasets": {**self.datasets, name: record}})


class Pin(_Value):
    """What a re-run task must run again: the image by digest (written into its spec) and,
    in local mode, the code directory's content as it was (checked at launch)."""

    job_id: str  # the attempt whose record is re-run
    image_digest: str | None = None
    code_sha256: str | None = None
    allow_code_change: bool = False  # run even if the code directory changed (the record shows it)


def image_digest(image_id: str) -> str | None:
    """The `sha256:<hex>` in an imageID (`docker.io/x@sha256:…`, `docker-pullable://x@sha256:…`,
    `sha256:…`), or None if it holds none."""
    found = _DIGEST.findall(image_id)
    return found[-1] if found else None


def pinned_image(image: str, digest: str) -> str:
    """The task's image reference pinned to `digest`: `repo[:tag][@old]` -> `repo@digest`."""
    repo = image.split("@", 1)[0]
    slash = repo.rfind("/")
    colon = repo.rfind(":")
    if colon > slash:  # a tag, not a registry port
        repo = repo[:colon]
    return f"{repo}@{digest}"
