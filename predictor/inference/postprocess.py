"""Logits -> (label, probability) pairs, highest first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from predictor.ranking import Ranked


def softmax(logits: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Numerically stable softmax in float64 (the shift keeps exp() from overflowing)."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    result: npt.NDArray[np.float64] = e / e.sum()
    return result


def rank(labels: Sequence[str], logits: npt.NDArray[np.floating]) -> Ranked:
    """Every label with its probability, sorted by probability descending (ties: label order)."""
    if len(labels) != len(logits):
        raise ValueError(f"{len(labels)} labels for {len(logits)} logits")
    probs = softmax(logits)
    order = np.argsort(-probs, kind="stable")
    return [(labels[i], float(probs[i])) for i in order]
