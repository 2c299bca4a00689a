"""Checkpoint retention: which of a job's checkpoints a task's policy lets go.

Pure: given the checkpoints, the policy and the epochs that published models came from,
it names the epochs to delete. The newest checkpoint is always kept (a running trainer
may still be uploading the next one and users expect "the latest" to exist).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from functions.domain.model import Checkpoint
from functions.domain.registry import lower_is_better
from sdk.contracts.specs import RetentionPolicy


def kept(checkpoints: Sequence[Checkpoint], policy: RetentionPolicy) -> set[int]:
    """The epochs the policy keeps (before protecting published ones)."""
    epochs = sorted({c.epoch for c in checkpoints})
    if not epochs or policy.keeps_all:
        return set(epochs)
    keep = {epochs[-1]}
    if policy.keep_latest:
        keep.update(epochs[-policy.keep_latest :])
    if policy.keep_best and policy.metric is not None:
        keep.update(_best(checkpoints, policy))
    return keep


def _best(checkpoints: Sequence[Checkpoint], policy: RetentionPolicy) -> list[int]:
    metric = policy.metric
    assert metric is not None
    scored = [c for c in checkpoints if metric in c.metrics]
    lowest = policy.mode == "min" or (policy.mode is None and lower_is_better(metric))
    ranked = sorted(scored, key=lambda c: (c.metrics[metric] if lowest else -c.metrics[metric], -c.epoch))
    return [c.epoch for c in ranked[: policy.keep_best]]


def to_prune(
    checkpoints: Sequence[Checkpoint], policy: RetentionPolicy, *, published: Collection[int], already: Collection[int]
) -> list[int]:
    """Epochs whose checkpoint should now be deleted: not kept, not published, not yet pruned."""
    keep = kept(checkpoints, policy) | set(published)
    return sorted({c.epoch for c in checkpoints} - keep - set(already))
