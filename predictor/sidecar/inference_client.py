"""The sidecar's gRPC client of the inference server; gRPC errors become sdk.contracts.errors here, once."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import grpc

from predictor.generated import common_pb2, intent_pb2, intent_pb2_grpc, vision_pb2, vision_pb2_grpc
from predictor.ranking import Ranked
from sdk.auth import tls
from sdk.contracts import inference as md
from sdk.contracts.errors import PermanentError, Problem, TemporaryError, ValidationError

MODEL_DIR_KEY = md.MODEL_DIR
_TEMPORARY_CODES = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
)


class InferenceTimeout(TemporaryError):
    """The inference server did not answer within the request deadline (e.g. a cold load)."""


@dataclass(frozen=True)
class InferenceAnswer:
    ranked: Ranked
    hit: bool
    load_s: float
    infer_s: float


def open_channel(
    target: str,
    *,
    files: tls.TLSFiles | None = None,
    server_name: str | None = None,
    options: Iterable[tuple[str, str | int]] = (),
) -> grpc.aio.Channel:
    """The channel to the inference server: plaintext, or mutual TLS with `files` (this
    sidecar's certificate and key, and the CA that signed the server's). `server_name` is the
    name checked against the server certificate when it differs from the target's host."""
    if files is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    extra = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.aio.secure_channel(target, tls.grpc_channel_credentials(files), options=[*options, *extra])


class InferenceClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._intent = intent_pb2_grpc.IntentPredictorServiceStub(channel)
        self._vision = vision_pb2_grpc.VisionPredictorServiceStub(channel)

    async def predict(
        self, *, kind: str, model_id: str, payload: bytes, directory: str, timeout: float
    ) -> InferenceAnswer:
        metadata = ((MODEL_DIR_KEY, directory),)
        response: intent_pb2.IntentPredictionResponse | vision_pb2.VisionPredictionResponse
        try:
            if kind == "intent":
                response, trailers = await self._call_intent(model_id, payload, metadata=metadata, timeout=timeout)
            else:
                response, trailers = await self._call_vision(model_id, payload, metadata=metadata, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        if not response.success:
            raise _failure(response.error_code, response.error)
        ranked = _renormalized([(p.label, p.probability) for p in response.probabilities])
        return InferenceAnswer(
            ranked=ranked,
            hit=trailers.get(md.CACHE) == "hit",
            load_s=float(trailers.get(md.LOAD_MS, "0")) / 1e3,
            infer_s=float(trailers.get(md.INFER_US, "0")) / 1e6,
        )

    async def predict_batch(
        self, *, model_id: str, payloads: list[bytes], directory: str, timeout: float
    ) -> list[InferenceAnswer | Exception]:
        """Several intent documents for one model in one call; one answer (or error) per document."""
        request = intent_pb2.IntentBatchRequest(model_id=model_id, documents=payloads)
        try:
            call = self._intent.predict_batch(request, metadata=((MODEL_DIR_KEY, directory),), timeout=timeout)
            response = await call
            trailers = _trailers(await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            error = _translate(exc)
            return [error] * len(payloads)
        hit = trailers.get(md.CACHE) == "hit"
        load_s = float(trailers.get(md.LOAD_MS, "0")) / 1e3
        infer_s = float(trailers.get(md.INFER_US, "0")) / 1e6 / max(1, len(payloads))
        return [InferenceAnswer(ranked=_renormalized([(p.label, p.probability) for p in r.probabilities]), hit=hit,
                                load_s=load_s, infer_s=infer_s) if r.success else _failure(r.error_code, r.error)
                for r in response.results]  # fmt: skip

    async def _call_intent(
        self, model_id: str, document: bytes, *, metadata: Metadata, timeout: float
    ) -> tuple[intent_pb2.IntentPredictionResponse, dict[str, str]]:
        request = intent_pb2.IntentPredictionRequest(model_id=model_id, document=document)
        call = self._intent.predict(request, metadata=metadata, timeout=timeout)
        response = await call
        return response, _trailers(await call.trailing_metadata())

    async def _call_vision(
        self, model_id: str, sample: bytes, *, metadata: Metadata, timeout: float
    ) -> tuple[vision_pb2.VisionPredictionResponse, dict[str, str]]:
        request = vision_pb2.VisionPredictionRequest(model_id=model_id, sample=sample)
        call = self._vision.predict(request, metadata=metadata, timeout=timeout)
        response = await call
        return response, _trailers(await call.trailing_metadata())


def _trailers(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    return {str(k): v.decode() if isinstance(v, bytes) else str(v) for k, v in metadata or ()}


Metadata = tuple[tuple[str, str], ...]


def _translate(exc: grpc.aio.AioRpcError) -> Exception:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return InferenceTimeout("the model is still loading; retry shortly")
    if code in _TEMPORARY_CODES:
        return TemporaryError(f"inference server: {code.name} {exc.details()}")
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        # mutual TLS: this sidecar's certificate is not one the server accepts (configuration, not input)
        return PermanentError(f"inference server refused this sidecar: {code.name} {exc.details()}")
    return PermanentError(f"inference server: {code.name} {exc.details()}")


def _failure(code: common_pb2.PredictionErrorCode.ValueType, error: str) -> Exception:
    if code == common_pb2.PREDICTION_ERROR_CODE_INVALID_INPUT:
        return ValidationError([Problem("input", error)])
    if code == common_pb2.PREDICTION_ERROR_CODE_WRONG_KIND:
        return ValidationError([Problem("modelId", error)])
    if code == common_pb2.PREDICTION_ERROR_CODE_MODEL_NOT_FOUND:
        # The sidecar pinned the files it named, so this is a race worth one more try, not a 404.
        return TemporaryError(f"inference server could not find the model files: {error}")
    return PermanentError(f"model cannot be served: {error}")


def _renormalized(ranked: Ranked) -> Ranked:
    """Probabilities travel as float32; rescale in float64 so the JSON ones sum to 1."""
    total = math.fsum(p for _, p in ranked)
    if total <= 0:
        return ranked
    return [(label, p / total) for label, p in ranked]
