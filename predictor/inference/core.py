"""The inference data plane: look the model up (or load it), run it, time it.

Both gRPC servicers are thin adapters over this one class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from predictor.inference.errors import WrongKind
from predictor.inference.models import IntentModel
from predictor.inference.store import LoadedModels
from predictor.ranking import Ranked
from sdk.contracts.errors import ValidationError


@dataclass(frozen=True)
class BatchPrediction:
    answers: list[Ranked | ValidationError]  # in the order of the payloads
    hit: bool
    load_s: float
    infer_s: float


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

    def predict(
        self, *, kind: str, model_id: str, payload: bytes, directory: str | None, timeout: float | None = None
    ) -> Prediction:
        """Raises TimeoutError when the model is being loaded by another request for longer than `timeout`."""
        lookup = self.store.get(model_id, directory, timeout=timeout)
        if lookup.model.kind != kind:
            raise WrongKind(model_id, kind=lookup.model.kind, wanted=kind)
        started = self._clock()
        ranked = lookup.model.predict(payload)
        return Prediction(ranked=ranked, hit=lookup.hit, load_s=lookup.load_s, infer_s=self._clock() - started)

    def predict_intent_batch(
        self, *, model_id: str, payloads: list[bytes], directory: str | None, timeout: float | None = None
    ) -> BatchPrediction:
        """Several documents for one intent model, one forward pass (as `predict` otherwise)."""
        lookup = self.store.get(model_id, directory, timeout=timeout)
        model = lookup.model
        if not isinstance(model, IntentModel):
            raise WrongKind(model_id, kind=model.kind, wanted="intent")
        started = self._clock()
        answers = model.predict_batch(payloads)
        return BatchPrediction(answers=answers, hit=lookup.hit, load_s=lookup.load_s, infer_s=self._clock() - started)
