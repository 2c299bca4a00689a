"""Checkpoint retention as a pure function: what each policy keeps, never a published one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.domain.model import Checkpoint
from functions.domain.retention import kept, to_prune
from sdk.contracts.specs import RetentionPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ckpts(losses: list[float]) -> list[Checkpoint]:
    return [
        Checkpoint(job_id="j", tenant="acme", epoch=n, key=f"k{n}", metrics={"val_loss": loss}, reported_at=T0)
        for n, loss in enumerate(losses, start=1)
    ]


def test_default_keeps_the_five_latest() -> None:
    assert to_prune(ckpts([1.0] * 8), RetentionPolicy(), published=(), already=()) == [1, 2, 3]


def test_best_k_by_a_loss_metric_keeps_the_lowest_and_the_newest() -> None:
    policy = RetentionPolicy(keep_latest=None, keep_best=2, metric="val_loss")
    assert kept(ckpts([0.9, 0.1, 0.5, 0.2, 0.8]), policy) == {2, 4, 5}


def test_best_k_with_explicit_max_mode() -> None:
    policy = RetentionPolicy(keep_latest=1, keep_best=1, metric="val_loss", mode="max")
    assert kept(ckpts([0.9, 0.1, 0.5]), policy) == {1, 3}


def test_keep_all_prunes_nothing() -> None:
    assert to_prune(ckpts([1.0] * 50), RetentionPolicy.keep_all(), published=(), already=()) == []


def test_published_and_already_pruned_epochs_are_never_named() -> None:
    policy = RetentionPolicy(keep_latest=1)
    assert to_prune(ckpts([1.0] * 5), policy, published={2}, already={1}) == [3, 4]


def test_a_policy_that_keeps_nothing_or_ranks_by_nothing_is_refused() -> None:
    with pytest.raises(ValidationError, match="keeps no checkpoint"):
        RetentionPolicy(keep_latest=0)
    with pytest.raises(ValidationError, match="needs a metric"):
        RetentionPolicy(keep_best=2)


@given(
    losses=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=40),
    latest=st.integers(1, 10),
    best=st.integers(0, 5),
)
def test_bounded_and_always_keeps_the_newest(losses: list[float], latest: int, best: int) -> None:
    policy = RetentionPolicy(keep_latest=latest, keep_best=best, metric="val_loss" if best else None)
    keep = kept(ckpts(losses), policy)
    assert len(losses) in keep
    assert len(keep) <= latest + best
    assert min(range(1, len(losses) + 1), key=lambda n: (losses[n - 1], -n)) in keep or best == 0
