"""Wire views of entities (what the API returns)."""

from __future__ import annotations

from typing import Any

from functions.domain.model import Checkpoint, Epoch, Job, Project, Task


def project_view(p: Project) -> dict[str, Any]:
    return p.model_dump(mode="json")


def task_view(t: Task) -> dict[str, Any]:
    return t.model_dump(mode="json")


def job_view(j: Job) -> dict[str, Any]:
    out = j.model_dump(mode="json", exclude={"version"})
    deadline = j.deadline_at
    out["deadline_at"] = deadline.isoformat() if deadline else None
    return out


def epoch_view(e: Epoch) -> dict[str, Any]:
    return e.model_dump(mode="json", exclude={"tenant", "job_id"})


def checkpoint_view(c: Checkpoint, *, pruned: bool = False) -> dict[str, Any]:
    """`pruned`: its object was deleted by the task's retention policy (the record stays)."""
    return {**c.model_dump(mode="json", exclude={"tenant", "job_id"}), "pruned": pruned}
