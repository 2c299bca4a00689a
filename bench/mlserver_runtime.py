"""The peer in `make bench`: the same trained intent model served by MLServer 1.7.1, as a
custom runtime. Runs inside MLServer's own venv (.venv/mlserver, installed by `make bench`),
never imported by trainyard itself.

The same computation as trainyard's inference server for one document: the same WordPiece
tokenizer and memory-mapped embedding table (sdk.models.embeddings, numpy only), mean
pooling, then the head (LayerNorm -> Linear -> ReLU -> Linear) and softmax — in numpy, from
the head's weights exported to .npz by bench/peer.py, since MLServer's venv has no torch.
(numpy on these tiny matrices is no slower than torch, so this favours the peer, if anything.)

Request: V2 `inputs: [{"name": "document", "datatype": "BYTES", "shape": [n], "data": [...]}]`;
response: `probabilities` FP32 [n, labels] and `labels` BYTES, as trainyard's OIP route answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from mlserver import MLModel
from mlserver.codecs import StringCodec
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput

from sdk.models import embeddings


def _pool(vectors: np.ndarray, ids: list[int]) -> np.ndarray:
    """sdk.models.intent.pool_ids, whose module imports torch."""
    if not ids:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    return np.asarray(vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32).mean(axis=0)


class IntentRuntime(MLModel):
    async def load(self) -> bool:
        root = Path(str(self.settings.parameters.uri))
        spec = json.loads((root / "head.json").read_text())
        self._table = embeddings.load(Path(spec["embeddings"]))
        self._labels = spec["labels"]
        self._max_tokens = int(spec["max_tokens"])
        w = np.load(root / "head.npz")
        self._w = {k: w[k].astype(np.float32) for k in w.files}
        return True

    def _forward(self, pooled: np.ndarray) -> np.ndarray:
        w = self._w
        mean = pooled.mean(axis=-1, keepdims=True)
        var = pooled.var(axis=-1, keepdims=True)
        h = (pooled - mean) / np.sqrt(var + 1e-5) * w["norm.weight"] + w["norm.bias"]
        h = np.maximum(h @ w["hidden.weight"].T + w["hidden.bias"], 0)
        logits = h @ w["out.weight"].T + w["out.bias"]
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        documents = StringCodec.decode_input(payload.inputs[0])
        pooled = np.stack(
            [
                _pool(self._table.vectors, self._table.tokenizer.encode(d, max_tokens=self._max_tokens))
                for d in documents
            ]
        )
        probabilities = self._forward(pooled)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                ResponseOutput(
                    name="probabilities",
                    datatype="FP32",
                    shape=list(probabilities.shape),
                    data=probabilities.ravel().tolist(),
                ),
                StringCodec.encode_output("labels", self._labels),
            ],
        )
