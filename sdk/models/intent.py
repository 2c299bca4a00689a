"""The intent classifier: a small torch head over the frozen shared word embeddings.

document -> WordPiece ids -> embedding rows (shared table) -> mean -> LayerNorm -> MLP -> logits

Only the head is trained and shipped (about 13k parameters, ~53 KB as float32 with the
default `hidden=32`); the 30,522 x 384 table is never copied into a model. The trainer
(examples/intent_trainer.py) and the inference server both featurize with `pool_ids`, so
a served model sees exactly the vectors it was trained on.

Example::

    table = embeddings.ensure(Path(".trainyard/embeddings"))
    config = intent_config(table.info, hidden=32)
    model = IntentClassifier.from_config(config, n_labels=5)
    logits = model(torch.from_numpy(featurize(table, ["my password stopped working"], config)))
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from sdk.models.archive import pack_checkpoint
from sdk.models.embeddings import EmbeddingInfo, EmbeddingTable

KIND = "intent"
DEFAULT_MAX_TOKENS = 128


def intent_config(
    info: EmbeddingInfo, *, hidden: int = 32, dropout: float = 0.1, max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """The `config` recorded in checkpoints and archives of an intent model."""
    return {
        "dim": info.dim,
        "hidden": hidden,
        "dropout": dropout,
        "max_tokens": max_tokens,
        "embedding": info.identity(),
    }


def pool_ids(vectors: npt.NDArray[np.float16], ids: Sequence[int]) -> npt.NDArray[np.float32]:
    """Mean of the embedding rows of `ids` (zeros for an empty document), as float32."""
    if not ids:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    rows = np.asarray(vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32)
    pooled: npt.NDArray[np.float32] = rows.mean(axis=0)
    return pooled


def featurize(table: EmbeddingTable, texts: Sequence[str], config: Mapping[str, Any]) -> npt.NDArray[np.float32]:
    """[len(texts), dim] pooled features for a batch of documents."""
    max_tokens = int(config.get("max_tokens", DEFAULT_MAX_TOKENS))
    out = np.empty((len(texts), table.info.dim), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = pool_ids(table.vectors, table.tokenizer.encode(text, max_tokens=max_tokens))
    return out


class IntentClassifier(nn.Module):
    """LayerNorm -> Linear -> ReLU -> Dropout -> Linear over a pooled document vector."""

    def __init__(self, *, dim: int, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)  # static embeddings have a large shared component; centre it
        self.hidden = nn.Linear(dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_labels)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, n_labels: int) -> IntentClassifier:
        return cls(
            dim=int(config["dim"]),
            hidden=int(config["hidden"]),
            n_labels=n_labels,
            dropout=float(config.get("dropout", 0.0)),
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.out(self.drop(torch.relu(self.hidden(self.norm(pooled)))))
        return result


_HEAD_KEYS = ("norm.weight", "norm.bias", "hidden.weight", "hidden.bias", "out.weight", "out.bias")


@dataclass(frozen=True)
class IntentHead:
    """A trained IntentClassifier as plain tensors: the serving form of the same math.

    Loading it skips module construction, random initialisation and load_state_dict, and
    it keeps six tensors instead of a module tree: a cold model is ready sooner and each
    loaded model costs fewer Python objects. Tests check it against IntentClassifier.
    """

    norm_weight: torch.Tensor
    norm_bias: torch.Tensor
    hidden_weight: torch.Tensor
    hidden_bias: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor
    eps: float = 1e-5  # nn.LayerNorm's default, as IntentClassifier uses

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor], *, config: Mapping[str, Any], n_labels: int) -> IntentHead:
        """Raise ValueError unless `state` is exactly an IntentClassifier state_dict for `config`."""
        if set(state) != set(_HEAD_KEYS):
            raise ValueError(f"state_dict keys {sorted(state)} are not an intent head's {sorted(_HEAD_KEYS)}")
        dim, hidden = int(config["dim"]), int(config["hidden"])
        shapes = {
            "norm.weight": (dim,),
            "norm.bias": (dim,),
            "hidden.weight": (hidden, dim),
            "hidden.bias": (hidden,),
            "out.weight": (n_labels, hidden),
            "out.bias": (n_labels,),
        }
        for key, shape in shapes.items():
            if tuple(state[key].shape) != shape or state[key].dtype != torch.float32:
                raise ValueError(f"{key} is {tuple(state[key].shape)} {state[key].dtype}, expected {shape} float32")
        t = {k: state[k].detach().requires_grad_(False) for k in _HEAD_KEYS}
        return cls(
            norm_weight=t["norm.weight"],
            norm_bias=t["norm.bias"],
            hidden_weight=t["hidden.weight"],
            hidden_bias=t["hidden.bias"],
            out_weight=t["out.weight"],
            out_bias=t["out.bias"],
        )

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.norm_weight, self.norm_bias, self.hidden_weight, self.hidden_bias, self.out_weight, self.out_bias)

    def __call__(self, pooled: torch.Tensor) -> torch.Tensor:
        h = nn.functional.layer_norm(pooled, self.norm_weight.shape, self.norm_weight, self.norm_bias, self.eps)
        h = torch.relu(nn.functional.linear(h, self.hidden_weight, self.hidden_bias))
        return nn.functional.linear(h, self.out_weight, self.out_bias)


def state_bytes(model: nn.Module) -> bytes:
    """torch.save(state_dict) as bytes: the `weights.pt` member of checkpoints and archives."""
    buf = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def intent_checkpoint(model: IntentClassifier, *, labels: Sequence[str], config: Mapping[str, Any]) -> bytes:
    """The checkpoint file a trainer uploads for `model` (see sdk/models/README.md)."""
    return pack_checkpoint(weights=state_bytes(model), labels=list(labels), kind=KIND, config=dict(config))


def load_state(weights: bytes) -> dict[str, torch.Tensor]:
    """Read `weights.pt` without unpickling arbitrary objects (tensors and containers only)."""
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises whatever its unpickler meets: one translation here
        raise ValueError(f"weights.pt is not a readable state_dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("weights.pt is not a state_dict of tensors")
    return state
