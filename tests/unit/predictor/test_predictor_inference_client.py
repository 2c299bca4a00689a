from __future__ import annotations

import math

import grpc
import pytest

from predictor.generated import common_pb2
from predictor.sidecar.inference_client import InferenceTimeout, _failure, _renormalized, _translate
from sdk.contracts.errors import PermanentError, TemporaryError, ValidationError


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x", debug_error_string="")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, InferenceTimeout),
        (grpc.StatusCode.UNAVAILABLE, TemporaryError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, TemporaryError),
        (grpc.StatusCode.INTERNAL, PermanentError),
        (grpc.StatusCode.UNIMPLEMENTED, PermanentError),
    ],
)
def test_transport_errors_are_translated(code: grpc.StatusCode, error: type[Exception]) -> None:
    assert isinstance(_translate(rpc_error(code)), error)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (common_pb2.PREDICTION_ERROR_CODE_INVALID_INPUT, ValidationError),
        (common_pb2.PREDICTION_ERROR_CODE_WRONG_KIND, ValidationError),
        (common_pb2.PREDICTION_ERROR_CODE_MODEL_NOT_FOUND, TemporaryError),  # the sidecar pinned the files: a race
        (common_pb2.PREDICTION_ERROR_CODE_MODEL_INVALID, PermanentError),
    ],
)
def test_answered_failures_are_translated(
    code: common_pb2.PredictionErrorCode.ValueType, error: type[Exception]
) -> None:
    assert isinstance(_failure(code, "why"), error)


def test_float32_probabilities_are_renormalised_to_sum_to_one() -> None:
    ranked = _renormalized([("a", 0.7000000476837158), ("b", 0.20000000298023224), ("c", 0.10000000149011612)])
    assert [label for label, _ in ranked] == ["a", "b", "c"]
    assert math.isclose(math.fsum(p for _, p in ranked), 1.0, abs_tol=1e-15)
