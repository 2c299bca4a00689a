"""Published models: an immutable archive made from one checkpoint of one job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from functions.domain.model import Checkpoint
from sdk.contracts.errors import Conflict, NotFound

_LOWER_IS_BETTER = ("loss", "error", "perplexity", "mse", "mae")


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in _LOWER_IS_BETTER)


class PublishedModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    tenant: str
    name: str
    kind: str
    labels: tuple[str, ...]
    project_id: str
    task_id: str
    job_id: str
    epoch: int
    metrics: dict[str, float]
    archive_key: str
    sha256: str
    size_bytes: int
    created_at: datetime
    active: bool = True


def choose_checkpoint(
    checkpoints: Sequence[Checkpoint],
    *,
    job_id: str,
    epoch: int | None = None,
    metric: str | None = None,
    mode: Literal["max", "min"] | None = None,
) -> Checkpoint:
    """The checkpoint of `epoch`, or the best by `metric` (min for loss-like names unless
    `mode` says), or the latest one."""
    if not checkpoints:
        raise Conflict(f"job {job_id} has no checkpoints to publish")
    if epoch is not None:
        for c in checkpoints:
            if c.epoch == epoch:
                return c
        raise NotFound("checkpoint", f"{job_id}@{epoch}")
    if metric is None:
        return max(checkpoints, key=lambda c: c.epoch)
    scored = [c for c in checkpoints if metric in c.metrics]
    if not scored:
        raise Conflict(f"no checkpoint of job {job_id} reports metric {metric!r}")
    lowest = mode == "min" or (mode is None and lower_is_better(metric))
    return (min if lowest else max)(scored, key=lambda c: (c.metrics[metric], -c.epoch if lowest else c.epoch))
