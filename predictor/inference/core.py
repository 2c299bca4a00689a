"""The inference data plane: look the model up (or load it), run it, time it.

Both gRPC servicers are thin adapters over this one class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from predictor.inference.errors import WrongKind
from predictor.inference.store import LoadedModels
from predictor.ranking import Ranked


@dataclass(frozen=True)
class Prediction:
    ranked: Ranked
    hit: bool
    load_s: float
    infer_s: float


class InferenceCore:
    def __init__(self, store: LoadedModels, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.store = store
        self._clock = clock

    def predict(self, *, kind: str, model_id: str, payload: bytes, directory: str | None,
                timeout: float | None = None) -> Prediction:
        """Raises TimeoutError when the model is being loaded by another request for longer than `timeout`."""
        lookup = self.store.get(model_id, directory, timeout=timeout)
        if lookup.model.kind != kind:
            raise WrongKind(model_id, kind=lookup.model.kind, wanted=kind)
        started = self._clock()
        ranked = lookup.model.predict(payload)
        return Prediction(ranked=ranked, hit=lookup.hit, load_s=lookup.load_s, infer_s=self._clock() - started)
