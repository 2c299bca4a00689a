"""HttpPredictor: functions.ports.Predictor over the prediction service's public REST API.

The platform asks the predictor sidecar exactly as a user would, with the user's own bearer
token: the sidecar authenticates it, resolves the model through the platform for that
tenant, and serves it from its cache. So trying a checkpoint obeys the same registry,
cache and tenant rules as predicting with a published model. One transport (its
connection pool, and its TLS settings in mutual-TLS deployments) serves every call.
"""

from __future__ import annotations

import httpx

from sdk import http
from sdk.predict import Predictor


class HttpPredictor:
    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None, attempts: int = 10) -> None:
        self._base_url = base_url.rstrip("/")
        self._transport = transport if transport is not None else httpx.HTTPTransport(retries=0)
        self._attempts = attempts  # a cold model loads for a few seconds: its 503s are retried

    def predict(self, *, token: str, model_id: str, document: str | None, image: bytes | None) -> dict[str, object]:
        client = Predictor(self._base_url, token, transport=self._transport, backoff=http.Backoff(self._attempts))
        answer = client.vision(model_id, image) if image is not None else client.intent(model_id, document or "")
        return answer.model_dump(mode="json")

    def close(self) -> None:
        self._transport.close()


class RecordingPredictor:
    """The honest fake for unit tests: records each call and answers like the sidecar, the
    labels ranked highest first (`answers` may name the ranking per model id)."""

    def __init__(self, answers: dict[str, list[tuple[str, float]]] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, str, str | None, bytes | None]] = []

    def predict(self, *, token: str, model_id: str, document: str | None, image: bytes | None) -> dict[str, object]:
        self.calls.append((token, model_id, document, image))
        ranked = sorted(self.answers.get(model_id, [("a", 0.75), ("b", 0.25)]), key=lambda p: -p[1])
        return {"probabilities": [{"label": k, "probability": v} for k, v in ranked], "object": "predictresponse"}
