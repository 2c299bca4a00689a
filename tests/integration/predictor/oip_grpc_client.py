"""Run in a subprocess by test_predictor_oip: Triton's gRPC client (tritonclient.grpc) against
the sidecar's inference.GRPCInferenceService. A process of its own because tritonclient's
generated code and the sidecar's define the same `inference.*` protobuf messages, which one
process's descriptor pool cannot hold twice.

    python oip_grpc_client.py TARGET TOKEN MODEL OTHER_TENANTS_MODEL  ->  one JSON object on stdout
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def failure(call: Any) -> dict[str, str]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": str(exc.status()), "message": str(exc.message())}
    return {"status": "OK", "message": ""}


def main(target: str, token: str, model: str, others: str) -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(url=target)
    auth = {"authorization": f"Bearer {token}"}
    metadata = client.get_model_metadata(model, headers=auth, as_json=True)
    documents = np.array([b"my password stopped working", b"where is my package"], dtype=np.object_)
    tensor = grpcclient.InferInput("document", [len(documents)], "BYTES")
    tensor.set_data_from_numpy(documents)
    result = client.infer(model, [tensor], headers=auth)
    labels = [x.decode() for x in result.as_numpy("labels")]
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model, headers=auth),
        "metadata": metadata,
        "labels": labels,
        "probabilities": result.as_numpy("probabilities").tolist(),
        "others": failure(lambda: client.infer(others, [tensor], headers=auth)),
        "no_token": failure(lambda: client.infer(model, [tensor])),
        "unknown": failure(lambda: client.get_model_metadata("m-does-not-exist", headers=auth)),
        "wrong_input": failure(lambda: client.infer(model, [_named("text", documents)], headers=auth)),
    }


def _named(name: str, data: Any) -> Any:
    tensor = grpcclient.InferInput(name, [len(data)], "BYTES")
    tensor.set_data_from_numpy(data)
    return tensor


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
