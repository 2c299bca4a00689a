"""The prediction client: a user's calls to the predictor service (the sidecar's REST API).

Example::

    from sdk.predict import Predictor

    with Predictor("http://127.0.0.1:8081", token) as p:
        for label, probability in p.intent("m-1", "where is my parcel?").ranked:
            print(label, probability)

The predictor is a separate service from the platform API and answers its errors as
`{"object": "error", "status", "message", "problems"}`; they become the same
`sdk.contracts.errors` types as the platform's. A cold model answers 503 with Retry-After while it
loads, so predictions (pure reads, safe to repeat) are retried with bounded backoff.
"""

from __future__ import annotations

import base64
import functools
import time
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sdk import http
from sdk.contracts.errors import PermanentError, TrainyardError

INTENT_PATH = "/v2/language/intent"
VISION_PATH = "/v2/vision/predict"


class LabelProbability(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    label: str
    probability: float


class Prediction(BaseModel):
    """The predictor's answer; `model_dump()` is its JSON, `ranked` the pairs highest first."""

    model_config = ConfigDict(frozen=True, extra="allow")

    probabilities: list[LabelProbability] = Field(default_factory=list)
    object: str = "predictresponse"

    @property
    def ranked(self) -> list[tuple[str, float]]:
        # The sidecar already ranks them; sorting again keeps the promise for any server.
        pairs = [(p.label, p.probability) for p in self.probabilities]
        return sorted(pairs, key=lambda pair: pair[1], reverse=True)


def error_from_predictor(response: httpx.Response) -> TrainyardError:
    """The sdk.contracts.errors value for a non-2xx predictor response.

    The sidecar's flat error body is folded into the platform's envelope so the one status
    table in `sdk.http` maps both services alike. The sidecar's own 5xx other than 503
    means a broken platform or archive (retrying cannot help); a 5xx without its body came
    from a proxy in front of it and keeps the table's temporary meaning.
    """
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and body.get("object") == "error"):
        return http.error_from_response(response)
    message = str(body.get("message") or f"HTTP {response.status_code}")
    if response.status_code >= 500 and response.status_code != 503:
        return PermanentError(f"predictor: {message}")
    envelope = {"error": {"code": "", "message": message, "problems": body.get("problems") or []}}
    retry_after = response.headers.get("retry-after")
    hint = {"Retry-After": retry_after} if retry_after is not None else {}
    normalized = httpx.Response(response.status_code, headers=hint, json=envelope, request=response.request)
    return http.error_from_response(normalized)


class Predictor:
    """A user's connection to the predictor; authenticates with the same bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        backoff: http.Backoff | None = None,
        sleep: http.Sleep | None = None,
    ) -> None:
        self._http = http.platform_client(base_url.rstrip("/"), token, transport=transport)
        # A cold try costs the sidecar's deadline (2 s by default) plus its Retry-After (1 s):
        # ten tries let a model download and load for about half a minute.
        self._backoff = backoff if backoff is not None else http.Backoff(attempts=10)
        self._sleep = sleep if sleep is not None else time.sleep

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def intent(self, model_id: str, document: str) -> Prediction:
        """Classify a text document with an intent model::

        labels = predictor.intent("m-1", "cancel my order").ranked  # [("cancel", 0.93), ...]
        """
        return self._predict(INTENT_PATH, {"modelId": model_id, "document": document})

    def vision(self, model_id: str, image: bytes) -> Prediction:
        """Classify an image (its file bytes) with a vision model::

        labels = predictor.vision("m-2", Path("cat.png").read_bytes()).ranked
        """
        sample = base64.b64encode(image).decode("ascii")
        return self._predict(VISION_PATH, {"modelId": model_id, "sampleBase64Content": sample})

    def _predict(self, path: str, body: dict[str, str]) -> Prediction:
        return Prediction.model_validate(self._post(path, body).json())

    def _post(self, path: str, body: dict[str, str]) -> httpx.Response:
        """POST, retrying unreachable and temporarily unavailable answers (a prediction is a read)."""
        request = self._http.build_request("POST", path, json=body)
        once = functools.partial(http.send_once, self._http, request, to_error=error_from_predictor)
        return http.retrying(self._backoff, self._sleep)(once)
