"""The Open Inference Protocol (V2) on the sidecar, spoken by a real third-party client
(Triton's tritonclient, HTTP in this process, gRPC in a subprocess): health, metadata,
readiness, inference in one and several rows, and the same tenancy, auth, 404 and
503 + Retry-After as POST /v2/language/intent, which stays as it was."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from predictor.generated import grpc_predict_v2_pb2 as pb
from predictor.generated import grpc_predict_v2_pb2_grpc as pb_grpc
from predictor.sidecar.oip import encode_bytes_tensor
from tests.integration.predictor.stack import FakePlatform, Published, Stack, running_stack

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def model(stack: Stack, intent_checkpoint: bytes) -> Published:
    return stack.platform.publish("acme", intent_checkpoint)


@pytest.fixture(scope="module")
def others(stack: Stack, intent_checkpoint: bytes) -> Published:
    return stack.platform.publish("globex", intent_checkpoint)


@pytest.fixture(scope="module")
def client(stack: Stack) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(url=stack.url.removeprefix("http://"))


def auth(stack: Stack, tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token(tenant)}"}


def documents_input(*documents: str, name: str = "document", binary: bool = True) -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, [len(documents)], "BYTES")
    tensor.set_data_from_numpy(np.array([d.encode() for d in documents], dtype=np.object_), binary_data=binary)
    return tensor


def intent_answer(stack: Stack, model_id: str, document: str) -> dict[str, float]:
    response = httpx.post(
        stack.url + "/v2/language/intent",
        json={"modelId": model_id, "document": document},
        headers=auth(stack),
        timeout=10,
    )
    assert response.status_code == 200
    return {p["label"]: p["probability"] for p in response.json()["probabilities"]}


def test_health_and_server_metadata(stack: Stack, client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]


def test_model_metadata_and_readiness(stack: Stack, model: Published, client: httpclient.InferenceServerClient) -> None:
    meta = client.get_model_metadata(model.model_id, headers=auth(stack))
    n = len(model.labels)
    assert meta["name"] == model.model_id and meta["platform"] == "trainyard"
    assert meta["inputs"] == [{"name": "document", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, n]},
        {"name": "labels", "datatype": "BYTES", "shape": [n]},
    ]
    assert client.is_model_ready(model.model_id, headers=auth(stack))


@pytest.mark.parametrize("binary", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_infer_matches_the_intent_route(
    stack: Stack, model: Published, client: httpclient.InferenceServerClient, binary: bool, binary_out: bool
) -> None:
    documents = ["my password stopped working", "where is my package", "I was charged twice on my card"]
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_out) for n in ("probabilities", "labels")]
    assert stack.sidecar.batcher is not None
    batched = stack.sidecar.batcher.batched
    result = client.infer(
        model.model_id, [documents_input(*documents, binary=binary)], outputs=outputs, headers=auth(stack)
    )
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("labels")]
    probabilities = result.as_numpy("probabilities")
    assert labels == model.labels and probabilities.shape == (3, len(labels)) and probabilities.dtype == np.float32
    for row, document in zip(probabilities, documents, strict=True):
        seed = intent_answer(stack, model.model_id, document)  # the seed's route, unchanged, same model copy
        assert math.isclose(float(row.sum()), 1.0, abs_tol=1e-5)
        for label, p in zip(labels, row, strict=True):
            assert math.isclose(float(p), seed[label], abs_tol=1e-6)
    assert labels[int(probabilities[0].argmax())] == "Password Help"
    assert labels[int(probabilities[1].argmax())] == "Shipping Info"
    # rows 2 and 3 arrived while row 1's call was in flight: one micro-batch, same answers as alone
    assert stack.sidecar.batcher.batched >= batched + 2


def refusal(call: object) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_another_tenants_model_is_not_found_and_a_token_is_required(
    stack: Stack, model: Published, others: Published, client: httpclient.InferenceServerClient
) -> None:
    theirs = refusal(lambda: client.infer(others.model_id, [documents_input("hi")], headers=auth(stack)))
    unknown = refusal(lambda: client.infer("m-does-not-exist", [documents_input("hi")], headers=auth(stack)))
    assert theirs.status() == unknown.status() == "404"
    assert theirs.message() == f"model {others.model_id!r} not found"
    assert refusal(lambda: client.get_model_metadata(others.model_id, headers=auth(stack))).status() == "404"
    assert refusal(lambda: client.infer(model.model_id, [documents_input("hi")])).status() == "401"
    raw = httpx.get(f"{stack.url}/v2/models/{model.model_id}")
    assert raw.status_code == 401 and raw.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}, "inputs[0].name"),
        ({"inputs": [{"name": "document", "datatype": "FP32", "shape": [1], "data": [1.0]}]}, "inputs[0].data"),
        ({"inputs": [{"name": "document", "datatype": "BYTES", "shape": [2], "data": ["hi"]}]}, "inputs[0].shape"),
        ({"inputs": [{"name": "document", "datatype": "BYTES", "shape": [1], "data": [""]}]}, "inputs[0].data[0]"),
        (
            {
                "inputs": [{"name": "document", "datatype": "BYTES", "shape": [1], "data": ["hi"]}],
                "outputs": [{"name": "logits"}],
            },
            "outputs",
        ),
        ({"inputs": "document"}, "inputs"),
    ],
)
def test_bad_infer_requests_are_400_naming_the_field(stack: Stack, model: Published, body: object, field: str) -> None:
    response = httpx.post(f"{stack.url}/v2/models/{model.model_id}/infer", json=body, headers=auth(stack))
    assert response.status_code == 400, response.text
    assert field in {p["field"] for p in response.json()["problems"]}
    assert response.json()["error"]


def test_truncated_binary_data_is_400(stack: Stack, model: Published) -> None:
    header = json.dumps(
        {"inputs": [{"name": "document", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 100}}]}
    ).encode()
    response = httpx.post(
        f"{stack.url}/v2/models/{model.model_id}/infer",
        content=header + encode_bytes_tensor([b"hello"]),
        headers={**auth(stack), "Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "inputs[0].parameters.binary_data_size"


def test_a_job_token_is_refused(stack: Stack, model: Published, client: httpclient.InferenceServerClient) -> None:
    from tests.integration.predictor.test_predictor_attacks import job_token

    headers = {"Authorization": f"Bearer {job_token('acme', 'j-1')}"}
    assert refusal(lambda: client.infer(model.model_id, [documents_input("hi")], headers=headers)).status() == "403"


def test_the_grpc_service_with_tritons_client(stack: Stack, model: Published, others: Published) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "oip_grpc_client.py"),
            stack.oip_grpc_target,
            stack.token("acme"),
            model.model_id,
            others.model_id,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["live"] and out["ready"] and out["model_ready"]
    assert out["metadata"]["inputs"] == [{"name": "document", "datatype": "BYTES", "shape": ["-1"]}]
    assert out["labels"] == model.labels
    seed = intent_answer(stack, model.model_id, "my password stopped working")
    assert [round(p, 5) for p in out["probabilities"][0]] == [round(seed[label], 5) for label in model.labels]
    assert out["labels"][int(np.argmax(out["probabilities"][1]))] == "Shipping Info"
    assert out["others"]["status"] == out["unknown"]["status"] == "StatusCode.NOT_FOUND"
    assert out["no_token"]["status"] == "StatusCode.UNAUTHENTICATED"
    assert out["wrong_input"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "inputs[0].name" in out["wrong_input"]["message"]


def test_a_cold_load_past_the_deadline_is_503_with_retry_after_on_both_transports(
    platform: FakePlatform, embeddings_dir: Path, tmp_path: Path, intent_checkpoint: bytes
) -> None:
    with running_stack(platform=platform, root=tmp_path, embeddings_dir=embeddings_dir, deadline_s=0.3) as stack:
        slow = platform.publish("acme", intent_checkpoint, delay_s=2.0, epoch=7)
        body = {"inputs": [{"name": "document", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
        response = httpx.post(
            f"{stack.url}/v2/models/{slow.model_id}/infer", json=body, headers=auth(stack), timeout=10
        )
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        with grpc.insecure_channel(stack.oip_grpc_target) as channel:
            request = pb.ModelInferRequest(model_name=slow.model_id)
            request.inputs.add(name="document", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"hi")
            with pytest.raises(grpc.RpcError) as caught:
                pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                    request, metadata=(("authorization", auth(stack)["Authorization"]),), timeout=10
                )
        error = caught.value
        assert error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        assert int(dict(error.trailing_metadata())["retry-after"]) >= 1  # type: ignore[attr-defined]
