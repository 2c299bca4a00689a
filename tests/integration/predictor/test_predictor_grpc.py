"""The gRPC contract, exercised with the plain generated stubs against the real server."""

from __future__ import annotations

import math
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from predictor.generated import common_pb2, intent_pb2, intent_pb2_grpc, vision_pb2, vision_pb2_grpc
from tests.integration.predictor.stack import Published, Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def channel(stack: Stack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{stack.inference.port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def on_disk(stack: Stack, intent_checkpoint: bytes) -> Published:
    """A model the sidecar has downloaded and extracted (so its directory exists under the model root)."""
    model = stack.platform.publish("acme", intent_checkpoint, epoch=50)
    response = httpx.post(
        stack.url + "/v2/language/intent",
        json={"modelId": model.model_id, "document": "hi"},
        headers=stack.headers("acme"),
        timeout=10,
    )
    assert response.status_code == 200
    return model


def test_plain_stub_predicts_with_a_model_directory(channel: grpc.Channel, on_disk: Published) -> None:
    stub = intent_pb2_grpc.IntentPredictorServiceStub(channel)
    request = intent_pb2.IntentPredictionRequest(model_id=on_disk.model_id, document=b"my password stopped working")
    response, call = stub.predict.with_call(request, metadata=(("x-trainyard-model-dir", on_disk.sha256),), timeout=5)
    assert response.success and response.error == ""
    assert response.probabilities[0].label == "Password Help"
    assert math.isclose(sum(p.probability for p in response.probabilities), 1.0, abs_tol=1e-5)
    trailers = dict(call.trailing_metadata() or ())
    assert trailers["x-trainyard-cache"] == "hit"  # the sidecar's request loaded it already


def test_plain_stub_without_metadata_uses_the_loaded_model(channel: grpc.Channel, on_disk: Published) -> None:
    stub = intent_pb2_grpc.IntentPredictorServiceStub(channel)
    response = stub.predict(
        intent_pb2.IntentPredictionRequest(model_id=on_disk.model_id, document=b"refund"), timeout=5
    )
    assert response.success and len(response.probabilities) == 5


def test_unknown_model_is_an_answer_not_a_transport_error(channel: grpc.Channel) -> None:
    stub = intent_pb2_grpc.IntentPredictorServiceStub(channel)
    response = stub.predict(intent_pb2.IntentPredictionRequest(model_id="m-nope", document=b"x"), timeout=5)
    assert not response.success
    assert response.error_code == common_pb2.PREDICTION_ERROR_CODE_MODEL_NOT_FOUND
    assert "not found" in response.error
    escape = stub.predict(
        intent_pb2.IntentPredictionRequest(model_id="m-nope", document=b"x"),
        metadata=(("x-trainyard-model-dir", "../../etc"),),
        timeout=5,
    )
    assert escape.error_code == common_pb2.PREDICTION_ERROR_CODE_INVALID_INPUT


def test_bad_input_and_wrong_kind(channel: grpc.Channel, on_disk: Published) -> None:
    intent = intent_pb2_grpc.IntentPredictorServiceStub(channel)
    bad = intent.predict(intent_pb2.IntentPredictionRequest(model_id=on_disk.model_id, document=b"\xff\xfe"), timeout=5)
    assert bad.error_code == common_pb2.PREDICTION_ERROR_CODE_INVALID_INPUT
    vision = vision_pb2_grpc.VisionPredictorServiceStub(channel)
    wrong = vision.predict(vision_pb2.VisionPredictionRequest(model_id=on_disk.model_id, sample=b""), timeout=5)
    assert not wrong.success and wrong.error_code == common_pb2.PREDICTION_ERROR_CODE_WRONG_KIND


def test_standard_health_service(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    services = ("trainyard.predictor.v1.IntentPredictorService", "trainyard.predictor.v1.VisionPredictorService")
    for service in ("", *services):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
