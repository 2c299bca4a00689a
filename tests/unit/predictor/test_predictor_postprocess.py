from __future__ import annotations

import math

import numpy as np
import pytest

from predictor.inference.postprocess import rank, softmax


def test_rank_sorts_by_probability_descending() -> None:
    ranked = rank(["a", "b", "c"], np.array([0.1, 3.0, -2.0], dtype=np.float32))
    assert [label for label, _ in ranked] == ["b", "a", "c"]
    probs = [p for _, p in ranked]
    assert probs == sorted(probs, reverse=True)
    assert math.isclose(sum(probs), 1.0, abs_tol=1e-12)


def test_softmax_is_stable_for_huge_logits() -> None:
    probs = softmax(np.array([1000.0, 1000.0, -1000.0]))
    assert np.allclose(probs, [0.5, 0.5, 0.0])


def test_ties_keep_label_order() -> None:
    assert [label for label, _ in rank(["x", "y", "z"], np.zeros(3))] == ["x", "y", "z"]


def test_label_count_must_match() -> None:
    with pytest.raises(ValueError, match="2 labels for 3 logits"):
        rank(["a", "b"], np.zeros(3))
