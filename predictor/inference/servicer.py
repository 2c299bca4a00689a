"""gRPC servicers for the intent and vision contracts: decode, call the core, encode.

Request/model problems are answered with success=false, an `error` text and an
`error_code` (the one table below); the call itself still ends OK. Per-call facts for the
sidecar's metrics travel as trailing metadata: x-trainyard-cache (hit|miss),
x-trainyard-load-ms, x-trainyard-infer-us.

Metadata a caller may send: x-trainyard-model-dir (the archive's directory under the
model root, i.e. its sha256; needed to load a model that is not in memory). A call that
waits for another call's load of the same model past its deadline ends DEADLINE_EXCEEDED;
the load goes on.

With mutual TLS the handshake has already verified the caller's certificate against the
CA; `PeerGate` then reads its identity (`context.auth_context()`: CN and SANs) and refuses
callers outside `allowed_peers` with PERMISSION_DENIED.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import grpc

from predictor.generated import common_pb2, intent_pb2, intent_pb2_grpc, vision_pb2, vision_pb2_grpc
from predictor.inference.core import BatchPrediction, InferenceCore, Prediction
from predictor.inference.errors import ModelInvalid, WrongKind
from predictor.ranking import Ranked
from sdk.auth.tls import Peer, peer_from_auth_context
from sdk.contracts import inference as md
from sdk.contracts.errors import NotFound, TrainyardError, ValidationError

MODEL_DIR_KEY = md.MODEL_DIR
log = logging.getLogger(__name__)

ERROR_CODES: tuple[tuple[type[TrainyardError], common_pb2.PredictionErrorCode.ValueType], ...] = (
    (NotFound, common_pb2.PREDICTION_ERROR_CODE_MODEL_NOT_FOUND),
    (ModelInvalid, common_pb2.PREDICTION_ERROR_CODE_MODEL_INVALID),
    (ValidationError, common_pb2.PREDICTION_ERROR_CODE_INVALID_INPUT),
    (WrongKind, common_pb2.PREDICTION_ERROR_CODE_WRONG_KIND),
)


def error_code(exc: TrainyardError) -> common_pb2.PredictionErrorCode.ValueType:
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            return code
    return common_pb2.PREDICTION_ERROR_CODE_UNSPECIFIED


def _model_dir(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == MODEL_DIR_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


def _remaining(context: grpc.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None or remaining > 1e6 else max(0.0, remaining)


def _trailers(context: grpc.ServicerContext, prediction: Prediction | BatchPrediction) -> None:
    context.set_trailing_metadata((
        (md.CACHE, "hit" if prediction.hit else "miss"),
        (md.LOAD_MS, f"{prediction.load_s * 1e3:.3f}"),
        (md.INFER_US, f"{prediction.infer_s * 1e6:.1f}"),
    ))  # fmt: skip


class PeerGate:
    """Who may call the predict services, by client-certificate CN (mutual TLS only).

    `PeerGate.open()` (plaintext) lets every call through without looking. A required gate
    refuses a call with no verified certificate (UNAUTHENTICATED; the handshake normally
    stops those first) and, when `allowed` is not empty, one whose CN is not in it
    (PERMISSION_DENIED). Each identity is logged once when first accepted, every refusal
    as a warning: one log line per prediction would cost more than the prediction.
    """

    _MAX_REMEMBERED = 1024  # identities logged once; past this, each is logged again (bounded memory)

    def __init__(self, *, required: bool, allowed: Iterable[str] = ()) -> None:
        self.required = required
        self.allowed = frozenset(allowed)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def open(cls) -> PeerGate:
        return cls(required=False)

    def check(self, context: grpc.ServicerContext) -> Peer | None:
        """The caller's identity; aborts the call when it may not call."""
        if not self.required:
            return None
        peer = peer_from_auth_context(context.auth_context())
        if peer is None:
            log.warning("refused a call from %s: no verified client certificate", context.peer())
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a client certificate is required")
        if self.allowed and peer.common_name not in self.allowed:
            log.warning("refused peer %s from %s: not in allowed_peers", peer, context.peer())
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"peer {peer.common_name!r} may not call this service")
        self._note(peer)
        return peer

    def _note(self, peer: Peer) -> None:
        key = str(peer)
        with self._lock:
            if key in self._seen:
                return
            if len(self._seen) >= self._MAX_REMEMBERED:
                self._seen.clear()
            self._seen.add(key)
        log.info("accepted peer %s", peer)


class IntentServicer(intent_pb2_grpc.IntentPredictorServiceServicer):
    def __init__(self, core: InferenceCore, *, gate: PeerGate | None = None) -> None:
        self._core = core
        self._gate = gate if gate is not None else PeerGate.open()

    def predict(
        self, request: intent_pb2.IntentPredictionRequest, context: grpc.ServicerContext
    ) -> intent_pb2.IntentPredictionResponse:
        self._gate.check(context)
        try:
            prediction = self._core.predict(
                kind="intent",
                model_id=request.model_id,
                payload=request.document,
                directory=_model_dir(context),
                timeout=_remaining(context),
            )
        except TimeoutError:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the model is still loading")
        except TrainyardError as exc:
            log.info("intent predict %s failed: %s", request.model_id, exc)
            return intent_pb2.IntentPredictionResponse(success=False, error=str(exc), error_code=error_code(exc))
        _trailers(context, prediction)
        return _intent_answer(prediction.ranked)

    def predict_batch(
        self, request: intent_pb2.IntentBatchRequest, context: grpc.ServicerContext
    ) -> intent_pb2.IntentBatchResponse:
        self._gate.check(context)
        try:
            batch = self._core.predict_intent_batch(
                model_id=request.model_id,
                payloads=list(request.documents),
                directory=_model_dir(context),
                timeout=_remaining(context),
            )
        except TimeoutError:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the model is still loading")
        except TrainyardError as exc:
            log.info("intent predict_batch %s failed: %s", request.model_id, exc)
            failed = intent_pb2.IntentPredictionResponse(success=False, error=str(exc), error_code=error_code(exc))
            return intent_pb2.IntentBatchResponse(results=[failed] * len(request.documents))
        _trailers(context, batch)
        return intent_pb2.IntentBatchResponse(results=[
            _intent_answer(a) if not isinstance(a, TrainyardError) else intent_pb2.IntentPredictionResponse(
                success=False, error=str(a), error_code=error_code(a))
            for a in batch.answers
        ])  # fmt: skip


def _intent_answer(ranked: Ranked) -> intent_pb2.IntentPredictionResponse:
    return intent_pb2.IntentPredictionResponse(success=True, probabilities=[
        intent_pb2.IntentPredictions(label=label, probability=p) for label, p in ranked
    ])  # fmt: skip


class VisionServicer(vision_pb2_grpc.VisionPredictorServiceServicer):
    def __init__(self, core: InferenceCore, *, gate: PeerGate | None = None) -> None:
        self._core = core
        self._gate = gate if gate is not None else PeerGate.open()

    def predict(
        self, request: vision_pb2.VisionPredictionRequest, context: grpc.ServicerContext
    ) -> vision_pb2.VisionPredictionResponse:
        self._gate.check(context)
        try:
            prediction = self._core.predict(
                kind="vision",
                model_id=request.model_id,
                payload=request.sample,
                directory=_model_dir(context),
                timeout=_remaining(context),
            )
        except TimeoutError:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the model is still loading")
        except TrainyardError as exc:
            log.info("vision predict %s failed: %s", request.model_id, exc)
            return vision_pb2.VisionPredictionResponse(success=False, error=str(exc), error_code=error_code(exc))
        _trailers(context, prediction)
        return vision_pb2.VisionPredictionResponse(success=True, probabilities=[
            vision_pb2.VisionPredictions(label=label, probability=p) for label, p in prediction.ranked
        ])  # fmt: skip
